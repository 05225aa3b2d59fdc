"""``FusedTokenMaskHead``: any mmseg backbone + decode head, read out by the
fused token of ``FusionTokenNeck`` on every frame."""
import math

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn


@MODELS.register_module()
class FusedTokenMaskHead(BaseModule):
    """Per-frame masks from pixel embeddings and a token's dynamic kernel.

    Each frame goes through ``image_backbone`` (any mmseg backbone, e.g.
    ``MixVisionTransformer``) and ``decode_head`` (any mmseg decode head,
    e.g. ``SegformerHead`` or ``FCNHead``), whose ``num_classes`` outputs
    are used as a K-channel pixel embedding. The fused token, a linear
    map to K weights and a bias, turns it into mask logits:
    ``logit = <embedding, w(token)> / sqrt(K) + b(token)``; the image
    model is the same for every expression, only the token refers.

    Args:
        image_backbone (dict): mmseg backbone config (trained).
        decode_head (dict): mmseg decode head config; its ``num_classes``
            is the embedding width K.
        token_dim (int): width D of the fused token.
        image_size (int): side of the square frames the image model sees.
        train_frames (int | None): frames per clip the loss is taken on,
            drawn at random each iteration (all when None): cheaper steps
            on a CPU, every frame still a target over training.
        loss (dict): per-mask loss, ``(N, H, W) -> (N,)``.
        threshold (float): probability threshold of the predicted masks.

    Shapes:
        prompt: (B, 1, D); frames: (B, T, 3, H, W) as the clip
        preprocessor normalises them (mmseg's ImageNet mean / std).
        output: logits (B, T, h, w) at the decode head's resolution.
    """

    def __init__(self,
                 image_backbone: dict,
                 decode_head: dict,
                 token_dim: int,
                 image_size: int = 128,
                 train_frames: int | None = None,
                 loss: dict | None = None,
                 threshold: float = 0.5,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        self.image_backbone = MODELS.build(image_backbone)
        self.decode_head = MODELS.build(decode_head)
        self.embed_dim = self.decode_head.out_channels
        self.token_to_kernel = nn.Linear(token_dim, self.embed_dim + 1)
        self.image_size = image_size
        self.train_frames = train_frames
        self.loss_fn = MODELS.build(loss or dict(type='BCEDiceLoss'))
        self.threshold = threshold

    def pixel_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, K, h, w)."""
        size = (self.image_size, self.image_size)
        if tuple(images.shape[-2:]) != size:
            images = F.interpolate(images, size=size, mode='bilinear',
                                   align_corners=False)
        return self.decode_head(self.image_backbone(images))

    def forward(self, prompt: torch.Tensor, frames: torch.Tensor
                ) -> torch.Tensor:
        """(B, 1, D) token, (B, T, 3, H, W) frames -> (B, T, h, w) logits."""
        if prompt.dim() != 3 or frames.dim() != 5:
            raise ValueError(
                'FusedTokenMaskHead: prompt must be (B, 1, D) and frames '
                f'(B, T, 3, H, W), got {tuple(prompt.shape)} and '
                f'{tuple(frames.shape)}')
        b, t = frames.shape[:2]
        embeddings = self.pixel_embeddings(frames.flatten(0, 1))
        embeddings = embeddings.unflatten(0, (b, t))
        kernel = self.token_to_kernel(prompt[:, 0])
        weight, bias = kernel[:, :-1], kernel[:, -1]
        logits = torch.einsum('btkhw,bk->bthw', embeddings, weight)
        return logits / math.sqrt(self.embed_dim) + bias.view(b, 1, 1, 1)

    def loss(self, prompt: torch.Tensor, frames: torch.Tensor,
             gt_masks: torch.Tensor) -> dict:
        """``loss_mask``: the mean per-mask loss over the clips' frames.

        Args:
            gt_masks (Tensor): (B, T, H, W) in {0, 1}; the logits are
                upsampled (bilinear) to their size, as mmseg's heads do.
        """
        if self.train_frames is not None and \
                self.train_frames < frames.size(1):
            keep = torch.randperm(frames.size(1))[:self.train_frames]
            keep = keep.sort().values.to(frames.device)
            frames, gt_masks = frames[:, keep], gt_masks[:, keep]
        logits = self(prompt, frames).flatten(0, 1)
        logits = F.interpolate(logits[:, None], size=gt_masks.shape[-2:],
                               mode='bilinear', align_corners=False)[:, 0]
        return dict(loss_mask=self.loss_fn(
            logits, gt_masks.flatten(0, 1).float()).mean())

    def predict(self, prompt: torch.Tensor, frames: torch.Tensor
                ) -> torch.Tensor:
        """Logits (B, T, h, w) of every frame."""
        return self(prompt, frames)
