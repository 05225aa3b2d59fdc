# Table 6, second row: SAM2's mask decoder trained, prompt encoder frozen.
_base_ = ['../sam2love_refavs.py']
model = dict(decode_head=dict(trainable='decoder'))
