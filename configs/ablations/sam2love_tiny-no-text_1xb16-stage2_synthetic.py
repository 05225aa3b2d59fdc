# Ablation beyond the paper, on the embedded synthetic data: stage 2 of the
# CPU demo with the expression removed from the fusion (no F_T): the model
# sees frames and sound but not what is asked.
_base_ = ['../sam2love_tiny_1xb16-stage2_synthetic.py']
model = dict(neck=dict(use_text=False))
