"""Ref-AVS data: the dataset, its readers and clip transforms."""
from ..feature_cache import (
    FeatureCacheReader,
    FeatureCacheWriter,
    LoadCachedFeatures,
    SplitPlan,
)
from .audio import AudioFix, fit_clip_audio, load_clip_audio
from .errors import MediaError, RefAVSDataError
from .metadata import SPLITS, RefAVSRow, clip_name, read_metadata
from .refavs import RefAVSDataset
from .samplers import ClipGroupedSampler
from .synthetic import make_synthetic_refavs
from .synthetic_info import read_referents
from .transforms import (
    LoadClipAudio,
    LoadClipAudioFromNDArray,
    LoadClipFrames,
    LoadClipFramesFromNDArray,
    LoadClipMasks,
    LoadClipObjects,
    PackClipInputs,
    ResizeClip,
)

__all__ = [
    'AudioFix', 'fit_clip_audio', 'load_clip_audio', 'RefAVSDataError',
    'MediaError', 'LoadClipFramesFromNDArray', 'LoadClipAudioFromNDArray',
    'SPLITS', 'RefAVSRow',
    'clip_name', 'read_metadata', 'RefAVSDataset', 'LoadClipAudio',
    'LoadClipFrames', 'LoadClipMasks', 'LoadClipObjects', 'PackClipInputs',
    'ResizeClip',
    'make_synthetic_refavs', 'read_referents', 'LoadCachedFeatures',
    'FeatureCacheReader', 'FeatureCacheWriter', 'SplitPlan',
    'ClipGroupedSampler'
]
