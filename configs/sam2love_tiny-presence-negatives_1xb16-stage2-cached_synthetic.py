# The CPU demo's presence switch (sam2love_tiny-presence_1xb16-stage2-
# cached_synthetic.py) trained with null references made at training time
# (RefAVSDataset's `null_negatives`): a quarter of the ordinary rows become
# null ones with empty masks: the expression of another clip that names
# something their clip does not show, or, for an expression that asks for
# a sound, another clip's audio whose objects are not on screen, or
# silence. The switch then learns "absent" from ~27 % null rows while the
# data set keeps the release's ~4 % (docs/presence.md).
# match='object': the synthetic categories are colour-shape pairs, so "the
# blue triangle" is absent from a clip of a blue square and a red triangle.
# silence_noise: the synthetic audio's noise floor (AUDIO_NOISE in
# sam2love/datasets/synthetic/audio.py); a silent clip is not zeros.
# null_weight ~ #ordinary / #null rows drawn (0.72 / 0.28); SAM2's own
# object-score loss leaves the null rows (obj_loss_on_null=False): learnt
# on that many nulls it would gate ordinary clips.
#   python tools/train.py \
#       configs/sam2love_tiny-presence-negatives_1xb16-stage2-cached_synthetic.py
_base_ = ['./sam2love_tiny-presence_1xb16-stage2-cached_synthetic.py']
model = dict(
    backbone=dict(silence_noise=0.003),
    decode_head=dict(presence=dict(null_weight=2.6, obj_loss_on_null=False)))
train_dataloader = dict(dataset=dict(
    null_negatives=dict(prob=0.25, match='object')))
