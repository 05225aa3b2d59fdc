#!/usr/bin/env bash
# Set up .venv (quick when nothing changed), lint, run the test suite.
#   bash tools/run_tests.sh [pytest args]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash tools/setup_env.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
echo '[run_tests] ruff check'
.venv/bin/ruff check .
echo '[run_tests] pytest'
exec .venv/bin/python -m pytest "$@"
