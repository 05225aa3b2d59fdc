"""Any MMSegmentation backbone as the vision encoder of SAM2-LOVE's
``TriModalBackbone``."""
from .mmseg_encoder import MMSegVisionEncoder, check_checkpoint_keys

__all__ = ['MMSegVisionEncoder', 'check_checkpoint_keys']
