#!/usr/bin/env bash
# The quick start, end to end on the embedded synthetic Ref-AVS:
#   1. set up .venv, generate the data set and validate it;
#   2. stage 1: train a small SAM2 to track mask-prompted objects (a
#      stand-in for SAM2's own pre-training, which cannot be downloaded
#      here) and score it with the ground-truth frame-0 mask as prompt (the
#      ceiling of stage 2);
#   3. stage 2: train SAM2-LOVE with the paper's recipe on top of it and
#      test it on test_s, test_u and test_n;
#   4. print the table, then run tools/demo.py on a test clip written as an
#      mp4 with sound.
# Uses the GPU when there is one (mmengine's default device), else the CPU
# with one thread (OMP_NUM_THREADS=1) and a data-loading worker.
# --schedule 4x runs the longer synthetic schedule instead (four times the
# iterations of both stages: ~45 min on the 2-core CPU).
#   bash tools/quickstart.sh [--clips N] [--seed S] [--skip-data]
#                            [--schedule 1x|4x]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CLIPS=400
SEED=0
MAKE_DATA=1
SCHEDULE=1x
while [ $# -gt 0 ]; do
  case $1 in
    --clips) CLIPS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --skip-data) MAKE_DATA=0; shift ;;
    --schedule) SCHEDULE=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
START=$(date +%s)
bash tools/setup_env.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1
PY=.venv/bin/python
DATA=data/refavs_synthetic
case $SCHEDULE in
  1x) SUFFIX='' ;;
  4x) SUFFIX='-4x' ;;
  *) echo "unknown schedule $SCHEDULE (1x or 4x)" >&2; exit 2 ;;
esac
STAGE1=configs/sam2_small_1xb4-stage1${SUFFIX}_synthetic.py
STAGE2=configs/sam2love_tiny_1xb16-stage2${SUFFIX}_synthetic.py
W1=work_dirs/sam2_small_1xb4-stage1${SUFFIX}_synthetic
W2=work_dirs/sam2love_tiny_1xb16-stage2${SUFFIX}_synthetic
DEMO=work_dirs/demo${SUFFIX}

# one process: on this 2-core CPU two single-threaded DDP processes were
# no faster than one (0.60 vs 0.55 s / stage-1 iteration)
run_test() {  # CONFIG CKPT WORK_DIR [cfg options]: batches of 8 clips
  $PY tools/test.py "$1" "$2" --work-dir "$3" \
    --cfg-options test_dataloader.batch_size=8 "${@:4}"
}
elapsed() { echo "[quickstart] $1 done at $(( $(date +%s) - START )) s"; }

if [ "$MAKE_DATA" = 1 ]; then
  echo '== 1. generate the synthetic Ref-AVS and validate it'
  $PY tools/make_synthetic_refavs.py --out "$DATA" --clips "$CLIPS" \
    --seed "$SEED" --overwrite
  $PY tools/check_refavs.py "$DATA" --nproc 2
  elapsed 'data'
fi

echo '== 2. stage 1: SAM2 learns to track'
$PY tools/train.py "$STAGE1"
CKPT1=$(cat "$W1/last_checkpoint")  # written by mmengine's CheckpointHook
$PY tools/export_sam2.py "$CKPT1" "$W1/sam2_stage1.pt"
run_test "$STAGE1" "$CKPT1" "$W1/test"
elapsed 'stage 1'

echo '== 3. stage 2: SAM2-LOVE on top of it'
$PY tools/train.py "$STAGE2"
CKPT2=$(cat "$W2/last_checkpoint")
run_test "$STAGE2" "$CKPT2" "$W2/test" \
  "test_dataloader.dataset.split=['test_s','test_u','test_n']"
elapsed 'stage 2'

echo '== 4. results on the synthetic test splits (x100)'
$PY tools/analysis_tools/refavs_table.py \
  "stage 1: SAM2, GT mask on frame 0 (ceiling)=$W1/test" \
  "stage 2: SAM2-LOVE=$W2/test"

echo '== 5. the demo on a test clip written as an mp4 with sound'
CLIP=$($PY - "$DATA" <<'EOF'
import csv, sys
rows = [r for r in csv.DictReader(open(f'{sys.argv[1]}/metadata.csv'))
        if r['split'] == 'test_s']
print(rows[0]['uid'].rsplit('_', 2)[0])
EOF
)
mkdir -p "$DEMO"
$PY tools/clip_to_video.py "$DATA/media/$CLIP" "$DEMO/$CLIP.mp4" --fps 5 \
  > "$DEMO/expressions.txt"
mapfile -t TEXTS < <($PY - "$DATA" "$CLIP" <<'EOF'
import csv, sys
rows = [r for r in csv.DictReader(open(f'{sys.argv[1]}/metadata.csv'))
        if r['uid'].rsplit('_', 2)[0] == sys.argv[2]]
for r in rows[:2]:
    print(r['exp'])
EOF
)
$PY tools/demo.py "$DEMO/$CLIP.mp4" --text "${TEXTS[0]}" --text "${TEXTS[1]}" \
  --config "$STAGE2" --checkpoint "$CKPT2" --out "$DEMO"
elapsed 'quick start'
echo "overlay video: $DEMO/overlay.mp4, contact sheet: $DEMO/contact_sheet.png"
