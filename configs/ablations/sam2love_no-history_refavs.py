# Table 2, last row: without [cls] token accumulation ([his]).
_base_ = ['../sam2love_refavs.py']
model = dict(neck=dict(use_history=False))
