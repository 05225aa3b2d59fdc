"""Track K objects through frames pushed one at a time, in bounded memory.

:func:`~sam2love.models.decode_heads.sam2_tracker.track_clip` takes a
whole (B, T, 3, S, S) clip and keeps every frame's output; a video of any
length needs the frames to come and go. :class:`StreamingTracker` drives
the same ``SAM2Base`` steps (``decode_first_frame`` then ``track_frame``
per frame, as ``SAM2VideoPredictor`` does) on one frame at a time:

- the frame goes through SAM2's image encoder **once**, and its features
  are expanded to the K objects (as ``SAM2VideoPredictor._get_image_feature``
  expands them to its batch of objects), so K expressions cost one image
  encoding per frame;
- after each frame, the memory bank drops what SAM2 will never read again
  (:func:`prune_memory_bank`): the non-conditioning frames older than the
  ``num_maskmem`` memory frames (with ``memory_temporal_stride_for_eval``)
  and the ``max_obj_ptrs_in_encoder`` object pointers that
  ``SAM2Base._prepare_memory_conditioned_features`` selects. Between
  frames the bank then holds at most :func:`memory_window` + 1 frames (the
  conditioning frame 0 and the last ``memory_window``), however long the
  video.

The outputs equal ``track_clip``'s for the same frames (to float rounding
when K > 1, since ``track_clip`` encodes K copies of each frame).
"""
from __future__ import annotations

import contextlib

import torch
from sam2.modeling.sam2_base import SAM2Base
from torch import Tensor

from ..models.decode_heads.sam2_tracker import (
    _empty_output_dict,
    _frame_output,
    decode_first_frame,
    encode_conditioning_memory,
    encode_frames,
    extra_sparse_prompt,
    prepare_mask_prompt,
    select_frame_features,
    swapped_heads,
    track_frame,
)

#: ``num_frames`` given to SAM2 when the video's length is unknown; SAM2
#: only uses it as ``min(num_frames, max_obj_ptrs_in_encoder)`` when
#: tracking forwards.
UNKNOWN_NUM_FRAMES = 1 << 30


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


class StreamingTracker:
    """SAM2 tracking of K objects over frames pushed in order.

    Args:
        head (SAM2PromptHead): the decode head (its SAM2, token projection,
            tracking decoder, multimask rule and memory dtype).
        prompt (Tensor, optional): (K, 1, D) fused tokens: frame 0 is
            decoded from them, as ``SAM2PromptHead.predict`` does.
        mask_inputs (Tensor, optional): (K, 1, H, W) frame-0 masks instead
            (bare SAM2: the mask is the frame's output, as
            ``SAM2VideoPredictor.add_new_mask``).
        num_frames (int, optional): frames the video will have (SAM2 caps
            its object pointers at it); unknown by default.

    Example::

        tracker = StreamingTracker(model.decode_head, prompt)  # (K, 1, D)
        for frame in frames:            # (3, H, W) normalised, in order
            out = tracker.push(frame)   # out['logits']: (K, S/4, S/4)
    """

    def __init__(self, head, prompt: Tensor | None = None,
                 mask_inputs: Tensor | None = None,
                 num_frames: int | None = None) -> None:
        if (prompt is None) == (mask_inputs is None):
            raise ValueError('StreamingTracker: give prompt or mask_inputs')
        self.head = head
        self.sam: SAM2Base = head.sam
        self.num_frames = num_frames or UNKNOWN_NUM_FRAMES
        self.prompt = prompt
        self.tokens = None  # made from the prompt when frame 0 arrives
        self.mask_inputs = None if mask_inputs is None else \
            prepare_mask_prompt(self.sam, mask_inputs)
        lead = prompt if prompt is not None else self.mask_inputs
        self.num_objects = lead.size(0)
        self.output_dict = _empty_output_dict()
        self.frame_idx = 0
        self.max_stored = 0

    @property
    def stored_frames(self) -> int:
        """Frames whose outputs the memory bank holds now (``max_stored``:
        the most it held between two frames)."""
        return sum(len(v) for v in self.output_dict.values())

    def _encode(self, frame: Tensor) -> dict:
        """Encode one frame, expand its features to the K objects."""
        frame = self.head._fit_frames(frame.unsqueeze(0))
        encoded = encode_frames(self.sam, frame,
                                self.head.image_encoder_frozen)
        k = self.num_objects
        return {
            'vision_features': encoded['vision_features'].expand(
                k, -1, -1, -1),
            'backbone_fpn': [x.expand(k, -1, -1, -1)
                             for x in encoded['backbone_fpn']],
            'vision_pos_enc': [x.expand(k, -1, -1, -1)
                               for x in encoded['vision_pos_enc']],
        }

    def _features(self, frame: Tensor) -> tuple:
        return select_frame_features(self.sam, self._encode(frame),
                                     slice(None))

    @torch.no_grad()
    def push(self, frame: Tensor) -> dict:
        """Segment the next frame.

        Args:
            frame (Tensor): (3, H, W) normalised as the model's data
                preprocessor does; resized to S x S when needed.

        Returns:
            dict: ``logits`` (K, S/4, S/4) mask logits (-1024 where the
            object score is <= 0), ``object_score_logits`` (K,) and
            ``ious`` (K,), the predicted IoU of each kept mask.
        """
        sam, head, t = self.sam, self.head, self.frame_idx
        if t == 0:
            encoded = self._encode(frame)
            if self.prompt is not None:
                self.tokens = head.frame0_tokens(self.prompt, encoded)
            feats, pos, sizes = select_frame_features(sam, encoded,
                                                      slice(None))
            prompt = extra_sparse_prompt(sam, self.tokens) \
                if self.tokens is not None else contextlib.nullcontext()
            with prompt:
                outputs = decode_first_frame(
                    sam, feats, pos, sizes, self.num_frames,
                    self.mask_inputs, head.multimask_output
                    if self.tokens is not None else None)
            out = _frame_output(outputs)
            encode_conditioning_memory(sam, feats, sizes, out,
                                       head.memory_dtype)
            self.output_dict['cond_frame_outputs'][0] = out
        else:
            heads = head._tracking_heads()
            with swapped_heads(sam, *heads) if heads is not None \
                    else contextlib.nullcontext():
                feats, pos, sizes = self._features(frame)
                out = track_frame(sam, t, feats, pos, sizes,
                                  self.output_dict, self.num_frames,
                                  head.memory_dtype)
            self.output_dict['non_cond_frame_outputs'][t] = out
        self.frame_idx += 1
        prune_memory_bank(sam, self.output_dict, self.frame_idx)
        self.max_stored = max(self.max_stored, self.stored_frames)
        return dict(logits=out['pred_masks'][:, 0].float(),
                    object_score_logits=out['object_score_logits'][:, 0]
                    .float(),
                    ious=out['ious'].max(dim=1).values.float())
