"""Frame-0 losses of ``SAM2PromptHead`` (section 3.3 and beyond).

The fused token prompts SAM2 on frame 0 and the decoded masks are trained
with the paper's BCE + Dice, SAM2's IoU and object-score losses, and, when
configured, the presence BCE (:mod:`.presence`) and ``loss_align``
(:class:`~sam2love.models.losses.ReferentAlignmentLoss`).

- SAM2's IoU head picks among the candidates and its object-score head
  gates the masks (scores <= 0 turn them into "no object"). BCE + Dice give
  neither a gradient, so they are trained with SAM2's own losses (L1 on
  every candidate's IoU, BCE on object presence). Setting their weights
  to 0 gives the paper's loss alone and freezes those heads (otherwise DDP
  would see unused parameters). For the same reason every other part that
  no loss reaches stays frozen (the prompt encoder's point and mask
  embedders, the single-mask token's hypernetwork under multimask).
- The loss is taken on the mask logits before the object-score gating,
  which would otherwise replace them with a constant and stop the gradient.
"""
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..losses.mask_candidates import candidate_losses
from ..sam2.features import encoder_out_from_levels, project_high_res_features
from .presence import presence_loss
from .scene_presence import object_loss, object_targets


class Frame0LossMixin:
    """The losses of :class:`~.sam2_head.SAM2PromptHead` (mixed into it)."""

    def loss_from_levels(self, prompt: torch.Tensor,
                         levels: Sequence[torch.Tensor],
                         gt_masks: torch.Tensor,
                         referent_ids: torch.Tensor | None = None) -> dict:
        """:meth:`loss` on cached image-encoder outputs of frame 0
        (``SAM2LOVE.frozen_clip_features``) instead of the frames: the same
        computation without the frozen image encoder (the trainable
        ``conv_s0`` / ``conv_s1`` run here, under grad)."""
        if not self.image_encoder_frozen:
            raise ValueError(
                'SAM2PromptHead: cached image features given, but SAM2\'s '
                f'image encoder is trained (trainable={self.trainable})')
        backbone_out = project_high_res_features(
            self.sam, encoder_out_from_levels(self.sam, levels))
        out = self.decode_frame0(self.frame0_tokens(prompt, backbone_out),
                                 backbone_out)
        return self.frame0_losses(self._with_presence(out, prompt), gt_masks,
                                  referent_ids)

    def loss(self, prompt: torch.Tensor, frames: torch.Tensor,
             gt_masks: torch.Tensor,
             referent_ids: torch.Tensor | None = None) -> dict:
        """Frame-0 losses.

        Args:
            prompt (Tensor): (B, 1, D).
            frames (Tensor): (B, T, 3, H, W); only frame 0 is used.
            gt_masks (Tensor): (B, h, w) frame-0 masks in {0, 1}.
            referent_ids (Tensor | None): (B,) ints, equal for rows that
                name the same object of a clip (``loss_align``'s
                positives).

        Returns:
            dict: ``loss_mask`` and, when weighted, ``loss_iou`` and
            ``loss_obj``.
        """
        out = self.forward_frame0(prompt, frames[:, 0])
        return self.frame0_losses(self._with_presence(out, prompt), gt_masks,
                                  referent_ids)

    def frame0_losses(self, out: dict, gt_masks: torch.Tensor,
                      referent_ids: torch.Tensor | None = None) -> dict:
        """:meth:`loss` on :meth:`forward_frame0`'s outputs ``out`` (with
        ``presence_logits`` (B, 1) when ``presence`` reads the token).

        Returns:
            dict: ``loss_mask``, and when weighted ``loss_iou``,
            ``loss_obj``, ``loss_presence``; with ``loss_align``,
            ``loss_align`` (and ``loss_mask_teacher``).
        """
        present = gt_masks.flatten(1).any(1, keepdim=True).float()
        rows = present[:, 0].bool()  # the rows that train the masks
        if not self.presence or self.presence['mask_loss_on_null']:
            rows = torch.ones_like(rows)
        if rows.any():
            loss_mask, loss_iou = candidate_losses(
                out['masks'][rows], out['ious'][rows], gt_masks[rows],
                self.loss_mask, self.mask_candidate)
        else:  # only null rows: no mask to learn, keep the graph whole
            loss_mask = loss_iou = (out['masks'].sum() + out['ious'].sum()) * 0
        losses = dict(loss_mask=loss_mask)
        if self.loss_iou_weight:
            losses['loss_iou'] = self.loss_iou_weight * loss_iou
        from_score = self._presence_from('object_score')
        if self.loss_obj_weight and not from_score:
            scores, target = out['object_score_logits'], present
            if self.presence and not self.presence['obj_loss_on_null']:
                # the presence head alone learns the rows without an object
                keep = present[:, 0].bool()
                scores, target = scores[keep], present[keep]
            losses['loss_obj'] = self.loss_obj_weight * \
                F.binary_cross_entropy_with_logits(scores, target) \
                if len(target) else out['object_score_logits'].sum() * 0
        if self.loss_align is not None:
            losses.update(self._alignment_losses(out, gt_masks,
                                                 referent_ids))
        if self.presence and 'presence_objects' in out:
            losses.update(self._scene_losses(out, gt_masks, present))
        elif self.presence:
            logits = out['object_score_logits'] if from_score \
                else out['presence_logits']
            losses['loss_presence'] = presence_loss(self.presence, logits,
                                                    present)
        return losses

    def _scene_losses(self, out: dict, gt_masks: torch.Tensor,
                      present: torch.Tensor) -> dict:
        """``'scene'``'s losses: the clip's presence BCE, on the rows
        without a referent and those whose referent a listed object
        covers (the others cannot be told from an absent one; nor can a
        clip with nothing listed, where the check abstains), and
        ``loss_presence_objects``, each listed object against whether it
        covers the referent (:func:`~.scene_presence.object_targets`)."""
        objects = out['presence_objects']
        targets, covered = object_targets(objects['masks'],
                                          objects['listed'], gt_masks)
        logits = out['presence_logits']
        losses = dict(loss_presence=presence_loss(
            self.presence, logits[covered], present[covered])
            if covered.any() else logits.sum() * 0)
        losses['loss_presence_objects'] = self.presence['object_weight'] * \
            object_loss(objects['logits'], targets)
        return losses

    def _alignment_losses(self, out: dict, gt_masks: torch.Tensor,
                          referent_ids: torch.Tensor | None = None) -> dict:
        """``loss_align`` and, with its ``teacher_weight``, the mask loss
        of frame 0 decoded from the referents' prototypes as tokens
        (``loss_mask_teacher``; rows with a referent only)."""
        align = self.loss_align
        tokens = out['tokens'][:, 0]
        feats = out['backbone_out']['vision_features']
        losses = dict(loss_align=align(tokens, feats, gt_masks,
                                       referent_ids))
        if not align.teacher_weight:
            return losses
        rows = gt_masks.flatten(1).bool().any(1)
        if not rows.any():
            losses['loss_mask_teacher'] = tokens.sum() * 0
            return losses
        scale = self.prompt_proj.token_scale if self.token_norm == 'sam' \
            else tokens.norm(dim=-1).mean().detach()
        teacher = align.prototypes(feats[rows], gt_masks[rows]) * scale
        backbone_out = {k: [x[rows] for x in v] if isinstance(v, list)
                        else v[rows] for k, v in out['backbone_out'].items()}
        decoded = self.decode_frame0(teacher[:, None].to(tokens.dtype),
                                     backbone_out)
        loss, _ = candidate_losses(decoded['masks'], decoded['ious'],
                                   gt_masks[rows], self.loss_mask,
                                   self.mask_candidate)
        losses['loss_mask_teacher'] = align.teacher_weight * loss
        return losses
