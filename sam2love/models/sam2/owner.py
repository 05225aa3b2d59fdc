"""``SAM2OwnerMixin``: what every module holding a SAM2 (``self.sam``)
needs, part of it frozen: frozen parts stay in eval mode, frames are fitted
to SAM2's square input."""
from collections.abc import Iterator

from sam2.modeling.sam2_base import SAM2Base
from torch import Tensor, nn

from .features import fit_frames


class SAM2OwnerMixin:
    """Mix into an ``nn.Module`` subclass that sets ``self.sam``."""

    sam: SAM2Base

    def frozen_modules(self) -> Iterator[nn.Module]:
        """The modules that stay in eval mode when training."""
        raise NotImplementedError

    def train(self, mode: bool = True):
        """Frozen SAM2 parts stay in eval mode."""
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    @property
    def image_encoder_frozen(self) -> bool:
        return not any(p.requires_grad
                       for p in self.sam.image_encoder.parameters())

    def fit_frames(self, frames: Tensor) -> Tensor:
        """Resize (..., 3, H, W) frames to SAM2's (..., 3, S, S) input
        (bilinear) when they are not that size already."""
        return fit_frames(frames, self.sam.image_size)
