from .sam2_tracker_pretrainer import SAM2TrackerPretrainer
from .sam2love import SAM2LOVE

__all__ = ['SAM2LOVE', 'SAM2TrackerPretrainer']
