from .sam2_head import TRAINABLE_PRESETS, SAM2PromptHead
from .sam2_tracker import build_sam2_model, encode_frames, track_clip

__all__ = ['SAM2PromptHead', 'TRAINABLE_PRESETS', 'build_sam2_model',
           'encode_frames', 'track_clip']
