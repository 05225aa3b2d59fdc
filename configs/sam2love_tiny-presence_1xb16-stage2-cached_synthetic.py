# The CPU demo's stage 2 (sam2love_tiny_1xb16-stage2-cached_synthetic.py)
# with the presence switch, beyond the paper: a presence logit read from
# the fused [seg] token is trained on the null rows (empty masks) and
# empties every frame of a clip it finds absent (SAM2PromptHead's
# `presence`). null_weight ~ #ordinary / #null train rows (930 / 35 on the
# default synthetic set), so both classes weigh the same in its BCE.
#   python tools/train.py \
#       configs/sam2love_tiny-presence_1xb16-stage2-cached_synthetic.py
# source='object_score' reads SAM2's own object-score head instead
# (--cfg-options model.decode_head.presence.source=object_score).
_base_ = ['./sam2love_tiny_1xb16-stage2-cached_synthetic.py']
model = dict(decode_head=dict(presence=dict(
    source='token', loss_weight=1.0, null_weight=25.0, threshold=0.5)))
