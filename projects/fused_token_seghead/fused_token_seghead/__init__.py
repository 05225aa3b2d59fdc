"""Image-level Ref-AVS baselines: an MMSegmentation backbone and decode head
segment every frame, conditioned on SAM2-LOVE's fused token (no SAM2)."""
from .fused_token_head import FusedTokenMaskHead
from .segmentor import FusedTokenSegmentor

__all__ = ['FusedTokenMaskHead', 'FusedTokenSegmentor']
