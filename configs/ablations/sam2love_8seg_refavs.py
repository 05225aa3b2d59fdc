# Table 4: 8 [seg] tokens propagated; the first prompts SAM2.
_base_ = ['../sam2love_refavs.py']
model = dict(neck=dict(num_seg_tokens=8))
