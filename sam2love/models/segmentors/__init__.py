from .base import ClipSegmentor
from .sam2_tracker_pretrainer import SAM2TrackerPretrainer
from .sam2love import SAM2LOVE

__all__ = ['ClipSegmentor', 'SAM2LOVE', 'SAM2TrackerPretrainer']
