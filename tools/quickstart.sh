#!/usr/bin/env bash
# The quick start: set up .venv, then run the main job on the embedded
# synthetic Ref-AVS (generate it, validate it, load it through the model's
# data path). Everything runs on this machine's CPU, nothing is downloaded
# but the pinned packages.
#   bash tools/quickstart.sh [--clips N] [--seed S]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CLIPS=400
SEED=0
while [ $# -gt 0 ]; do
  case $1 in
    --clips) CLIPS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
bash tools/setup_env.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PY=.venv/bin/python
DATA=data/refavs_synthetic

echo '== 1. generate the synthetic Ref-AVS'
$PY tools/make_synthetic_refavs.py --out "$DATA" --clips "$CLIPS" \
  --seed "$SEED" --overwrite
echo '== 2. validate it'
$PY tools/check_refavs.py "$DATA" --nproc 2
echo '== 3. load it as the model will see it'
$PY tools/analysis_tools/browse_dataset.py \
  configs/_base_/datasets/refavs_synthetic.py --split train
$PY tools/analysis_tools/browse_dataset.py \
  configs/_base_/datasets/refavs_synthetic.py --split test
