# SAM2-LOVE with the presence switch (sam2love_presence_refavs.py) trained
# with null references made at training time, beyond the paper
# (RefAVSDataset's `null_negatives`, docs/presence.md): a quarter of the
# ordinary rows become null ones with empty masks, besides the release's
# 608 null rows: another clip's expression that names a category this clip
# has no row of (match='word': no named word among the clip's categories,
# as the release's expressions name several objects), or, for an
# expression that asks for a sound (every null row of the release does),
# the audio of a clip whose categories are not on screen (as the release's
# null_c- clips) or silence. Not measured on the release here (no data on
# this machine): the CPU demo's figures are in docs/presence.md.
# null_weight ~ #ordinary / #null rows drawn (~0.72 / 0.28).
#   tools/dist_train.sh configs/sam2love_presence-negatives_refavs.py 2
_base_ = ['./sam2love_presence_refavs.py']
model = dict(decode_head=dict(presence=dict(
    null_weight=2.6, obj_loss_on_null=False)))
train_dataloader = dict(dataset=dict(
    null_negatives=dict(prob=0.25, match='word')))
