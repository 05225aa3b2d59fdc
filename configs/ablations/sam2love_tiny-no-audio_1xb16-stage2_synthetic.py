# Ablation beyond the paper, on the embedded synthetic data: stage 2 of the
# CPU demo with the audio removed from the fusion (no F_A, no [aud]). The
# full model must beat it: many expressions name only what is heard
# ("the object making a sound").
_base_ = ['../sam2love_tiny_1xb16-stage2_synthetic.py']
model = dict(neck=dict(use_audio=False))
