#!/usr/bin/env bash
# Distributed training with torchrun: dist_train.sh CONFIG GPUS [args...]
# On a machine without CUDA the processes run on CPU (gloo backend).
. "$(dirname "$0")/dist_launch.sh"
dist_launch train.py "$2" "$1" "${@:3}"
