# Ablation on the embedded synthetic data: stage 2 of the CPU demo with the
# paper's single SAM2 decoder, i.e. the prompt encoder and mask decoder
# fine-tuned on token-prompted frame 0 also track frames 1..T-1 (the demo
# config keeps frozen copies of the stage-1 ones for tracking).
_base_ = ['../sam2love_tiny_1xb16-stage2_synthetic.py']
model = dict(decode_head=dict(tracking_decoder='shared'))
