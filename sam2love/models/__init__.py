"""SAM2-LOVE models: data preprocessor, backbones, necks, heads, segmentors."""
from .data_preprocessor import ClipDataPreprocessor

__all__ = ['ClipDataPreprocessor']
