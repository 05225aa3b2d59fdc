#!/usr/bin/env bash
# Batch inference sharded over processes with torchrun:
#   dist_batch_inference.sh CONFIG CHECKPOINT INPUT NPROC --out DIR [args...]
# Video i goes to rank i % NPROC; rank 0 writes DIR/summary.json. On a
# machine without CUDA the processes run on CPU (gloo).
CONFIG=$1
CHECKPOINT=$2
INPUT=$3
NPROC=$4
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}

PYTHONPATH="$ROOT:$PYTHONPATH" \
"$PYTHON" -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$NPROC \
    --master_port=$PORT \
    "$ROOT/tools/batch_inference.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    "$INPUT" \
    --launcher pytorch "${@:5}"
