#!/usr/bin/env bash
# Distributed feature extraction with torchrun:
#   dist_extract_features.sh CONFIG NPROC --out DIR [args...]
# Each process extracts its share of the shards; rank 0 writes the index and
# the manifest. On a machine without CUDA the processes run on CPU (gloo).
CONFIG=$1
NPROC=$2
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
    "$ROOT/tools/extract_features.py" \
    $CONFIG \
    --launcher pytorch ${@:3}
