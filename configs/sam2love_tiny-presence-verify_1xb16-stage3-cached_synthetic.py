# Stage 3 of the CPU demo, beyond the paper: the presence check
# (`presence.source='verify'`) learnt alone on a trained stage-2 SAM2-LOVE
# (`load_from`); every other module is frozen and in eval mode
# (`train_only`), so its masks are those of the model without the switch,
# bit for bit, and the switch changes J&F only where it empties a clip.
# The check reads the expression and the sound before fusion (the neck's
# `presence_query`), the outline of frame 0's decoded mask and the
# features under it (docs/presence.md). Null references made at training
# time as in the stage-2 negatives config: silence only, what this demo
# can tell (docs/presence.md); null_weight from its null_share().
#   python tools/train.py \
#       configs/sam2love_tiny-presence-verify_1xb16-stage3-cached_synthetic.py \
#       --cfg-options load_from=STAGE2_CHECKPOINT
_base_ = ['./sam2love_tiny-presence-negatives_1xb16-stage2-cached_synthetic.py']
load_from = 'work_dirs/sam2love_tiny_1xb16-stage2-cached_synthetic/iter_1200.pth'
model = dict(
    train_only=('decode_head.presence_verify', ),
    neck=dict(presence_query=True),
    decode_head=dict(presence=dict(source='verify')))
