# Table 3: 12 fusion transformer blocks (paper: 6).
_base_ = ['../sam2love_refavs.py']
model = dict(neck=dict(num_layers=12))
