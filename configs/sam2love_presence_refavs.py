# SAM2-LOVE on Ref-AVS (configs/sam2love_refavs.py) with the presence
# switch, beyond the paper: a presence logit read from the fused [seg]
# token is trained on the release's null rows (608 of the 14,113 train
# rows have empty masks) and empties every frame of a clip it finds absent,
# where the paper's SAM2-LOVE always segments something (its limitation,
# S 0.23 on test_n). See SAM2PromptHead's `presence` and docs/presence.md.
# null_weight = 13,505 ordinary / 608 null rows: both classes weigh the
# same in the presence BCE. tools/test.py keeps the benchmark's protocol.
#   tools/dist_train.sh configs/sam2love_presence_refavs.py 2
_base_ = ['./sam2love_refavs.py']
model = dict(decode_head=dict(presence=dict(
    source='token', loss_weight=1.0, null_weight=22.0, threshold=0.5)))
