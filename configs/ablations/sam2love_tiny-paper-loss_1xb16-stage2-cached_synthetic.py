# The CPU demo's stage 2 with the paper's token and loss alone (BCE + Dice
# on frame 0, with SAM2's IoU / object-score losses), i.e. without the
# referent alignment of the fused token and the token pointer that the
# demo's config adds: what the switch adds. Same encoders, stage 1 and
# feature cache as the demo's stage 2 (neither draws a random number).
_base_ = ['../sam2love_tiny_1xb16-stage2-cached_synthetic.py']
model = dict(decode_head=dict(loss_align=None, token_pointer=None))
