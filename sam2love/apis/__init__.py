"""Inference on a user's video: ``RefAVSInferencer`` and its pieces."""
from .checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    load_weights_strict,
)
from .checks import check_texts
from .feature_extraction import (
    build_training_model,
    extract_feature_cache,
    split_dataset_cfgs,
)
from .inferencer import RefAVSInferencer
from .media import ClipMedia, load_clip_media

__all__ = ['RefAVSInferencer', 'CheckpointError', 'CheckpointMismatchError',
           'load_weights_strict', 'ClipMedia', 'check_texts',
           'load_clip_media', 'build_training_model', 'extract_feature_cache',
           'split_dataset_cfgs']
