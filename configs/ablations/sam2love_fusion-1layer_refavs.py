# Table 3: 1 fusion transformer block (paper: 6).
_base_ = ['../sam2love_refavs.py']
model = dict(neck=dict(num_layers=1))
