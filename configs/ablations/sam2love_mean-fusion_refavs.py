# Table 5: the prompt is the mean of the fused sequence of all frames,
# audio and text instead of the propagated learnable [seg] token.
_base_ = ['../sam2love_refavs.py']
model = dict(neck=dict(fusion='mean'))
