"""Track objects through in-memory clips and streamed frames with SAM2.

``SAM2VideoPredictor`` only reads JPEG folders or mp4 files. This module
drives the same ``SAM2Base`` methods on tensors instead, one
:meth:`~.step.TrackingState.step` per frame, the way SAM2's training model
and the video predictor do:

- :func:`track_clip` prompts frame 0 of (B, T, 3, S, S) clips with a mask,
  clicks or tokens and tracks frames 1..T-1 with no prompt, matching
  ``SAM2VideoPredictor`` numerically; called under grad, every frame's
  logits get gradients;
- :class:`StreamingTracker` takes one frame at a time, encodes it once for
  its K objects and keeps only what SAM2's memory bank will read again, so
  a video of any length is tracked in bounded memory. Its outputs equal
  ``track_clip``'s for the same frames (to float rounding when K > 1,
  since ``track_clip`` encodes K copies of each frame).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sam2.modeling.sam2_base import SAM2Base
from torch import Tensor, nn

from .features import encode_frames, expand_encoded, select_frame_features
from .prompts import parse_frame0
from .step import FrameFeatures, TrackingState

#: ``num_frames`` given to SAM2 when the video's length is unknown; SAM2
#: only uses it as ``min(num_frames, max_obj_ptrs_in_encoder)`` when
#: tracking forwards.
UNKNOWN_NUM_FRAMES = 1 << 30


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
    prompt = parse_frame0(sam, frame0, B, frames.device)
    if tracking_heads is not None and backbone_out is not None:
        raise ValueError(
            'tracking_heads needs the tracked frames encoded with its own '
            'conv_s0 / conv_s1: do not pass backbone_out with it'
        )

    def features(t: int) -> FrameFeatures:
        if t == 0 and frame0_encoded is not None:
            return select_frame_features(sam, frame0_encoded, slice(None))
        if backbone_out is not None:
            index = torch.arange(B, device=frames.device) * T + t
            return select_frame_features(sam, backbone_out, index)
        encoded = encode_frames(sam, frames[:, t], frozen_encoder)
        return select_frame_features(sam, encoded, slice(None))

    state = TrackingState(sam, T, memory_dtype, multimask_output,
                          tracking_heads)
    outs = [state.step(lambda: features(0), prompt)]
    for t in range(1, T):
        outs.append(state.step(lambda t=t: features(t)))
    return _collect(state.frame0_outputs, outs, state.output_dict)


class StreamingTracker:
    """SAM2 tracking of K objects over frames pushed in order.

    Each frame goes through SAM2's image encoder once and its features are
    expanded to the K objects (:func:`~.features.expand_encoded`); after
    each frame the memory bank drops what SAM2 will never read again (the
    non-conditioning frames older than ``num_maskmem`` memory frames and
    the ``max_obj_ptrs_in_encoder`` object pointers), so between frames it
    holds at most :func:`~.step.memory_window` + 1 frames however long the
    video.

    Args:
        sam: the SAM2.
        num_objects: K.
        num_frames: frames the video will have (SAM2 caps its object
            pointers at it); unknown by default.
        memory_dtype, multimask_output, tracking_heads: as
            :class:`~.step.TrackingState`.
        frozen_encoder: run the image encoder under ``no_grad``.

    Example::

        tracker = StreamingTracker(sam, num_objects=len(masks))
        for t, frame in enumerate(frames):   # (1, 3, S, S) normalised
            frame0 = dict(mask_inputs=masks) if t == 0 else None
            out = tracker.push(frame, frame0=frame0)
            out['logits']                    # (K, S/4, S/4)
    """

    def __init__(self, sam: SAM2Base, num_objects: int,
                 num_frames: int | None = None,
                 memory_dtype: torch.dtype = torch.bfloat16,
                 multimask_output: bool | None = None,
                 tracking_heads: tuple[nn.Module, nn.Module] | None = None,
                 frozen_encoder: bool = True) -> None:
        self.sam = sam
        self.num_objects = num_objects
        self.frozen_encoder = frozen_encoder
        self.state = TrackingState(sam, num_frames or UNKNOWN_NUM_FRAMES,
                                   memory_dtype, multimask_output,
                                   tracking_heads, prune=True)

    @property
    def frame_idx(self) -> int:
        return self.state.frame_idx

    @property
    def max_stored(self) -> int:
        """The most frames the memory bank held between two frames."""
        return self.state.max_stored

    def encode(self, frame: Tensor) -> dict:
        """:func:`~.features.encode_frames` of a (1, 3, S, S) frame,
        expanded to the K objects."""
        encoded = encode_frames(self.sam, frame, self.frozen_encoder)
        return expand_encoded(encoded, self.num_objects)

    @torch.no_grad()
    def push(self, frame: Tensor | None = None, *, encoded: dict | None = None,
             frame0: dict | None = None) -> dict:
        """Segment the next frame.

        Args:
            frame: (1, 3, S, S) normalised as SAM2 expects.
            encoded: :meth:`encode` of the frame instead, when the caller
                has it (e.g. to make frame 0's tokens from it).
            frame0: frame 0's prompt for the K objects (as
                :func:`track_clip`'s); None on later frames.

        Returns:
            dict: ``logits`` (K, S/4, S/4) mask logits (-1024 where the
            object score is <= 0), ``object_score_logits`` (K,) and
            ``ious`` (K,), the predicted IoU of each kept mask.
        """
        if (frame is None) == (encoded is None):
            raise ValueError('StreamingTracker.push: give frame or encoded')
        sam = self.sam

        def features() -> FrameFeatures:
            return select_frame_features(
                sam, encoded if encoded is not None else self.encode(frame),
                slice(None))

        prompt = None if frame0 is None else parse_frame0(
            sam, frame0, self.num_objects,
            (frame if frame is not None else encoded['vision_features']).device)
        out = self.state.step(features, prompt)
        return dict(logits=out['pred_masks'][:, 0].float(),
                    object_score_logits=out['object_score_logits'][:, 0]
                    .float(),
                    ious=out['ious'].max(dim=1).values.float())


def _check_frames(sam: SAM2Base, frames: Tensor) -> tuple[int, int]:
    S = sam.image_size
    if frames.dim() != 5 or tuple(frames.shape[2:]) != (3, S, S):
        raise ValueError(
            f'frames must be (B, T, 3, {S}, {S}), got {tuple(frames.shape)}'
        )
    return frames.size(0), frames.size(1)


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
