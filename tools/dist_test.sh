#!/usr/bin/env bash
# Distributed testing with torchrun: dist_test.sh CONFIG CHECKPOINT GPUS [args...]
# On a machine without CUDA the processes run on CPU (gloo backend).
. "$(dirname "$0")/dist_launch.sh"
dist_launch test.py "$3" "$1" "$2" "${@:4}"
