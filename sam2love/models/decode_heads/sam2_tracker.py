"""Build SAM2 from the ``sam2`` package and track objects in in-memory clips.

``SAM2VideoPredictor`` only reads JPEG folders or mp4 files. This module
drives the same ``SAM2Base`` methods on (B, T, 3, S, S) tensors instead, the
way SAM2's training model and the video predictor do, so that a clip is
tracked with SAM2's memory bank without touching the disk and, when called
under grad, with gradients on every frame's logits:

- :func:`build_sam2_model` builds a ``SAM2Base`` from the package's Hydra
  configs (any image size) and loads an official checkpoint;
  :func:`small_sam2_overrides` gives a 3 M-parameter variant for CPU tests.
- :func:`encode_frames` runs the image encoder (optionally frozen) and the
  mask decoder's trainable ``conv_s0`` / ``conv_s1`` outside ``no_grad``.
- :func:`extra_sparse_prompt` appends learned tokens to the prompt encoder's
  sparse output (how the SAM2-LOVE [seg] token prompts SAM2).
- :func:`track_clip` prompts frame 0 with a mask or with tokens and tracks
  frames 1..T-1 with no prompt, matching ``SAM2VideoPredictor`` numerically.

Shapes follow SAM2's own notation: S = ``sam.image_size``, C =
``sam.hidden_dim`` (256 for the official models), features are stored
flattened as (HW, B, C) by ``SAM2Base._prepare_backbone_features``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from sam2.modeling.sam2_base import SAM2Base
from torch import Tensor, nn

#: Short model names and the ``sam2`` package's Hydra config of each.
SAM2_CONFIGS = {
    **{
        f'sam2.1_hiera_{s}': f'configs/sam2.1/sam2.1_hiera_{s}.yaml'
        for s in ('t', 's', 'b+', 'l')
    },
    **{
        f'sam2_hiera_{s}': f'configs/sam2/sam2_hiera_{s}.yaml'
        for s in ('t', 's', 'b+', 'l')
    },
}

#: The normalisation ``SAM2VideoPredictor`` applies to frames in [0, 1].
SAM2_IMG_MEAN = (0.485, 0.456, 0.406)
SAM2_IMG_STD = (0.229, 0.224, 0.225)

_SHADOW_HINT = (
    'The `sam2` package could not be used. A common cause is running Python '
    'from a directory that holds a `sam2/` folder (e.g. the parent directory '
    'of a clone of facebookresearch/sam2), which shadows the installed '
    'package: run from another directory.'
)


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------
def resolve_sam2_config(config: str) -> str:
    """Map a short name (``'sam2.1_hiera_t'``) to the package config path.

    Full config names (``'configs/sam2.1/sam2.1_hiera_l.yaml'``) are
    returned unchanged.
    """
    if config in SAM2_CONFIGS:
        return SAM2_CONFIGS[config]
    if config.endswith('.yaml'):
        return config
    raise ValueError(
        f'Unknown SAM2 config {config!r}: use one of {sorted(SAM2_CONFIGS)} '
        'or a config name such as "configs/sam2.1/sam2.1_hiera_t.yaml".'
    )


def image_size_overrides(image_size: int) -> list[str]:
    """Hydra overrides that build a SAM2 for ``image_size`` × ``image_size``.

    ``model.image_size`` drives the prompt encoder (``image_embedding_size``
    = S/16, ``mask_input_size`` = S/4) and ``sam_image_embedding_size``; the
    memory encoder's mask downsampler is stride-based and needs nothing.
    The RoPE tables of the memory attention are sized by ``feat_sizes``
    (S/16): they would be recomputed on first use anyway, but are set here so
    that the built model is consistent from the start.
    """
    if image_size <= 0 or image_size % 32:
        raise ValueError(
            f'image_size must be a positive multiple of 32 (the Hiera trunk '
            f'has stride 32), got {image_size}'
        )
    fs = image_size // 16
    attn = 'model.memory_attention.layer'
    return [
        f'++model.image_size={image_size}',
        f'++{attn}.self_attention.feat_sizes=[{fs},{fs}]',
        f'++{attn}.cross_attention.feat_sizes=[{fs},{fs}]',
    ]


def small_sam2_overrides() -> list[str]:
    """Hydra overrides on ``sam2.1_hiera_t`` for a ~3.2 M-parameter SAM2.

    For CPU tests and the CPU demo (``shared/FEASIBILITY.md``): Hiera embed
    24, 1 head, stages (1, 1, 2, 1), windows (8, 4, 8, 4), one global block;
    FPN channels [192, 96, 48, 24]; d_model 128; one memory-attention layer
    (FFN 512); memory dim 64; 7 memory frames. Combine with
    ``image_size=128``::

        build_sam2_model('sam2.1_hiera_t', image_size=128,
                         overrides=small_sam2_overrides())
    """
    d = 128
    trunk = 'model.image_encoder.trunk'
    neck = 'model.image_encoder.neck'
    attn = 'model.memory_attention'
    mem = 'model.memory_encoder'
    return [
        f'++{trunk}.embed_dim=24',
        f'++{trunk}.num_heads=1',
        f'++{trunk}.stages=[1,1,2,1]',
        f'++{trunk}.window_spec=[8,4,8,4]',
        f'++{trunk}.global_att_blocks=[3]',
        f'++{neck}.backbone_channel_list=[192,96,48,24]',
        f'++{neck}.d_model={d}',
        f'++{neck}.position_encoding.num_pos_feats={d}',
        f'++{attn}.d_model={d}',
        f'++{attn}.num_layers=1',
        f'++{attn}.layer.d_model={d}',
        f'++{attn}.layer.dim_feedforward=512',
        f'++{attn}.layer.self_attention.embedding_dim={d}',
        f'++{attn}.layer.cross_attention.embedding_dim={d}',
        f'++{attn}.layer.cross_attention.kv_in_dim=64',
        f'++{mem}.out_dim=64',
        f'++{mem}.position_encoding.num_pos_feats=64',
        f'++{mem}.in_dim={d}',
        f'++{mem}.mask_downsampler.embed_dim={d}',
        f'++{mem}.fuser.layer.dim={d}',
        '++model.num_maskmem=7',
    ]


def expand_sam2_overrides(overrides: list[str] | str | None) -> list[str]:
    """Config-level overrides: ``'small'`` (alone or as a list item) stands
    for :func:`small_sam2_overrides`; other items are Hydra overrides.

    ``expand_sam2_overrides(['small', '++model.num_maskmem=4'])`` gives the
    small model with 4 memory frames.
    """
    if overrides is None:
        return []
    if isinstance(overrides, str):
        overrides = [overrides]
    out = []
    for item in overrides:
        out += small_sam2_overrides() if item == 'small' else [item]
    return out


def sam2_hydra_overrides(
    image_size: int | None = None, overrides: list[str] | None = None
) -> list[str]:
    """All Hydra overrides :func:`build_sam2_model` passes to ``sam2``.

    Use the same list with ``sam2.build_sam.build_sam2_video_predictor`` to
    build a video predictor with the same architecture.
    """
    extra = image_size_overrides(image_size) if image_size is not None else []
    return extra + list(overrides or [])


def build_sam2_model(
    config: str = 'sam2.1_hiera_t',
    checkpoint: str | None = None,
    image_size: int | None = None,
    overrides: list[str] | None = None,
    device: str | torch.device = 'cpu',
) -> SAM2Base:
    """Build a ``SAM2Base`` in eval mode, without post-processing.

    Args:
        config: a short name from :data:`SAM2_CONFIGS` or a config name of
            the ``sam2`` package.
        checkpoint: an official SAM2 ``.pt`` file (``{'model': state_dict}``)
            or None for random weights.
        image_size: the square input size S (a multiple of 32); None keeps
            the config's (1024).
        overrides: extra Hydra overrides (e.g. :func:`small_sam2_overrides`).
        device: where the model is put.
    """
    try:
        from sam2.build_sam import build_sam2
    except (ImportError, RuntimeError) as e:
        raise RuntimeError(f'{_SHADOW_HINT} ({e})') from e
    from hydra.errors import MissingConfigException

    config_name = resolve_sam2_config(config)
    try:
        sam = build_sam2(
            config_name,
            ckpt_path=None,
            device='cpu',
            mode='eval',
            hydra_overrides_extra=sam2_hydra_overrides(image_size, overrides),
            apply_postprocessing=False,
        )
    except MissingConfigException as e:
        raise RuntimeError(
            f'SAM2 config {config_name!r} not found in the sam2 package. {_SHADOW_HINT}'
        ) from e
    if checkpoint is not None:
        load_sam2_checkpoint(sam, checkpoint)
    return sam.to(device)


def init_local_memory_attention(
    sam: SAM2Base, strength: float = 10.0, num_freqs: int = 4
) -> None:
    """Make memory attention start by reading the same place in memory.

    SAM2 trained from scratch with little compute never learns to read its
    memory bank: at init every query attends almost uniformly over the
    memory tokens, so what it reads is an average that hardly depends on
    where the prompted object was, the mask decoder learns to ignore it, and
    the tracked frames end up exactly independent of the prompt (segmenting
    every salient object instead). This sets the query and key biases of
    each cross-attention (``RoPEAttention``) to the same vector, on the
    ``num_freqs`` highest RoPE frequencies of each axis. After the rotary
    encoding their product is ``strength² / √d · mean_k cos(ω_k Δ)``, which
    peaks where query and memory positions coincide (Δ = 0) and falls off
    within ~2 feature cells; object-pointer tokens, which get no rotation,
    receive the peak value. Content terms stay as initialised.

    Only for random-init models (official checkpoints overwrite it).

    Args:
        strength: norm of the bias vector (10: ~9 logits at Δ = 0 for 128-d
            heads, ~1 less one cell away, ~6 less three cells away).
        num_freqs: rotary frequency pairs used per axis.
    """
    for layer in sam.memory_attention.layers:
        attn = layer.cross_attn_image
        head_dim = attn.internal_dim // attn.num_heads
        # compute_axial_cis: complex pairs (2j, 2j+1); the first head_dim/4
        # pairs rotate with x, the next head_dim/4 with y, fastest first
        if num_freqs > head_dim // 4:
            raise ValueError(f'num_freqs must be <= {head_dim // 4}, got {num_freqs}')
        bias = torch.zeros(head_dim)
        for k in range(num_freqs):
            bias[2 * k] = bias[2 * (head_dim // 4 + k)] = 1.0
        bias = (bias * strength / bias.norm()).repeat(attn.num_heads)
        with torch.no_grad():
            attn.q_proj.bias.copy_(bias)
            attn.k_proj.bias.copy_(bias)


def load_sam2_checkpoint(sam: SAM2Base, path: str) -> None:
    """Load an official SAM2 checkpoint (``torch.load(path)['model']``).

    Raises ``RuntimeError`` naming the file and the missing / unexpected keys
    or the mismatched shapes.
    """
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(ckpt, dict) or 'model' not in ckpt:
        keys = list(ckpt)[:5] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise RuntimeError(
            f'{path}: not a SAM2 checkpoint (expected a dict with a "model" '
            f'state dict, got {keys})'
        )
    try:
        missing, unexpected = sam.load_state_dict(ckpt['model'], strict=False)
    except RuntimeError as e:
        raise RuntimeError(f'{path}: does not fit this SAM2 model: {e}') from e
    if missing or unexpected:
        raise RuntimeError(
            f'{path}: does not fit this SAM2 model '
            f'(config and checkpoint differ?): {len(missing)} missing keys '
            f'{_head(missing)}, {len(unexpected)} unexpected keys '
            f'{_head(unexpected)}'
        )


def _head(keys: list[str], n: int = 8) -> str:
    return str(keys[:n])[:-1] + (', ...]' if len(keys) > n else ']')


# --------------------------------------------------------------------------
# Image features
# --------------------------------------------------------------------------
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


# --------------------------------------------------------------------------
# Prompts
# --------------------------------------------------------------------------
def point_embedding_norm(sam: SAM2Base) -> Tensor:
    """() mean norm of SAM2's point embeddings (the padding point's and
    the per-label ones): the scale of the sparse tokens its decoder reads."""
    encoder = sam.sam_prompt_encoder
    embeds = [encoder.not_a_point_embed.weight]
    embeds += [e.weight for e in encoder.point_embeddings]
    return torch.cat(embeds).norm(dim=-1).mean()


@contextlib.contextmanager
def extra_sparse_prompt(sam: SAM2Base, tokens: Tensor) -> Iterator[None]:
    """Append ``tokens`` to every sparse prompt embedding inside the block.

    A forward hook on ``sam.sam_prompt_encoder`` turns its sparse output
    (B, P, C) into (B, P + k, C); the mask decoder then attends to the k
    extra tokens like to point tokens. The hook is removed on exit, also when
    the block raises.

    Args:
        tokens: (B, k, C) with C = ``sam.sam_prompt_embed_dim``.
    """
    _check_tokens(sam, tokens)

    def append_tokens(module, args, output):
        sparse, dense = output
        if sparse.size(0) != tokens.size(0):
            raise ValueError(
                f'extra sparse prompt for {tokens.size(0)} objects, the prompt '
                f'encoder got {sparse.size(0)}'
            )
        return torch.cat([sparse, tokens.to(sparse.dtype)], dim=1), dense

    handle = sam.sam_prompt_encoder.register_forward_hook(append_tokens)
    try:
        yield
    finally:
        handle.remove()


def _check_tokens(sam: SAM2Base, tokens: Tensor) -> None:
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


# --------------------------------------------------------------------------
# Tracking
# --------------------------------------------------------------------------
def _empty_output_dict() -> dict:
    return {'cond_frame_outputs': {}, 'non_cond_frame_outputs': {}}


def _high_res_features(
    vision_feats: list[Tensor], feat_sizes: list[tuple[int, int]]
) -> list[Tensor] | None:
    """(HW, B, C) levels but the last → (B, C, H, W), as ``_track_step``."""
    if len(vision_feats) <= 1:
        return None
    return [
        x.permute(1, 2, 0).reshape(x.size(1), x.size(2), *s)
        for x, s in zip(vision_feats[:-1], feat_sizes[:-1])
    ]


def decode_first_frame(
    sam: SAM2Base,
    vision_feats: list[Tensor],
    vision_pos_embeds: list[Tensor],
    feat_sizes: list[tuple[int, int]],
    num_frames: int,
    mask_inputs: Tensor | None = None,
    multimask_output: bool | None = None,
    point_inputs: dict | None = None,
) -> tuple:
    """SAM heads on the initial conditioning frame (``_track_step``'s path).

    With a mask prompt and ``use_mask_input_as_output_without_sam`` (all
    sam2.1 configs) the mask is the output (``_use_mask_as_output``);
    otherwise the no-memory feature goes through ``_forward_sam_heads`` with
    no clicks (SAM2 pads a single -1 point; extra sparse tokens enter through
    :func:`extra_sparse_prompt`).

    Args:
        mask_inputs: (B, 1, S, S) float, or None.
        multimask_output: None follows ``sam._use_multimask(True, points)``.
        point_inputs: clicks, ``dict(point_coords=(B, N, 2) float in
            pixels of the S × S input, point_labels=(B, N) int32)`` (1
            positive, 0 negative), or None.

    Returns:
        ``_forward_sam_heads``'s tuple ``(low_res_multimasks,
        high_res_multimasks, ious, low_res_masks, high_res_masks, obj_ptr,
        object_score_logits)``.
    """
    high_res = _high_res_features(vision_feats, feat_sizes)
    if mask_inputs is not None and sam.use_mask_input_as_output_without_sam:
        pix_feat = vision_feats[-1].permute(1, 2, 0)
        pix_feat = pix_feat.reshape(-1, sam.hidden_dim, *feat_sizes[-1])
        return sam._use_mask_as_output(pix_feat, high_res, mask_inputs)
    pix_feat = sam._prepare_memory_conditioned_features(
        frame_idx=0,
        is_init_cond_frame=True,
        current_vision_feats=vision_feats[-1:],
        current_vision_pos_embeds=vision_pos_embeds[-1:],
        feat_sizes=feat_sizes[-1:],
        output_dict=_empty_output_dict(),
        num_frames=num_frames,
    )
    if multimask_output is None:
        multimask_output = sam._use_multimask(True, point_inputs)
    return sam._forward_sam_heads(
        backbone_features=pix_feat,
        point_inputs=point_inputs,
        mask_inputs=mask_inputs,
        high_res_features=high_res,
        multimask_output=multimask_output,
    )


def _frame_output(sam_outputs: tuple) -> dict:
    """The entries ``track_step`` stores for a frame from the SAM heads."""
    _, _, ious, low_res, high_res, obj_ptr, score = sam_outputs
    return {
        'pred_masks': low_res,
        'pred_masks_high_res': high_res,
        'obj_ptr': obj_ptr,
        'object_score_logits': score,
        'ious': ious,
    }


def encode_conditioning_memory(
    sam: SAM2Base,
    vision_feats: list[Tensor],
    feat_sizes: list[tuple[int, int]],
    out: dict,
    memory_dtype: torch.dtype,
) -> None:
    """Encode a prompted frame's memory as ``propagate_in_video_preflight``.

    The predictor runs the prompted frame without the memory encoder, then
    encodes the memory from the *low-res* logits upsampled to S × S (not
    from the frame's high-res output, which for a mask prompt is the ±10
    mask itself), with ``is_mask_from_pts=True``, and keeps the features in
    bfloat16. Fills ``out['maskmem_features']`` (B, mem_dim, S/16, S/16) and
    ``out['maskmem_pos_enc']``.
    """
    if sam.num_maskmem == 0:
        out['maskmem_features'] = out['maskmem_pos_enc'] = None
        return
    size = (sam.image_size, sam.image_size)
    high_res_masks = F.interpolate(
        out['pred_masks'], size=size, mode='bilinear', align_corners=False
    )
    features, pos_enc = sam._encode_new_memory(
        current_vision_feats=vision_feats,
        feat_sizes=feat_sizes,
        pred_masks_high_res=high_res_masks,
        object_score_logits=out['object_score_logits'],
        is_mask_from_pts=True,
    )
    out['maskmem_features'] = features.to(memory_dtype)
    out['maskmem_pos_enc'] = pos_enc


def track_frame(
    sam: SAM2Base,
    frame_idx: int,
    vision_feats: list[Tensor],
    vision_pos_embeds: list[Tensor],
    feat_sizes: list[tuple[int, int]],
    output_dict: dict,
    num_frames: int,
    memory_dtype: torch.dtype,
) -> dict:
    """Track one unprompted frame from the memory bank in ``output_dict``.

    This is ``sam.track_step(..., run_mem_encoder=True)`` split into its two
    calls (``_track_step`` and ``_encode_memory_in_output``), as SAM2's
    training model does, so that the object scores and IoUs are returned in
    training mode too; the memory features are then cast to
    ``memory_dtype`` as the video predictor does (bfloat16).
    """
    out, sam_outputs, _, _ = sam._track_step(
        frame_idx=frame_idx,
        is_init_cond_frame=False,
        current_vision_feats=vision_feats,
        current_vision_pos_embeds=vision_pos_embeds,
        feat_sizes=feat_sizes,
        point_inputs=None,
        mask_inputs=None,
        output_dict=output_dict,
        num_frames=num_frames,
        track_in_reverse=False,
        prev_sam_mask_logits=None,
    )
    out.update(_frame_output(sam_outputs))
    sam._encode_memory_in_output(
        vision_feats,
        feat_sizes,
        None,
        True,
        out['pred_masks_high_res'],
        out['object_score_logits'],
        out,
    )
    if out['maskmem_features'] is not None:
        out['maskmem_features'] = out['maskmem_features'].to(memory_dtype)
    return out


def track_clip(
    sam: SAM2Base,
    frames: Tensor,
    frame0: dict,
    memory_dtype: torch.dtype = torch.bfloat16,
    frozen_encoder: bool = True,
    multimask_output: bool | None = None,
    backbone_out: dict | None = None,
    tracking_heads: tuple[nn.Module, nn.Module] | None = None,
    frame0_encoded: dict | None = None,
) -> dict:
    """Prompt SAM2 on frame 0 and track the object through the clip.

    Frame 0 is the only conditioning frame. Frames 1..T-1 get no prompt and
    are segmented from SAM2's memory bank. The B clips are tracked as a
    batch of B objects. Gradients flow to every frame's logits when called
    under grad (except through the frozen image encoder).

    Matches ``SAM2VideoPredictor`` (``add_new_mask`` on frame 0, then
    ``propagate_in_video``) for the same weights and frames: frame 0 runs
    without the memory encoder and its memory is encoded afterwards from the
    upsampled low-res logits (:func:`encode_conditioning_memory`); memory
    features are kept in ``memory_dtype``. Post-processing (hole filling,
    non-overlap constraints) is off, as in :func:`build_sam2_model`.

    Args:
        frames: (B, T, 3, S, S), normalised with :data:`SAM2_IMG_MEAN` /
            :data:`SAM2_IMG_STD`.
        frame0: the prompt of frame 0, either
            ``dict(mask_inputs=(B, 1, H, W) bool / float)`` (a mask, resized
            to S × S as ``add_new_mask`` does) or
            ``dict(sparse_tokens=(B, k, C))`` (tokens appended to the sparse
            prompt embeddings, no clicks) or ``dict(point_inputs=dict(
            point_coords=(B, N, 2), point_labels=(B, N)))`` (clicks in
            pixels of the S × S input, as ``add_new_points`` gives SAM2).
        memory_dtype: dtype of the stored memory features (bfloat16 as the
            video predictor; float32 keeps full precision).
        frozen_encoder: run the image encoder under ``no_grad``.
        multimask_output: for a token prompt on frame 0; None follows
            ``sam._use_multimask(is_init_cond_frame=True, point_inputs=None)``.
        backbone_out: optional :func:`encode_frames` output for
            ``frames.flatten(0, 1)`` (B·T frames in (B, T) order); by default
            each time step's B frames are encoded in turn.
        tracking_heads: optional ``(prompt_encoder, mask_decoder)`` used
            instead of ``sam``'s own for frames 1..T-1 (and for their
            ``conv_s0`` / ``conv_s1`` high-resolution features), e.g. frozen
            copies of the pre-trained ones while ``sam``'s were fine-tuned
            on frame 0. Not combinable with ``backbone_out``, whose
            high-resolution features were projected by ``sam``'s decoder.
        frame0_encoded: optional :func:`encode_frames` output for
            ``frames[:, 0]``, when the caller already encoded frame 0 (e.g.
            to make its prompt from it); frame 0 is then not encoded again.

    Returns:
        dict with
        - ``low_res_logits``: (B, T, 1, S/4, S/4) mask logits (-1024 where
          the object score is ≤ 0)
        - ``high_res_logits``: (B, T, 1, S, S) the same, upsampled
        - ``object_score_logits``: (B, T, 1)
        - ``ious``: (B, T) the predicted IoU of each chosen mask (1 for a
          mask prompt)
        - ``frame0_multimask_logits``: (B, M, S/4, S/4) and
          ``frame0_multimask_ious``: (B, M), all of frame 0's candidates
        - ``output_dict``: SAM2's memory bank after the last frame.
    """
    B, T = _check_frames(sam, frames)
    mask_inputs, tokens, points = _parse_frame0(sam, frame0, B, frames.device)
    if tracking_heads is not None and backbone_out is not None:
        raise ValueError(
            'tracking_heads needs the tracked frames encoded with its own '
            'conv_s0 / conv_s1: do not pass backbone_out with it'
        )
    output_dict = _empty_output_dict()

    def features(t: int) -> tuple:
        if t == 0 and frame0_encoded is not None:
            return select_frame_features(sam, frame0_encoded, slice(None))
        if backbone_out is not None:
            index = torch.arange(B, device=frames.device) * T + t
            return select_frame_features(sam, backbone_out, index)
        encoded = encode_frames(sam, frames[:, t], frozen_encoder)
        return select_frame_features(sam, encoded, slice(None))

    feats, pos, sizes = features(0)
    prompt = (
        extra_sparse_prompt(sam, tokens)
        if tokens is not None
        else contextlib.nullcontext()
    )
    with prompt:
        sam_outputs = decode_first_frame(
            sam, feats, pos, sizes, T, mask_inputs, multimask_output, points
        )
    out = _frame_output(sam_outputs)
    encode_conditioning_memory(sam, feats, sizes, out, memory_dtype)
    output_dict['cond_frame_outputs'][0] = out
    outs = [out]
    heads = (
        swapped_heads(sam, *tracking_heads)
        if tracking_heads is not None
        else contextlib.nullcontext()
    )
    with heads:
        for t in range(1, T):
            feats, pos, sizes = features(t)
            out = track_frame(sam, t, feats, pos, sizes, output_dict, T, memory_dtype)
            output_dict['non_cond_frame_outputs'][t] = out
            outs.append(out)
    return _collect(sam_outputs, outs, output_dict)


@contextlib.contextmanager
def swapped_heads(
    sam: SAM2Base, prompt_encoder: nn.Module, mask_decoder: nn.Module
) -> Iterator[None]:
    """Use another prompt encoder and mask decoder inside the block.

    ``SAM2Base`` calls ``self.sam_prompt_encoder`` / ``self.sam_mask_decoder``
    by attribute, so swapping them re-routes every SAM-head call; the
    originals are put back on exit, also when the block raises.
    """
    saved = sam.sam_prompt_encoder, sam.sam_mask_decoder
    sam.sam_prompt_encoder, sam.sam_mask_decoder = prompt_encoder, mask_decoder
    try:
        yield
    finally:
        sam.sam_prompt_encoder, sam.sam_mask_decoder = saved


def _check_frames(sam: SAM2Base, frames: Tensor) -> tuple[int, int]:
    S = sam.image_size
    if frames.dim() != 5 or tuple(frames.shape[2:]) != (3, S, S):
        raise ValueError(
            f'frames must be (B, T, 3, {S}, {S}), got {tuple(frames.shape)}'
        )
    return frames.size(0), frames.size(1)


def _parse_frame0(
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
    _check_tokens(sam, prompt)
    return None, prompt.to(device), None


def _collect(frame0_outputs: tuple, outs: list[dict], output_dict: dict) -> dict:
    """Stack the per-frame outputs along a time dimension (dim 1)."""
    low_res_multimasks, _, multimask_ious = frame0_outputs[:3]
    ious = [o['ious'].max(dim=1).values for o in outs]
    high_res = [_upsampled_prompt_logits(outs[0])]
    high_res += [o['pred_masks_high_res'] for o in outs[1:]]
    return {
        'low_res_logits': torch.stack([o['pred_masks'] for o in outs], 1),
        'high_res_logits': torch.stack(high_res, 1),
        'object_score_logits': torch.stack([o['object_score_logits'] for o in outs], 1),
        'ious': torch.stack(ious, 1),
        'frame0_multimask_logits': low_res_multimasks,
        'frame0_multimask_ious': multimask_ious,
        'output_dict': output_dict,
    }


def _upsampled_prompt_logits(out: dict) -> Tensor:
    """Frame 0's (B, 1, S, S) logits: its low-res logits upsampled.

    Tracked frames' ``pred_masks_high_res`` are exactly that; for a mask
    prompt it is the ±10 input mask, which the predictor never outputs (it
    upsamples the stored low-res logits), so upsample here on frame 0.
    """
    return F.interpolate(
        out['pred_masks'],
        size=out['pred_masks_high_res'].shape[-2:],
        mode='bilinear',
        align_corners=False,
    )
