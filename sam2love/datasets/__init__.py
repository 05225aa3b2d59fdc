"""Ref-AVS data: the dataset, its readers and clip transforms."""
from .audio import AudioFix, load_clip_audio
from .errors import RefAVSDataError
from .metadata import SPLITS, RefAVSRow, clip_name, read_metadata
from .refavs import RefAVSDataset
from .synthetic import make_synthetic_refavs
from .transforms import (
                         LoadClipAudio,
                         LoadClipFrames,
                         LoadClipMasks,
                         PackClipInputs,
                         ResizeClip,
)

__all__ = [
    'AudioFix', 'load_clip_audio', 'RefAVSDataError', 'SPLITS', 'RefAVSRow',
    'clip_name', 'read_metadata', 'RefAVSDataset', 'LoadClipAudio',
    'LoadClipFrames', 'LoadClipMasks', 'PackClipInputs', 'ResizeClip',
    'make_synthetic_refavs'
]
