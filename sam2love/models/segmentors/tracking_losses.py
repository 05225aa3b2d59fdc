"""The losses of ``SAM2TrackerPretrainer`` beyond the tracked frames' own.

SAM2-style losses of the tracked frames (mask, IoU of every candidate,
object score), and the auxiliary ones that make a small SAM2 trained from
scratch read its prompts and memory: a click or an appearance prototype
decoding a random frame without memory, the object found again by its look
in a later frame, a linear read-out of the memory-conditioned features.

- **Loss before object gating.** ``SAM2Base._forward_sam_heads`` replaces
  the mask logits with -1024 wherever the object score is <= 0, which sends
  no gradient to the mask decoder (at random init: most samples). The raw
  outputs of ``sam.sam_mask_decoder`` are recorded by a forward hook
  (:func:`~sam2love.models.sam2.hooks.record_mask_decoder`) while
  :func:`~sam2love.models.sam2.tracker.track_clip` runs unchanged, so the
  tracking is exactly the video
  predictor's and the loss sees the ungated candidates. As in SAM2's
  training: the mask loss (BCE + Dice; on the candidate mask of highest
  predicted IoU, which SAM2 outputs, see ``mask_candidate``), the
  IoU L1 on every candidate (SAM2's ``supervise_all_iou``: supervising the
  best one only left the tracker picking among its 3 candidates at random,
  mean IoU 0.22 where the best candidate reached 0.70) and a BCE on the
  object score (presence per frame). Unlike SAM2, frames where the object is
  absent also get the mask loss (an empty target): the small model then
  learns empty masks on both paths. The object score of frame 0's
  mask-prompt decoder call is trained too (target: present), as it gates
  frame 0's object pointer: at random init it is <= 0, the pointer is the
  constant ``no_obj_ptr`` and ``obj_ptr_proj`` would never get a gradient.
- **Sub-clips.** ``num_train_frames=k`` trains on a random contiguous window
  of k frames per clip (its first frame is the prompt), drawn from torch's
  global generator, which the runner seeds.
"""
import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor

from ..losses.mask_candidates import candidate_losses
from ..losses.referent_alignment import ReferentAlignmentLoss
from ..sam2.features import select_frame_features
from ..sam2.hooks import extra_sparse_prompt, record_mask_decoder
from ..sam2.prompts import point_embedding_norm
from ..sam2.step import decode_first_frame


class TrackingLossMixin:
    """Losses of :class:`~.sam2_tracker_pretrainer.SAM2TrackerPretrainer`
    (mixed into it)."""

    def _sub_clips(self, frames: Tensor, masks: Tensor
                   ) -> tuple[Tensor, Tensor]:
        """Random contiguous windows of ``num_train_frames`` per clip.

        Args:
            frames (Tensor): (B, T, 3, S, S).
            masks (Tensor): (B, T, h, w).

        Returns:
            The (B, k, ...) windows of both (the same window per clip).
        """
        k, t = self.num_train_frames, frames.size(1)
        if k is None or k >= t:
            return frames, masks
        starts = torch.randint(0, t - k + 1, (frames.size(0), ))
        index = starts[:, None] + torch.arange(k)
        rows = torch.arange(frames.size(0))[:, None]
        index = index.to(frames.device)
        return frames[rows, index], masks[rows, index.to(masks.device)]

    def _appearance_loss(self, backbone_out: dict, masks: Tensor) -> Tensor:
        """Find frame 0's object in another frame by its look
        (``appearance_loss_weight``).

        The object's frame-0 prototype (the unit mean of the stride-16
        image features under its mask) is compared with every cell of a
        random later frame with the object, in a softmax over that frame's
        cells (``ReferentAlignmentLoss(mode='pixel')``): the other objects
        of the clip are the negatives, those of the same colour included,
        so the features must tell them apart by shape.

        Args:
            backbone_out (dict): :func:`encode_frames` of the B·T frames.
            masks (Tensor): (B, T, h, w) {0, 1}; frame 0 has the object.

        Returns:
            Tensor: the weighted loss.
        """
        b, t = masks.shape[:2]
        feats = backbone_out['vision_features']
        feats = feats.reshape(b, t, *feats.shape[1:])  # (B, T, C, h', w')
        protos = ReferentAlignmentLoss.prototypes(feats[:, 0], masks[:, 0])
        present = masks[:, 1:].flatten(2).bool().any(2).float()  # (B, T-1)
        # an object gone from every later frame: any frame, whose empty
        # mask the loss leaves out
        present[present.sum(1) == 0] = 1
        frame = torch.multinomial(present, 1)[:, 0] + 1
        rows = torch.arange(b, device=masks.device)
        return self.appearance_align(protos, feats[rows, frame],
                                     masks[rows, frame])

    def _random_object_frames(self, backbone_out: dict, masks: Tensor
                              ) -> tuple:
        """One random frame per clip among those with the object.

        Returns:
            tuple: that frame's ``select_frame_features`` (features,
            positional encodings, sizes) and its (B, h, w) mask.
        """
        b, t = masks.shape[:2]
        present = masks.flatten(2).bool().any(2).float()  # (B, T)
        frame = torch.multinomial(present, 1)[:, 0]
        rows = torch.arange(b, device=masks.device)
        feats, pos, sizes = select_frame_features(
            self.sam, backbone_out, (rows * t + frame).to(
                backbone_out['vision_features'].device))
        return feats, pos, sizes, masks[rows, frame]

    def _random_frame_losses(self, backbone_out: dict, masks: Tensor,
                             prompt: str) -> dict:
        """One random frame per clip, with its object, decoded without
        memory from a prompt: ``'proto_aux'``, its object's appearance
        token (``prototype_loss_weight``), or ``'click_aux'``, a single
        positive click (``click_loss_weight``).

        Args:
            backbone_out (dict): :func:`encode_frames` of the B·T frames.
            masks (Tensor): (B, T, h, w) {0, 1}; frame 0 has the object.

        Returns:
            dict: ``loss_mask_<prompt>`` and ``loss_iou_<prompt>``.
        """
        feats, pos, sizes, target = self._random_object_frames(backbone_out,
                                                               masks)
        if prompt == 'proto_aux':
            cells = feats[-1].detach().permute(1, 2, 0).reshape(
                target.size(0), -1, *sizes[-1])  # (B, C, h/16, w/16)
            tokens = ReferentAlignmentLoss.prototypes(cells, target)[:, None] \
                * point_embedding_norm(self.sam).detach()
            context = extra_sparse_prompt(self.sam, tokens.to(cells.dtype))
            kwargs, rule, weight = {}, self.mask_candidate, \
                self.prototype_loss_weight
        else:
            context = contextlib.nullcontext()
            kwargs = dict(point_inputs=self._sample_clicks(target),
                          multimask_output=True)
            rule, weight = 'min', self.click_loss_weight
        with context, record_mask_decoder(self.sam) as calls:
            decode_first_frame(self.sam, feats, pos, sizes, num_frames=1,
                               **kwargs)
        return self._decoded_frame_losses(*calls[0][:2], target, prompt,
                                          rule, weight)

    def _sample_clicks(self, masks: Tensor) -> dict:
        """One positive click per clip, uniform over its frame-0 mask.

        Args:
            masks (Tensor): (B, h, w) {0, 1}, each with foreground.

        Returns:
            dict: ``point_coords`` (B, 1, 2) (x, y) in pixels of the S × S
            input, ``point_labels`` (B, 1) ones.
        """
        b, h, w = masks.shape
        flat = masks.flatten(1).float()
        index = torch.multinomial(flat / flat.sum(1, keepdim=True), 1)[:, 0]
        y, x = index // w, index % w
        size = self.sam.image_size
        coords = torch.stack([(x.float() + 0.5) * size / w,
                              (y.float() + 0.5) * size / h], -1)
        return dict(point_coords=coords[:, None],
                    point_labels=torch.ones(b, 1, dtype=torch.int32,
                                            device=masks.device))

    def _decoded_frame_losses(self, masks: Tensor, ious: Tensor,
                              target: Tensor, name: str, rule: str,
                              weight: float = 1.0) -> dict:
        """A frame decoded from a prompt without memory: the mask loss of
        the candidate ``rule`` picks (``'min'`` for a click, which is
        ambiguous, as SAM) and the IoU of every candidate, times
        ``weight``.

        Args:
            masks (Tensor): (B, M, s, s) logits before object gating.
            ious (Tensor): (B, M) predicted IoUs.
            target (Tensor): (B, h, w) {0, 1}.
            name (str): the keys are ``loss_mask_{name}`` and
                ``loss_iou_{name}``.
        """
        loss_mask, loss_iou = candidate_losses(masks, ious, target,
                                               self.loss_mask, rule)
        losses = {f'loss_mask_{name}': weight * loss_mask}
        if self.loss_iou_weight:
            losses[f'loss_iou_{name}'] = weight * self.loss_iou_weight * \
                loss_iou
        return losses

    def _tracking_losses(self, calls: list, targets: Tensor,
                         prompt_calls: list = ()) -> dict:
        """SAM2-style losses of the tracked frames.

        The object-score BCE also covers frame 0's mask-prompt decoder
        call (target: present): its object pointer is gated by that score
        (``fixed_no_obj_ptr``), so while it is <= 0 the pointer is the
        constant ``no_obj_ptr`` and ``obj_ptr_proj`` gets no gradient.

        Args:
            calls (list): per tracked frame, ``(masks (B, M, s, s), ious
                (B, M), scores (B, 1))`` before gating.
            targets (Tensor): (B, T-1, h, w) {0, 1}.
            prompt_calls (list): frame 0's decoder outputs (object present).
        """
        masks = torch.stack([c[0] for c in calls], 1).float()
        ious = torch.stack([c[1] for c in calls], 1).float()
        scores = torch.stack([c[2] for c in calls], 1).float()[..., 0]
        loss_mask, loss_iou = candidate_losses(
            masks.flatten(0, 1), ious.flatten(0, 1), targets.flatten(0, 1),
            self.loss_mask, self.mask_candidate)
        losses = dict(loss_mask=loss_mask)
        if self.loss_iou_weight:
            losses['loss_iou'] = self.loss_iou_weight * loss_iou
        if self.memory_readout_weight:
            losses['loss_memory'] = self._memory_readout_loss(calls, targets)
        if self.loss_obj_weight:
            present = targets.flatten(2).bool().any(2).float()
            if prompt_calls:
                prompted = torch.cat([c[2] for c in prompt_calls], 1).float()
                scores = torch.cat([prompted, scores], 1)
                present = torch.cat([torch.ones_like(prompted), present], 1)
            losses['loss_obj'] = self.loss_obj_weight * \
                F.binary_cross_entropy_with_logits(scores, present)
        return losses

    def _memory_readout_loss(self, calls: list, targets: Tensor) -> Tensor:
        """The tracked frames' masks read linearly from the image
        embeddings the decoder got, i.e. after memory attention
        (``memory_readout_weight``).

        Only the memory bank tells which object was prompted, so this
        gradient reaches the memory encoder and attention whatever the
        decoder has learned to read: without it the small SAM2 could settle
        on segmenting every salient object from the current frame alone
        (memory-blind, ceiling ~45 J&F) on some data seeds.

        Args:
            calls (list): :func:`record_mask_decoder` of the tracked frames.
            targets (Tensor): (B, T-1, h, w) {0, 1}.
        """
        embeddings = torch.stack([c[3] for c in calls], 1).flatten(0, 1)
        logits = self.memory_readout(embeddings.float())
        logits = F.interpolate(logits, size=targets.shape[-2:],
                               mode='bilinear', align_corners=False)[:, 0]
        return self.memory_readout_weight * self.loss_mask(
            logits, targets.flatten(0, 1).float()).mean()

    def _zero_losses(self) -> dict:
        """Zero losses connected to every trainable parameter."""
        zero = sum(p.sum() for p in self.parameters() if p.requires_grad) * 0
        losses = dict(loss_mask=zero)
        if self.loss_iou_weight:
            losses['loss_iou'] = zero.clone()
        if self.memory_readout_weight:
            losses['loss_memory'] = zero.clone()
        if self.loss_obj_weight:
            losses['loss_obj'] = zero.clone()
        return losses
