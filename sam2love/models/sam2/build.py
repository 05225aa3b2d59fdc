"""Build a SAM2 from the ``sam2`` package; load and export its weights.

- :func:`build_sam2_model` builds a ``SAM2Base`` from the package's Hydra
  configs (any image size) and loads an official checkpoint;
  :func:`small_sam2_overrides` gives a 3 M-parameter variant for CPU tests.
- :func:`init_local_memory_attention` makes a random-init SAM2's memory
  attention start by reading where the object was.
- :func:`export_sam2_weights` writes a trained SAM2 in the official format.
"""

from __future__ import annotations

import torch
from sam2.modeling.sam2_base import SAM2Base

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



def export_sam2_weights(checkpoint_path: str, out_path: str,
                        prefix: str = 'sam.') -> dict:
    """Write a stage-1 checkpoint's SAM2 in the official format.

    Reads an mmengine checkpoint (``{'state_dict': ...}``, e.g.
    ``work_dir/iter_N.pth``) or a bare state dict, keeps the entries under
    ``prefix`` (``SAM2TrackerPretrainer.sam``) without the prefix, and saves
    ``{'model': SAM2Base state_dict}``, which ``SAM2PromptHead(checkpoint=
    out_path)`` loads with ``weights_only=True``.

    Returns:
        dict: the exported state dict.
    """
    from ...utils import allow_mmengine_checkpoints
    allow_mmengine_checkpoints()
    ckpt = torch.load(checkpoint_path, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise RuntimeError(f'{checkpoint_path}: not a checkpoint '
                           f'(got {type(ckpt).__name__})')
    model = {k[len(prefix):]: v.detach().clone()
             for k, v in state.items() if k.startswith(prefix)}
    if not model:
        raise RuntimeError(
            f'{checkpoint_path}: no "{prefix}*" weights (is it a '
            f'SAM2TrackerPretrainer checkpoint?); first keys: '
            f'{list(state)[:5]}')
    torch.save({'model': model}, out_path)
    return model
