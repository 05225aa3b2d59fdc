# Table 6, first row: SAM2 entirely frozen (only fusion and projections train).
_base_ = ['../sam2love_refavs.py']
model = dict(decode_head=dict(trainable='frozen'))
