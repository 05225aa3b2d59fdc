#!/usr/bin/env bash
# Distributed feature extraction with torchrun:
#   dist_extract_features.sh CONFIG NPROC --out DIR [args...]
# Each process extracts its share of the shards; rank 0 writes the index and
# the manifest. On a machine without CUDA the processes run on CPU (gloo).
. "$(dirname "$0")/dist_launch.sh"
dist_launch extract_features.py "$2" "$1" "${@:3}"
