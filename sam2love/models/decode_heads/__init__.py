from .presence import NO_OBJECT_LOGIT, check_presence
from .sam2_head import TRAINABLE_PRESETS, SAM2PromptHead

__all__ = ['SAM2PromptHead', 'TRAINABLE_PRESETS', 'NO_OBJECT_LOGIT',
           'check_presence']
