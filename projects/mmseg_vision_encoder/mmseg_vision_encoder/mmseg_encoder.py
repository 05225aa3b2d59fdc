"""``MMSegVisionEncoder``: an mmseg backbone (``MixVisionTransformer``,
``VisionTransformer``, ``ResNetV1c``, ...) giving ``TriModalBackbone`` the
patch and global tokens of each frame, its weights from an mmseg-format
checkpoint through the backbone's own ``init_cfg`` (``Pretrained``)."""
import os.path as osp
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader
from mmseg.registry import MODELS

from sam2love.models.backbones.frame_tokens import encode_frames, grid_tokens


def checkpoint_state(path: str, prefix: str | None, owner: str) -> dict:
    """The state dict of a local checkpoint (``state_dict`` of an mmengine
    one, else the whole file), ``module.`` stripped, restricted to the keys
    under ``prefix`` (stripped too) when one is given."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{owner}: checkpoint {path!r} does not exist (a local mmseg '
            'checkpoint is needed: nothing is downloaded)')
    checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    state = checkpoint.get('state_dict', checkpoint) \
        if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'{owner}: {path!r} holds no state dict')
    state = {k[len('module.'):] if k.startswith('module.') else k: v
             for k, v in state.items()}
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state = {k[len(prefix):]: v for k, v in state.items()
                 if k.startswith(prefix)}
        if not state:
            raise ValueError(f'{owner}: {path!r} has no key under the '
                             f'prefix {prefix!r}')
    return state


def check_checkpoint_keys(module: torch.nn.Module, path: str,
                          prefix: str | None = None,
                          owner: str = 'MMSegVisionEncoder') -> None:
    """Raise when the checkpoint at ``path`` does not fit ``module``
    exactly: mmengine's ``Pretrained`` init loads with ``strict=False``,
    which would leave a frozen encoder partly random without an error.

    The message names the file, the module class and up to five missing,
    unexpected and wrongly shaped keys."""
    state = checkpoint_state(path, prefix, owner)
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state)
                   if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        def some(keys):
            return f'{keys[:5]}{" ..." if len(keys) > 5 else ""}'
        raise RuntimeError(
            f'{owner}: {path!r} does not match {type(module).__name__}: '
            f'{len(missing)} missing keys {some(missing)}, {len(unexpected)} '
            f'unexpected {some(unexpected)}, {len(wrong)} of another shape '
            f'{some(wrong)}')


@MODELS.register_module()
class MMSegVisionEncoder(BaseModule):
    """Patch and global tokens of each frame from one level of an mmseg
    backbone, frozen by default (SAM2-LOVE freezes its vision encoder).

    Args:
        backbone (dict): an mmseg backbone config. Its ``init_cfg`` is
            mmseg's own: ``dict(type='Pretrained', checkpoint=PATH[,
            prefix='backbone.'])`` loads an mmseg-format checkpoint (a
            backbone's, or a whole segmentor's with ``prefix``) when
            ``init_weights`` runs, after a check that every key fits
            (:func:`check_checkpoint_keys`); ``checkpoint=None`` keeps the
            backbone's random init, so a config can leave the path to
            ``--cfg-options``.
        out_index (int): which of the backbone's outputs gives the tokens.
        image_size (int): side of the square frames the backbone sees.
        frozen (bool): freeze the backbone: no grad, eval mode throughout.

    Shapes:
        frames: (B, T, 3, H, W) in the clip preprocessor's normalisation
        (ImageNet mean / std on 0-255, as mmseg backbones are trained).
        output: ``(patches (B, T, h * w, C), cls (B, T, C))``: the chosen
        level (N, C, h, w) flattened row-major, and its mean over the
        cells (the frame's global token). :attr:`embed_dim` is C.
    """

    def __init__(self,
                 backbone: dict,
                 out_index: int = -1,
                 image_size: int = 224,
                 frozen: bool = True,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        backbone = dict(backbone)
        pretrained = backbone.get('init_cfg')
        if isinstance(pretrained, dict) and \
                pretrained.get('type') == 'Pretrained' and \
                pretrained.get('checkpoint') is None:
            print_log('MMSegVisionEncoder: no checkpoint given: the '
                      f'{backbone["type"]} keeps its random init',
                      logger='current')
            backbone['init_cfg'] = None
        self.backbone = MODELS.build(backbone)
        self.out_index = out_index
        self.image_size = image_size
        self.frozen = frozen
        level = self._probe()
        self.embed_dim = level.size(1)
        self.grid = tuple(level.shape[-2:])
        if frozen:
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    @torch.no_grad()
    def _probe(self) -> torch.Tensor:
        """The chosen level of a blank frame (its width and grid)."""
        was_training = self.backbone.training
        self.backbone.eval()
        level = self.level(torch.zeros(1, 3, self.image_size,
                                       self.image_size))
        self.backbone.train(was_training)
        return level

    def init_weights(self) -> None:
        """The backbone's own init (``Pretrained``: its checkpoint, checked
        key by key first)."""
        cfg = self.backbone.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            check_checkpoint_keys(self.backbone, cfg['checkpoint'],
                                  cfg.get('prefix'))
        super().init_weights()

    def train(self, mode: bool = True) -> 'MMSegVisionEncoder':
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def level(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> the chosen level (N, C, h, w)."""
        size = (self.image_size, self.image_size)
        if tuple(images.shape[-2:]) != size:
            images = F.interpolate(images, size=size, mode='bilinear',
                                   align_corners=False, antialias=True)
        outs = self.backbone(images)
        if isinstance(outs, torch.Tensor):
            outs = [outs]
        out = outs[self.out_index]
        if out.dim() != 4:
            raise ValueError(
                f'MMSegVisionEncoder: output {self.out_index} of '
                f'{type(self.backbone).__name__} is {tuple(out.shape)}, '
                'not a (N, C, h, w) map')
        return out

    def encode_images(self, images: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) -> (patches (N, hw, C), cls (N, C))."""
        with torch.no_grad() if self.frozen else nullcontext():
            level = self.level(images.float())
        return grid_tokens(level)

    def forward(self, frames: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 3, H, W) -> (patches (B, T, hw, C), cls (B, T, C))."""
        return encode_frames(frames, self.encode_images, 'MMSegVisionEncoder')
