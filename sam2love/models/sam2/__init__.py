"""SAM2 as SAM2-LOVE drives it, on top of the ``sam2`` package.

- :mod:`.build`: build a ``SAM2Base`` (any size), load / export weights;
- :mod:`.features`: encode frames, select and expand their features;
- :mod:`.prompts`: frame-0 prompts (mask, clicks, sparse tokens);
- :mod:`.hooks`: reroute or record SAM2's prompt encoder and mask decoder;
- :mod:`.step`: one frame of video tracking over SAM2's memory bank;
- :mod:`.tracker`: the clip loop and the streaming tracker over that step.
"""
from .build import (
    SAM2_CONFIGS,
    SAM2_IMG_MEAN,
    SAM2_IMG_STD,
    build_sam2_model,
    expand_sam2_overrides,
    export_sam2_weights,
    init_local_memory_attention,
    load_sam2_checkpoint,
    sam2_hydra_overrides,
    small_sam2_overrides,
)
from .features import encode_frames, fit_frames, select_frame_features
from .step import TrackingState, memory_window
from .tracker import StreamingTracker, track_clip

__all__ = [
    'SAM2_CONFIGS', 'SAM2_IMG_MEAN', 'SAM2_IMG_STD', 'build_sam2_model',
    'expand_sam2_overrides', 'export_sam2_weights',
    'init_local_memory_attention', 'load_sam2_checkpoint',
    'sam2_hydra_overrides', 'small_sam2_overrides', 'encode_frames',
    'fit_frames', 'select_frame_features', 'TrackingState', 'memory_window',
    'StreamingTracker', 'track_clip'
]
