"""``SAM2VisionEncoder``: a SAM2 image encoder as the fusion's vision encoder.

The paper reads frames with a frozen ImageNet ViT: patch features that
already tell objects apart. Where no such checkpoint exists (the CPU demo,
which cannot download one) a random-init ViT is a poor stand-in; the SAM2
image encoder pre-trained in the demo's stage 1 is the one pre-trained
vision model at hand. Any SAM2 checkpoint works (the official ones too).
"""
import torch
from mmseg.registry import MODELS

from ..sam2.build import build_sam2_model, expand_sam2_overrides
from ..sam2.features import fit_frames
from .hf.frozen_encoder import FrozenEncoder


@MODELS.register_module()
class SAM2VisionEncoder(FrozenEncoder):
    """Per-frame patch and global tokens from SAM2's image encoder
    (``self.model``).

    Args:
        sam2_config (str): SAM2 config (short name or the package's).
        checkpoint (str | None): SAM2 ``.pt`` (``{'model': state_dict}``,
            e.g. ``tools/export_sam2.py``'s); None: random weights.
        image_size (int | None): SAM2's square input size S.
        sam2_overrides (list[str] | str | None): Hydra overrides
            (``'small'``: the CPU demo's small SAM2).
        frozen (bool): freeze the encoder. Defaults to True.

    Shapes:
        frames: (B, T, 3, H, W), normalised as SAM2 expects (ImageNet mean
        and std, ``ClipDataPreprocessor``'s); resized to S x S if needed.
        output: ``(patches (B, T, HW, C), cls (B, T, C))``: the stride-16
        ``vision_features`` (HW = (S / 16) ** 2, row-major, C =
        ``embed_dim``, SAM2's hidden width) and their mean as [cls].
    """

    def __init__(self,
                 sam2_config: str = 'sam2.1_hiera_t',
                 checkpoint: str | None = None,
                 image_size: int | None = None,
                 sam2_overrides=None,
                 frozen: bool = True,
                 init_cfg: dict | None = None) -> None:
        super().__init__(frozen, init_cfg)
        sam = build_sam2_model(sam2_config, checkpoint, image_size,
                               expand_sam2_overrides(sam2_overrides))
        self.set_model(sam.image_encoder)
        self.image_size = sam.image_size
        self._embed_dim = sam.hidden_dim
        if frozen:
            self.freeze()

    @property
    def embed_dim(self) -> int:
        """SAM2's hidden width C."""
        return self._embed_dim

    def forward(self, frames: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """See the class docstring for the shapes."""
        if frames.dim() != 5:
            raise ValueError('SAM2VisionEncoder: frames must be (B, T, 3, '
                             f'H, W), got {tuple(frames.shape)}')
        b, t = frames.shape[:2]
        x = fit_frames(frames, self.image_size).flatten(0, 1)
        with self.grad_context():
            feats = self.model(x)['vision_features']  # (BT, C, h, w)
        patches = feats.flatten(2).transpose(1, 2)
        patches = patches.reshape(b, t, patches.size(1), patches.size(2))
        return patches, patches.mean(2)
