#!/usr/bin/env bash
# Batch inference sharded over processes with torchrun:
#   dist_batch_inference.sh CONFIG CHECKPOINT INPUT NPROC --out DIR [args...]
# Video i goes to rank i % NPROC; rank 0 writes DIR/summary.json. On a
# machine without CUDA the processes run on CPU (gloo).
. "$(dirname "$0")/dist_launch.sh"
dist_launch batch_inference.py "$4" "$1" "$2" "$3" "${@:5}"
