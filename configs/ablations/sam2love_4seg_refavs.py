# Table 4: 4 [seg] tokens propagated; the first prompts SAM2.
_base_ = ['../sam2love_refavs.py']
model = dict(neck=dict(num_seg_tokens=4))
