# Sourced by tools/dist_*.sh: dist_launch SCRIPT NPROC [args...] runs
# tools/SCRIPT in NPROC torchrun processes with `--launcher pytorch`.
# NNODES, NODE_RANK, PORT, MASTER_ADDR and PYTHON (default .venv's) are
# read from the environment. On a machine without CUDA the processes run
# on CPU (gloo backend).
dist_launch() {
  local script=$1 nproc=$2
  shift 2
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  PYTHONPATH="$root:$PYTHONPATH" \
  "${PYTHON:-$root/.venv/bin/python}" -m torch.distributed.run \
      --nnodes="${NNODES:-1}" \
      --node_rank="${NODE_RANK:-0}" \
      --master_addr="${MASTER_ADDR:-127.0.0.1}" \
      --nproc_per_node="$nproc" \
      --master_port="${PORT:-29500}" \
      "$root/tools/$script" --launcher pytorch "$@"
}
