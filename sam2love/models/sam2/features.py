"""SAM2's image features: encode frames, project, select, expand.

Shapes follow SAM2's own notation: S = ``sam.image_size``, C =
``sam.hidden_dim`` (256 for the official models); per-frame features are
stored flattened as (HW, B, C) by ``SAM2Base._prepare_backbone_features``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from sam2.modeling.sam2_base import SAM2Base
from torch import Tensor


def fit_frames(frames: Tensor, size: int) -> Tensor:
    """Resize (..., 3, H, W) frames to SAM2's square (..., 3, S, S) input
    (bilinear) when they are not that size already."""
    if frames.shape[-2:] == (size, size):
        return frames
    lead = frames.shape[:-3]
    flat = F.interpolate(frames.flatten(0, -4), size=(size, size),
                         mode='bilinear', align_corners=False)
    return flat.view(*lead, 3, size, size)


def encode_frames(sam: SAM2Base, frames: Tensor, frozen_encoder: bool = True) -> dict:
    """``sam.forward_image(frames)`` with an optionally frozen image encoder.

    ``SAM2Base.forward_image`` applies the mask decoder's ``conv_s0`` /
    ``conv_s1`` to the two high-resolution FPN levels inside the backbone
    call, so wrapping it in ``no_grad`` would silently freeze those trainable
    convs. Here only ``sam.image_encoder`` runs under ``no_grad`` (when
    ``frozen_encoder``) and the convs run under the caller's grad mode.

    Args:
        frames: (N, 3, S, S), normalised with :data:`SAM2_IMG_MEAN` /
            :data:`SAM2_IMG_STD`.

    Returns:
        dict with, as ``forward_image``:
        - ``vision_features``: (N, C, S/16, S/16)
        - ``vision_pos_enc``: list of (N, C, S/4, S/4), (N, C, S/8, S/8),
          (N, C, S/16, S/16) positional encodings
        - ``backbone_fpn``: list of feature maps of those sizes; with
          ``use_high_res_features_in_sam`` the first two are projected to
          C/8 and C/4 channels.
    """
    grad = contextlib.nullcontext() if not frozen_encoder else torch.no_grad()
    with grad:
        out = sam.image_encoder(frames)
    return project_high_res_features(sam, out)


def project_high_res_features(sam: SAM2Base, encoder_out: dict) -> dict:
    """:func:`encode_frames`'s output from ``sam.image_encoder``'s.

    Applies the mask decoder's ``conv_s0`` / ``conv_s1`` (trainable with
    the decoder) to the two high-resolution levels; useful on image-encoder
    outputs computed once and cached.
    """
    fpn = list(encoder_out['backbone_fpn'])
    if sam.use_high_res_features_in_sam:
        fpn[0] = sam.sam_mask_decoder.conv_s0(fpn[0])
        fpn[1] = sam.sam_mask_decoder.conv_s1(fpn[1])
    return {
        'vision_features': encoder_out['vision_features'],
        'vision_pos_enc': list(encoder_out['vision_pos_enc']),
        'backbone_fpn': fpn,
    }


def encoder_out_from_levels(sam: SAM2Base, levels: Sequence[Tensor]) -> dict:
    """``sam.image_encoder``'s output from its cached FPN levels.

    The positional encodings depend only on the levels' shapes (SAM2's
    ``PositionEmbeddingSine``), so they are recomputed, as the neck
    computes them, instead of being cached.

    Args:
        levels: ``sam.image_encoder``'s ``backbone_fpn``, (B, C_i, h_i, w_i)
            each (the last one is its ``vision_features``).
    """
    position_encoding = sam.image_encoder.neck.position_encoding
    levels = list(levels)
    return dict(
        vision_features=levels[-1],
        vision_pos_enc=[position_encoding(x).to(x.dtype) for x in levels],
        backbone_fpn=levels)


def expand_encoded(encoded: dict, num_objects: int) -> dict:
    """One frame's :func:`encode_frames` output (batch 1) as K objects'.

    As ``SAM2VideoPredictor._get_image_feature`` expands a frame's features
    to its batch of objects: views, no copy.
    """
    return {
        'vision_features': encoded['vision_features'].expand(
            num_objects, -1, -1, -1),
        'backbone_fpn': [x.expand(num_objects, -1, -1, -1)
                         for x in encoded['backbone_fpn']],
        'vision_pos_enc': [x.expand(num_objects, -1, -1, -1)
                           for x in encoded['vision_pos_enc']],
    }


def select_frame_features(
    sam: SAM2Base, backbone_out: dict, index: Tensor | slice | int
) -> tuple[list[Tensor], list[Tensor], list[tuple[int, int]]]:
    """Slice frames out of :func:`encode_frames`'s output and flatten them.

    Args:
        backbone_out: output of :func:`encode_frames` for N frames.
        index: which of the N frames (a batch of B).

    Returns:
        ``SAM2Base._prepare_backbone_features``'s ``(vision_feats,
        vision_pos_embeds, feat_sizes)``: lists over the used levels of
        (HW, B, C) tensors and of (H, W).
    """
    if isinstance(index, int):
        index = slice(index, index + 1)
    sliced = {
        'backbone_fpn': [x[index] for x in backbone_out['backbone_fpn']],
        'vision_pos_enc': [x[index] for x in backbone_out['vision_pos_enc']],
    }
    _, feats, pos, sizes = sam._prepare_backbone_features(sliced)
    return feats, pos, sizes


@torch.no_grad()
def image_encoder_levels(sam: SAM2Base, frames: Tensor) -> list[Tensor]:
    """What a feature cache stores of SAM2 for a frame: the frozen image
    encoder's FPN levels, *before* the mask decoder's trainable
    ``conv_s0`` / ``conv_s1`` (:func:`project_high_res_features` applies
    them to :func:`encoder_out_from_levels`).

    Args:
        frames: (B, 3, S, S) normalised frames.

    Returns:
        ``sam.image_encoder``'s ``backbone_fpn``, for the official models
        (B, C, S/4, S/4), (B, C, S/8, S/8), (B, C, S/16, S/16) with C = 256
        (the last one is its ``vision_features``).
    """
    return list(sam.image_encoder(frames)['backbone_fpn'])
