"""``HFVisionEncoder``: per-frame patch and global tokens of a frozen
Hugging Face vision encoder (SAM2-LOVE's ImageNet ViT, CLIP's vision tower
in Table 2, or any ``AutoModel``)."""
import inspect

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.registry import MODELS

from ..frame_tokens import encode_frames, grid_tokens
from .frozen_encoder import FrozenEncoder
from .image_processor import processor_image_size, read_image_stats
from .loading import build_encoder_model
from .specs import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VISION_MODELS,
)


@MODELS.register_module()
class HFVisionEncoder(FrozenEncoder):
    """Per-frame patch and global tokens of any Hugging Face vision encoder.

    Frames arrive in the clip preprocessor's normalisation; they are turned
    back into [0, 1] RGB, resized to the encoder's input size (bilinear,
    antialiased: as the HF image processors' PIL resize) and normalised as
    the encoder was trained.

    Args:
        pretrained (str | None): local Hugging Face model folder, e.g. a
            copy of ``google/vit-base-patch16-224``, ``facebook/dinov2-small``
            or ``google/siglip-base-patch16-224`` (its vision tower).
        config (dict | None): kwargs of ``ViTConfig`` / ``CLIPVisionConfig``
            (``'auto'``: of ``AutoConfig.for_model``, ``model_type``
            included) for a randomly initialised model (see
            :data:`TINY_VIT`, :data:`VIT_B16`); with ``pretrained``,
            overrides of the folder's config (a checkpoint that no longer
            fits is an error).
        model_type (str): ``'vit'`` (``ViTModel``, no pooler),
            ``'clip_vision'`` (``CLIPVisionModel``) or ``'auto'`` (any
            architecture ``AutoModel`` knows; a dual encoder's vision tower).
        image_size (int | None): side of the square encoder input.
            Defaults to the model config's ``image_size`` (``'auto'``: the
            folder's processor's crop / resize size first); a size other
            than the config's interpolates the position embeddings.
        mean, std (Sequence[float] | None): the encoder's normalisation of
            [0, 1] RGB. Defaults: ``preprocessor_config.json`` of the
            ``pretrained`` folder when present, else the model type's
            (0.5 / 0.5 for ViT, OpenAI's for CLIP, ImageNet's for
            ``'auto'``, with a warning).
        input_mean, input_std (Sequence[float]): the normalisation of the
            incoming frames, 0-255 scale (``ClipDataPreprocessor``'s).
        frozen (bool): freeze the model. Defaults to True.

    Shapes:
        frames: (B, T, 3, H, W).
        output: ``(patches (B, T, HW, D), cls (B, T, D))``, ``D`` the hidden
        size. A transformer's last hidden state (N, K + HW, D) is split into
        its K leading special tokens ([cls], registers, distillation) and
        the ``HW = (image_size / patch_size) ** 2`` patch tokens (row-major);
        ``cls`` is the first special token, or the mean patch token when
        there is none (SigLIP). A convolutional model's (N, D, h, w) map
        gives ``HW = h * w`` patches and their mean. These are the last
        hidden state (after ViT's final LayerNorm; CLIP's
        ``post_layernorm`` is not applied).
    """

    def __init__(self,
                 pretrained: str | None = None,
                 config: dict | None = None,
                 model_type: str = 'vit',
                 image_size: int | None = None,
                 mean=None,
                 std=None,
                 input_mean=IMAGENET_MEAN,
                 input_std=IMAGENET_STD,
                 frozen: bool = True,
                 init_cfg: dict | None = None) -> None:
        super().__init__(frozen, init_cfg)
        owner = 'HFVisionEncoder'
        model, spec = build_encoder_model(VISION_MODELS, model_type, 'vision',
                                          owner, pretrained, config)
        self.model_type = model_type
        self.set_model(model)
        model_cfg = self.model.config
        model_size = getattr(model_cfg, 'image_size', None)
        if spec is None:
            image_size = image_size or processor_image_size(pretrained)
        self.image_size = int(image_size or model_size or 0)
        if not self.image_size:
            raise ValueError(f'{owner}: {type(model_cfg).__name__} has no '
                             'image_size; give `image_size`')
        self.patch_size = getattr(model_cfg, 'patch_size', None)
        accepts = inspect.signature(self.model.forward).parameters
        self.forward_kwargs = {}
        if 'interpolate_pos_encoding' in accepts:
            self.forward_kwargs['interpolate_pos_encoding'] = (
                self.image_size != model_size)
        stats = read_image_stats(pretrained)
        default_mean, default_std = (
            (spec.mean, spec.std) if spec is not None
            else (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD))
        if spec is None and mean is None and 'image_mean' not in stats:
            print_log(f'{owner}: no image_mean in {pretrained!r}\'s '
                      'preprocessor_config.json: ImageNet\'s mean / std '
                      'assumed (give `mean` / `std`)', logger='current',
                      level=30)
        mean = mean if mean is not None else stats.get('image_mean',
                                                       default_mean)
        std = std if std is not None else stats.get('image_std', default_std)
        self._register_stats('mean', mean)
        self._register_stats('std', std)
        self._register_stats('input_mean', input_mean)
        self._register_stats('input_std', input_std)
        if frozen:
            self.freeze()

    @property
    def interpolate_pos_encoding(self) -> bool:
        return bool(self.forward_kwargs.get('interpolate_pos_encoding'))

    def _register_stats(self, name: str, values) -> None:
        if len(values) != 3:
            raise ValueError(f'HFVisionEncoder: {name} needs 3 values (RGB)')
        self.register_buffer(name, torch.tensor(values, dtype=torch.float32)
                             .view(1, 3, 1, 1), persistent=False)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Preprocessor-normalised (N, 3, H, W) -> encoder input
        (N, 3, S, S), S = ``image_size``."""
        rgb = (images.float() * self.input_std + self.input_mean) / 255.0
        if tuple(rgb.shape[-2:]) != (self.image_size, self.image_size):
            rgb = F.interpolate(rgb, size=(self.image_size, self.image_size),
                                mode='bilinear', align_corners=False,
                                antialias=True)
        return (rgb - self.mean) / self.std

    def split_tokens(self, hidden: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden state -> (patches (N, HW, D), global (N, D)).

        (N, K + HW, D) token sequences lose their K leading special tokens;
        (N, D, h, w) maps are flattened row-major (see the class doc)."""
        if hidden.dim() == 4:
            return grid_tokens(hidden)
        if not self.patch_size:
            raise ValueError(
                f'HFVisionEncoder: {type(self.model.config).__name__} has no '
                'patch_size: its patch tokens cannot be told apart')
        num_patches = (self.image_size // self.patch_size) ** 2
        num_special = hidden.size(1) - num_patches
        if num_special < 0:
            raise ValueError(
                f'HFVisionEncoder: {hidden.size(1)} tokens for '
                f'{num_patches} patches of {self.image_size} px images')
        patches = hidden[:, num_special:]
        glob = hidden[:, 0] if num_special else patches.mean(1)
        return patches, glob

    def encode_images(self, images: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) -> (patches (N, HW, D), cls (N, D))."""
        pixels = self.prepare(images)
        with self.grad_context():
            hidden = self.model(pixel_values=pixels,
                                **self.forward_kwargs).last_hidden_state
        return self.split_tokens(hidden)

    def forward(self, frames: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 3, H, W) -> (patches (B, T, HW, D), cls (B, T, D))."""
        return encode_frames(frames, self.encode_images, 'HFVisionEncoder')

