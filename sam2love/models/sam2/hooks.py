"""Context managers that reroute or record SAM2's prompt encoder and mask
decoder while ``SAM2Base``'s own methods run unchanged."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from sam2.modeling.sam2_base import SAM2Base
from torch import Tensor, nn

from .prompts import check_tokens


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
    check_tokens(sam, tokens)

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


@contextlib.contextmanager
def record_mask_decoder(sam) -> Iterator[list]:
    """Record every ``sam.sam_mask_decoder`` call inside the block.

    Yields a list that receives, per call, ``(masks, ious,
    object_score_logits, image_embeddings)``: (B, M, S/4, S/4) mask logits
    *before* the object-score gating of ``_forward_sam_heads``, (B, M)
    predicted IoUs, (B, 1) object-score logits and the (B, C, S/16, S/16)
    image embeddings the decoder read (on a tracked frame: conditioned on
    the memory bank). The hook is removed on exit.
    """
    calls = []

    def record(module, args, kwargs, output):
        masks, ious, _, scores = output
        embeddings = kwargs.get('image_embeddings', args[0] if args else None)
        calls.append((masks, ious, scores, embeddings))

    handle = sam.sam_mask_decoder.register_forward_hook(record,
                                                        with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()
