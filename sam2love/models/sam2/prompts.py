"""What prompts SAM2 on frame 0: a mask, clicks, or extra sparse tokens.

A frame-0 prompt is given as one of ``dict(mask_inputs=(B, 1, H, W))``,
``dict(point_inputs=dict(point_coords=(B, N, 2), point_labels=(B, N)))``
or ``dict(sparse_tokens=(B, k, C))`` (:func:`parse_frame0`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sam2.modeling.sam2_base import SAM2Base
from torch import Tensor


def point_embedding_norm(sam: SAM2Base) -> Tensor:
    """() mean norm of SAM2's point embeddings (the padding point's and
    the per-label ones): the scale of the sparse tokens its decoder reads."""
    encoder = sam.sam_prompt_encoder
    embeds = [encoder.not_a_point_embed.weight]
    embeds += [e.weight for e in encoder.point_embeddings]
    return torch.cat(embeds).norm(dim=-1).mean()


def check_tokens(sam: SAM2Base, tokens: Tensor) -> None:
    if tokens.dim() != 3 or tokens.size(-1) != sam.sam_prompt_embed_dim:
        raise ValueError(
            f'sparse_tokens must be (B, k, {sam.sam_prompt_embed_dim}), got '
            f'{tuple(tokens.shape)}'
        )


def prepare_mask_prompt(sam: SAM2Base, mask: Tensor) -> Tensor:
    """A (B, 1, H, W) bool / float mask as ``add_new_mask`` feeds SAM2.

    Returns (B, 1, S, S) float 0 / 1: unchanged when already S × S, else
    resized with antialiased bilinear interpolation and thresholded at 0.5.
    """
    if mask.dim() != 4 or mask.size(1) != 1:
        raise ValueError(f'mask_inputs must be (B, 1, H, W), got {tuple(mask.shape)}')
    mask = mask.float()
    size = (sam.image_size, sam.image_size)
    if mask.shape[-2:] != size:
        mask = F.interpolate(
            mask, size=size, mode='bilinear', align_corners=False, antialias=True
        )
        mask = (mask >= 0.5).float()
    return mask


def parse_frame0(
    sam: SAM2Base, frame0: dict, batch_size: int, device: torch.device
) -> tuple[Tensor | None, Tensor | None, dict | None]:
    """``(mask_inputs, sparse_tokens, point_inputs)``, one of them set."""
    kinds = {'mask_inputs', 'sparse_tokens', 'point_inputs'}
    keys = set(frame0) & kinds
    if len(keys) != 1 or set(frame0) - keys:
        raise ValueError(
            'frame0 must be dict(mask_inputs=...), dict(sparse_tokens=...) '
            f'or dict(point_inputs=...), got keys {sorted(frame0)}'
        )
    kind = keys.pop()
    prompt = frame0[kind]
    if kind == 'point_inputs':
        coords, labels = prompt['point_coords'], prompt['point_labels']
        shapes_ok = coords.dim() == 3 and coords.size(-1) == 2
        if not shapes_ok or labels.shape != coords.shape[:2]:
            raise ValueError(
                'point_inputs must hold point_coords (B, N, 2) and point_labels '
                f'(B, N), got {tuple(coords.shape)} and {tuple(labels.shape)}'
            )
        prompt = coords
    if prompt.size(0) != batch_size:
        raise ValueError(
            f'frame-0 prompt for {prompt.size(0)} clips, frames hold {batch_size}'
        )
    if kind == 'mask_inputs':
        return prepare_mask_prompt(sam, prompt.to(device)), None, None
    if kind == 'point_inputs':
        points = {
            'point_coords': coords.float().to(device),
            'point_labels': labels.to(device=device, dtype=torch.int32),
        }
        return None, None, points
    check_tokens(sam, prompt)
    return None, prompt.to(device), None
