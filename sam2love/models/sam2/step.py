"""One frame of SAM2 video tracking, as ``SAM2VideoPredictor`` runs it.

:class:`TrackingState` holds SAM2's memory bank for B objects and adds one
frame at a time (:meth:`TrackingState.step`): frame 0 is decoded from its
prompt (:func:`decode_first_frame`) and its memory encoded afterwards
(:func:`encode_conditioning_memory`); every later frame is segmented from
the memory bank (:func:`track_frame`). Both the clip loop
(:func:`~.tracker.track_clip`) and the streaming tracker
(:class:`~.tracker.StreamingTracker`) run this step.

Shapes follow SAM2's notation: S = ``sam.image_size``, C =
``sam.hidden_dim``; features (HW, B, C) as ``_prepare_backbone_features``
gives them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F
from sam2.modeling.sam2_base import SAM2Base
from torch import Tensor, nn

from .hooks import extra_sparse_prompt, swapped_heads

#: ``(vision_feats, vision_pos_embeds, feat_sizes)`` of one frame's B
#: objects (:func:`~.features.select_frame_features`).
FrameFeatures = tuple[list[Tensor], list[Tensor], list[tuple[int, int]]]


def new_memory_bank() -> dict:
    """An empty SAM2 ``output_dict`` (conditioning and other frames)."""
    return {'cond_frame_outputs': {}, 'non_cond_frame_outputs': {}}


def memory_window(sam: SAM2Base) -> int:
    """How many frames back SAM2 reads a non-conditioning frame's output.

    ``_prepare_memory_conditioned_features`` reads memory features of the
    ``num_maskmem - 1`` previous frames (every ``r``-th one beyond the last,
    ``r = memory_temporal_stride_for_eval``) and object pointers of the
    ``max_obj_ptrs_in_encoder - 1`` previous frames.
    """
    stride = sam.memory_temporal_stride_for_eval
    memories = (sam.num_maskmem - 1) * stride + 1 if sam.num_maskmem else 0
    pointers = sam.max_obj_ptrs_in_encoder if sam.use_obj_ptrs_in_encoder \
        else 0
    return max(memories, pointers, 1)


def prune_memory_bank(sam: SAM2Base, output_dict: dict,
                      next_frame: int) -> int:
    """Drop the non-conditioning outputs that tracking ``next_frame`` and
    any later frame will not read (forward tracking); returns how many
    were dropped. Conditioning frames are always kept."""
    oldest = next_frame - memory_window(sam)
    bank = output_dict['non_cond_frame_outputs']
    stale = [t for t in bank if t < oldest]
    for t in stale:
        del bank[t]
    return len(stale)


@dataclasses.dataclass(eq=False)
class TrackingState:
    """SAM2's memory bank of B objects and the step that adds a frame.

    Args:
        sam: the SAM2.
        num_frames: frames of the video (SAM2 caps its object pointers at
            it).
        memory_dtype: dtype of the stored memory features (bfloat16 as the
            video predictor; float32 keeps full precision).
        multimask_output: for frame 0's decoding; None follows
            ``sam._use_multimask(is_init_cond_frame=True, point_inputs)``.
        tracking_heads: optional ``(prompt_encoder, mask_decoder)`` used
            instead of ``sam``'s own on frames 1.. (and for their
            ``conv_s0`` / ``conv_s1`` features: the step encodes a tracked
            frame under them).
        prune: after each frame, drop what SAM2 will never read again
            (:func:`prune_memory_bank`): between frames the bank then holds
            at most :func:`memory_window` + 1 frames.
    """

    sam: SAM2Base
    num_frames: int
    memory_dtype: torch.dtype = torch.bfloat16
    multimask_output: bool | None = None
    tracking_heads: tuple[nn.Module, nn.Module] | None = None
    prune: bool = False
    output_dict: dict = dataclasses.field(default_factory=new_memory_bank)
    frame_idx: int = 0
    #: ``_forward_sam_heads``'s tuple of frame 0 (all its candidates)
    frame0_outputs: tuple | None = None
    #: the most frames the bank held between two steps
    max_stored: int = 0

    @property
    def stored_frames(self) -> int:
        """Frames whose outputs the memory bank holds now."""
        return sum(len(v) for v in self.output_dict.values())

    def step(self, features: Callable[[], FrameFeatures],
             frame0: tuple | None = None) -> dict:
        """Segment the next frame and add it to the memory bank.

        Args:
            features: gives the frame's features (called under the heads
                that track it).
            frame0: on frame 0 only, :func:`~.prompts.parse_frame0`'s
                ``(mask_inputs, sparse_tokens, point_inputs)``.

        Returns:
            dict: SAM2's per-frame output (``pred_masks`` (B, 1, S/4, S/4)
            logits, -1024 where the object score is <= 0;
            ``pred_masks_high_res`` (B, 1, S, S); ``object_score_logits``
            (B, 1); ``ious`` (B, M); ``obj_ptr``; the memory features).
        """
        sam, t = self.sam, self.frame_idx
        if (t == 0) != (frame0 is not None):
            raise ValueError('TrackingState.step: frame 0, and only frame 0, '
                             'takes a prompt')
        if t == 0:
            feats, pos, sizes = features()
            mask_inputs, tokens, points = frame0
            prompt = extra_sparse_prompt(sam, tokens) \
                if tokens is not None else contextlib.nullcontext()
            with prompt:
                self.frame0_outputs = decode_first_frame(
                    sam, feats, pos, sizes, self.num_frames, mask_inputs,
                    self.multimask_output, points)
            out = frame_output(self.frame0_outputs)
            encode_conditioning_memory(sam, feats, sizes, out,
                                       self.memory_dtype)
            self.output_dict['cond_frame_outputs'][0] = out
        else:
            heads = swapped_heads(sam, *self.tracking_heads) \
                if self.tracking_heads is not None \
                else contextlib.nullcontext()
            with heads:
                feats, pos, sizes = features()
                out = track_frame(sam, t, feats, pos, sizes, self.output_dict,
                                  self.num_frames, self.memory_dtype)
            self.output_dict['non_cond_frame_outputs'][t] = out
        self.frame_idx += 1
        if self.prune:
            prune_memory_bank(sam, self.output_dict, self.frame_idx)
        self.max_stored = max(self.max_stored, self.stored_frames)
        return out


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
        output_dict=new_memory_bank(),
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


def decode_frame0_candidates(sam: SAM2Base, tokens: Tensor,
                             backbone_out: dict,
                             multimask_output: bool) -> tuple:
    """SAM2's heads on frame 0 prompted by ``tokens``, before object gating.

    Mirrors ``SAM2Base._forward_sam_heads`` for an initial conditioning
    frame without clicks or memory (the no-click padding point kept), and
    returns the mask decoder's raw outputs, which training supervises.

    Args:
        tokens: (B, k, C) sparse prompt tokens.
        backbone_out: :func:`~.features.encode_frames` of the B frames.

    Returns:
        ``masks`` (B, M, S/4, S/4) logits, ``ious`` (B, M),
        ``object_score_logits`` (B, 1); M = 3 with multimask, else 1.
    """
    _, feats, pos, sizes = sam._prepare_backbone_features(backbone_out)
    pix_feat = sam._prepare_memory_conditioned_features(
        frame_idx=0, is_init_cond_frame=True,
        current_vision_feats=feats[-1:],
        current_vision_pos_embeds=pos[-1:], feat_sizes=sizes[-1:],
        output_dict=new_memory_bank(), num_frames=1)
    high_res = [x.permute(1, 2, 0).view(x.size(1), x.size(2), *s)
                for x, s in zip(feats[:-1], sizes[:-1])]
    b = tokens.size(0)
    points = (tokens.new_zeros(b, 1, 2),
              -torch.ones(b, 1, dtype=torch.int32, device=tokens.device))
    sparse, dense = sam.sam_prompt_encoder(points=points, boxes=None,
                                           masks=None)
    masks, ious, _, obj = sam.sam_mask_decoder(
        image_embeddings=pix_feat,
        image_pe=sam.sam_prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=torch.cat([sparse, tokens], dim=1),
        dense_prompt_embeddings=dense,
        multimask_output=multimask_output,
        repeat_image=False,
        high_res_features=high_res)
    return masks, ious, obj


def frame_output(sam_outputs: tuple) -> dict:
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
    out.update(frame_output(sam_outputs))
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
