"""``SAM2PromptHead``: SAM2 prompted by the fused [seg] token (section 3.3).

Training sees frame 0 only: the token, projected to SAM2's 256-d prompt
width, is appended to the sparse prompt embeddings of frame 0 and the mask
decoder's output is supervised with BCE + Dice. Inference prompts frame 0
the same way and lets SAM2's memory bank track the object through the
remaining frames (:func:`~.sam2_tracker.track_clip`).

Choices the paper leaves open, made as SAM2 does:

- Multimask: with no clicks SAM2 predicts three candidate masks and keeps
  the one of highest predicted IoU (``_use_multimask`` with 0 points), so
  frame 0 is decoded the same way; training takes the loss of the best
  candidate (SAM's min-over-masks) or, with ``mask_candidate='chosen'``,
  of the one inference keeps. ``multimask_output=False`` uses the
  single-mask token instead.
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

Beyond the paper, ``presence`` learns whether the expression refers to
anything at all (Ref-AVS's null rows, whose masks are empty; the paper's
stated limitation, S 0.23 on test_n): a presence logit per clip, read from
SAM2's object-score head on frame 0 or from an MLP on the fused token, is
trained with a BCE in which a null row weighs ``null_weight``; null rows
then leave the mask and IoU losses, as in SAM2's own training (which
supervises masks only where the object is); at inference a clip whose
presence probability is below ``threshold`` gets empty masks on every frame.

Also beyond the paper, ``tracking_decoder='pretrained'`` tracks frames 1..T-1
with frozen copies of SAM2's own prompt encoder and mask decoder (as loaded,
before fine-tuning), so that fitting the decoder to the token on frame 0
cannot disturb how SAM2 tracks. On the CPU demo's small SAM2, the shared
fine-tuned decoder lost most of its tracking (``shared/FEASIBILITY.md``).
"""
import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from sam2.modeling.sam2_base import NO_OBJ_SCORE
from torch import nn

from ..necks.fusion_token import ProjectionMLP
from .sam2_tracker import (
    build_sam2_model,
    encode_frames,
    expand_sam2_overrides,
    fit_frames,
    point_embedding_norm,
    project_high_res_features,
    track_clip,
)

#: Table 6 of the paper: which SAM2 parts are trained.
TRAINABLE_PRESETS = {
    'paper': ('sam_prompt_encoder', 'sam_mask_decoder'),
    'decoder': ('sam_mask_decoder', ),
    'frozen': (),
}
#: Where ``presence`` reads the clip's presence logit.
PRESENCE_SOURCES = ('object_score', 'token')
#: SAM2's mask logit of "no object" (``sam2_base.NO_OBJ_SCORE``).
NO_OBJECT_LOGIT = NO_OBJ_SCORE


@MODELS.register_module()
class SAM2PromptHead(BaseModule):
    """SAM2 decode head of SAM2-LOVE.

    Args:
        in_channels (int): width D of the fused token.
        sam2_config (str): ``sam2.1_hiera_{t,s,b+,l}`` or a ``sam2`` config
            name (paper: ``sam2.1_hiera_l``).
        checkpoint (str, optional): official SAM2 checkpoint (``.pt``).
        image_size (int, optional): SAM2 input size override (small test
            models); frames of another size are resized to it.
        sam2_overrides (list[str] | str, optional): extra Hydra overrides;
            ``'small'`` (alone or as an item) stands for the ~3 M-parameter
            CPU model of :func:`~..decode_heads.sam2_tracker.
            small_sam2_overrides` (use with ``sam2_config='sam2.1_hiera_t'``
            and ``image_size=128``).
        trainable (str | Sequence[str]): SAM2 parts trained: a preset of
            :data:`TRAINABLE_PRESETS` (``'paper'``: prompt encoder + mask
            decoder; ``'decoder'``; ``'frozen'``) or parameter-name
            prefixes of ``SAM2Base``. Everything else is frozen.
        multimask_output (bool, optional): frame 0 decoding; ``None``
            follows SAM2's rule for a prompt without clicks.
        loss_mask (dict): per-mask loss config (paper: BCE + Dice, 1 : 1).
        loss_iou_weight (float): weight of SAM2's IoU-prediction loss.
        loss_obj_weight (float): weight of SAM2's object-score loss.
        memory_dtype (str): dtype of the memory bank during tracking
            (``'bfloat16'`` as ``SAM2VideoPredictor``, or ``'float32'``).
        threshold (float): probability threshold of the predicted masks.
        tracking_decoder (str): which prompt encoder and mask decoder track
            frames 1..T-1: ``'shared'`` (the paper: the fine-tuned ones of
            frame 0) or ``'pretrained'`` (frozen copies of SAM2's as
            built / loaded from ``checkpoint``).
        mask_candidate (str): which of frame 0's candidate masks the mask
            loss trains: ``'min'``, the one of lowest loss (SAM's
            min-over-masks), or ``'chosen'``, the one of highest predicted
            IoU, which inference keeps. With ``'min'`` a small SAM2 can put
            a different object in each candidate and reach a low loss
            without reading the token (the tiny demo model did: frame-0
            IoU 0.27 at test, whatever the expression).
        token_norm (str, optional): ``'sam'``: the projected token is
            L2-normalised and scaled by a learnable scalar that starts at
            the mean norm of SAM2's point-prompt embeddings, so the mask
            decoder, trained with prompts of that size, attends to it from
            the start (a token 3x smaller than the stage-1 small SAM2's
            prompts was ignored: swapping tokens between expressions left
            every mask unchanged); ``None``: the MLP's output as is.
        presence (dict, optional): learn and apply the presence of the
            referent (beyond the paper; None: the paper's behaviour, and
            SAM2's object score gates frames as SAM2 does). Keys:
            ``source``: ``'object_score'`` (SAM2's object-score head on
            frame 0, trained by this loss instead of ``loss_obj``) or
            ``'token'`` (a Linear-ReLU-Linear on the fused token; SAM2's
            heads train as without the switch); ``loss_weight`` (1.0);
            ``null_weight`` (1.0): weight of a null row in the presence BCE
            (about #ordinary / #null rows balances them); ``threshold``
            (0.5) on the presence probability, below which every frame's
            mask is empty; ``mask_loss_on_null`` (False): keep null rows in
            the mask and IoU losses.
        loss_align (dict, optional): a loss on the token's SAM2 prompt
            embedding and frame 0's frozen image features (stride 16) given
            the ground-truth mask, beyond the paper:
            :class:`~sam2love.models.losses.ReferentAlignmentLoss` (the CPU
            demo's: ``mode='prototype'``, ``teacher_weight=1``, which also
            decodes frame 0 from the referent's prototype as a teacher
            token); None: the paper's loss.
        token_pointer (float, optional): beyond the paper, a temperature
            tau: frame 0 is prompted not by the fused token itself but by
            the frame-0 features it points at, their unit mean weighted by
            a softmax over the cells of ``cos(token, cell) / tau``
            (:meth:`frame0_tokens`): a token of the same form as
            ``loss_align``'s teacher, so a decoder that reads the teacher
            cannot tell the fused tokens apart. None: the token itself
            (the paper).
    """

    def __init__(self,
                 in_channels: int = 1024,
                 sam2_config: str = 'sam2.1_hiera_l',
                 checkpoint: str | None = None,
                 image_size: int | None = None,
                 sam2_overrides: Sequence[str] | str | None = None,
                 trainable: str | Sequence[str] = 'paper',
                 multimask_output: bool | None = None,
                 loss_mask: dict | None = None,
                 loss_iou_weight: float = 1.0,
                 loss_obj_weight: float = 1.0,
                 memory_dtype: str = 'bfloat16',
                 threshold: float = 0.5,
                 tracking_decoder: str = 'shared',
                 mask_candidate: str = 'min',
                 token_norm: str | None = 'sam',
                 presence: dict | None = None,
                 loss_align: dict | None = None,
                 token_pointer: float | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        overrides = expand_sam2_overrides(sam2_overrides)
        self.sam = build_sam2_model(sam2_config, checkpoint, image_size,
                                    overrides)
        #: what builds the (frozen) image encoder: a feature cache's
        #: manifest records it (``SAM2LOVE.frozen_fingerprint``)
        self.sam2_spec = dict(config=sam2_config, checkpoint=checkpoint,
                              image_size=self.sam.image_size,
                              overrides=list(overrides))
        self.prompt_dim = self.sam.sam_prompt_embed_dim
        self.prompt_proj = ProjectionMLP(in_channels, self.prompt_dim)
        if token_norm not in ('sam', None):
            raise ValueError(f'token_norm must be "sam" or None, got {token_norm!r}')
        self.token_norm = token_norm
        if token_norm == 'sam':
            self.prompt_proj.token_scale = nn.Parameter(
                point_embedding_norm(self.sam).detach().clone())
        if multimask_output is None:
            multimask_output = self.sam._use_multimask(
                is_init_cond_frame=True, point_inputs=None)
        self.multimask_output = multimask_output
        self.loss_mask = MODELS.build(loss_mask or dict(type='BCEDiceLoss'))
        self.loss_iou_weight = loss_iou_weight
        self.loss_obj_weight = loss_obj_weight
        self.presence = check_presence(presence)
        self.loss_align = MODELS.build(loss_align) if loss_align else None
        if token_pointer is not None and token_pointer <= 0:
            raise ValueError('token_pointer (a temperature) must be > 0, '
                             f'got {token_pointer}')
        self.token_pointer = token_pointer
        if self.presence and self.presence['source'] == 'token':
            # drawn without moving the global RNG: the random-init frozen
            # encoders that init_weights() draws later stay those of the
            # model without the switch, so its feature cache still serves
            with torch.random.fork_rng():
                self.presence_mlp = nn.Sequential(
                    nn.Linear(in_channels, in_channels), nn.ReLU(inplace=True),
                    nn.Linear(in_channels, 1))
        self.memory_dtype = getattr(torch, memory_dtype)
        self.threshold = threshold
        self.trainable = tuple(TRAINABLE_PRESETS.get(trainable, trainable)) \
            if isinstance(trainable, str) else tuple(trainable)
        self._freeze()
        self.mask_candidate = check_mask_candidate(mask_candidate)
        if tracking_decoder not in ('shared', 'pretrained'):
            raise ValueError('tracking_decoder must be "shared" or '
                             f'"pretrained", got {tracking_decoder!r}')
        self.tracking_decoder = tracking_decoder
        if tracking_decoder == 'pretrained':
            self.tracking_heads = nn.ModuleDict(dict(
                prompt_encoder=copy.deepcopy(self.sam.sam_prompt_encoder),
                mask_decoder=copy.deepcopy(self.sam.sam_mask_decoder)))
            self.tracking_heads.requires_grad_(False)

    # ------------------------------------------------------------ freezing
    def _unreached(self) -> tuple[str, ...]:
        """Parameter prefixes that no enabled loss reaches.

        A click-free token prompt uses only the prompt encoder's
        ``not_a_point_embed`` (the padding point) and ``no_mask_embed``;
        its point and mask embedders never run.
        """
        unused = ['sam_prompt_encoder.point_embeddings.',
                  'sam_prompt_encoder.mask_downscaling.']
        if self.multimask_output:  # the single-mask token is never decoded
            unused.append('sam_mask_decoder.output_hypernetworks_mlps.0.')
        else:  # nor are the three candidates
            unused += [f'sam_mask_decoder.output_hypernetworks_mlps.{i}.'
                       for i in (1, 2, 3)]
        if self.loss_iou_weight == 0:
            unused.append('sam_mask_decoder.iou_prediction_head.')
        if self.loss_obj_weight == 0 and not self._presence_from('object_score'):
            unused += ['sam_mask_decoder.pred_obj_score_head.',
                       'sam_mask_decoder.obj_score_token.']
        return tuple(unused)

    def _freeze(self) -> None:
        unused = self._unreached()
        for name, param in self.sam.named_parameters():
            train = name.startswith(self.trainable) and \
                not name.startswith(unused)
            param.requires_grad_(train)

    def train(self, mode: bool = True):
        """Frozen SAM2 parts stay in eval mode."""
        super().train(mode)
        for name, module in self.sam.named_children():
            if not name.startswith(self.trainable):
                module.eval()
        if self.tracking_decoder == 'pretrained':
            self.tracking_heads.eval()
        return self

    @property
    def image_encoder_frozen(self) -> bool:
        return not any(p.requires_grad
                       for p in self.sam.image_encoder.parameters())

    # ------------------------------------------------------------ forward
    def _fit_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Resize (..., 3, H, W) frames to SAM2's square input if needed."""
        return fit_frames(frames, self.sam.image_size)

    def forward_frame0(self, prompt: torch.Tensor, frame0: torch.Tensor
                       ) -> dict:
        """Decode frame 0 prompted by the token, before object gating.

        Mirrors ``SAM2Base._forward_sam_heads`` for an initial conditioning
        frame without clicks or memory (the no-click padding point kept).

        Args:
            prompt (Tensor): (B, 1, D) fused token.
            frame0 (Tensor): (B, 3, H, W) normalised frames.

        Returns:
            dict: ``masks`` (B, M, S/4, S/4) logits, ``ious`` (B, M),
            ``object_score_logits`` (B, 1); M = 3 with multimask, else 1.
        """
        backbone_out = encode_frames(self.sam, self._fit_frames(frame0),
                                     frozen_encoder=self.image_encoder_frozen)
        return self.decode_frame0(self.frame0_tokens(prompt, backbone_out),
                                  backbone_out)

    def decode_frame0(self, tokens: torch.Tensor, backbone_out: dict) -> dict:
        """SAM2's heads on frame 0's features, prompted by ``tokens``.

        Args:
            tokens (Tensor): (B, 1, C) SAM2 sparse prompt tokens
                (:meth:`prompt_tokens`).
            backbone_out (dict): :func:`~.sam2_tracker.encode_frames` of
                the B frames 0.

        Returns:
            dict: as :meth:`forward_frame0`.
        """
        sam = self.sam
        _, feats, pos, sizes = sam._prepare_backbone_features(backbone_out)
        pix_feat = sam._prepare_memory_conditioned_features(
            frame_idx=0, is_init_cond_frame=True,
            current_vision_feats=feats[-1:],
            current_vision_pos_embeds=pos[-1:], feat_sizes=sizes[-1:],
            output_dict={'cond_frame_outputs': {},
                         'non_cond_frame_outputs': {}},
            num_frames=1)
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
            multimask_output=self.multimask_output,
            repeat_image=False,
            high_res_features=high_res)
        return dict(masks=masks.float(), ious=ious.float(),
                    object_score_logits=obj.float(), tokens=tokens,
                    backbone_out=backbone_out)

    # ------------------------------------------------ cached image features
    @torch.no_grad()
    def encode_frame0_levels(self, frame0: torch.Tensor) -> list:
        """What a feature cache stores of SAM2 for frame 0: the frozen
        image encoder's FPN levels, *before* the mask decoder's trainable
        ``conv_s0`` / ``conv_s1`` (:meth:`loss_from_levels` applies them).

        Args:
            frame0 (Tensor): (B, 3, H, W) normalised frames.

        Returns:
            list[Tensor]: ``sam.image_encoder``'s ``backbone_fpn``, for the
            official models (B, C, S/4, S/4), (B, C, S/8, S/8),
            (B, C, S/16, S/16) with C = 256 (the last one is its
            ``vision_features``).
        """
        return list(self.sam.image_encoder(
            self._fit_frames(frame0))['backbone_fpn'])

    def encoder_out_from_levels(self, levels: Sequence[torch.Tensor]
                                ) -> dict:
        """``sam.image_encoder``'s output from its cached FPN levels.

        The positional encodings depend only on the levels' shapes
        (SAM2's ``PositionEmbeddingSine``), so they are recomputed, as the
        neck computes them, instead of being cached.
        """
        position_encoding = self.sam.image_encoder.neck.position_encoding
        levels = list(levels)
        return dict(
            vision_features=levels[-1],
            vision_pos_enc=[position_encoding(x).to(x.dtype) for x in levels],
            backbone_fpn=levels)

    def loss_from_levels(self, prompt: torch.Tensor,
                         levels: Sequence[torch.Tensor],
                         gt_masks: torch.Tensor,
                         referent_ids: torch.Tensor | None = None) -> dict:
        """:meth:`loss` on cached image-encoder outputs of frame 0
        (:meth:`encode_frame0_levels`) instead of the frames: the same
        computation without the frozen image encoder (the trainable
        ``conv_s0`` / ``conv_s1`` run here, under grad)."""
        if not self.image_encoder_frozen:
            raise ValueError(
                'SAM2PromptHead: cached image features given, but SAM2\'s '
                f'image encoder is trained (trainable={self.trainable})')
        backbone_out = project_high_res_features(
            self.sam, self.encoder_out_from_levels(levels))
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
            losses['loss_obj'] = self.loss_obj_weight * \
                F.binary_cross_entropy_with_logits(
                    out['object_score_logits'], present)
        if self.loss_align is not None:
            losses.update(self._alignment_losses(out, gt_masks,
                                                 referent_ids))
        if self.presence:
            logits = out['object_score_logits'] if from_score \
                else out['presence_logits']
            weight = torch.where(present > 0, 1.0, self.presence['null_weight'])
            losses['loss_presence'] = self.presence['loss_weight'] * \
                F.binary_cross_entropy_with_logits(
                    logits.float(), present, weight=weight)
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

    # ------------------------------------------------------------ presence
    def _presence_from(self, source: str) -> bool:
        return bool(self.presence) and self.presence['source'] == source

    def _with_presence(self, out: dict, prompt: torch.Tensor) -> dict:
        """``out`` plus ``presence_logits`` (B, 1) of the token MLP."""
        if self._presence_from('token'):
            out = dict(out, presence_logits=self._token_logits(prompt))
        return out

    def _token_logits(self, prompt: torch.Tensor) -> torch.Tensor:
        """(B, 1, D) fused tokens -> (B, 1) presence logits."""
        return self.presence_mlp(prompt[:, 0])

    def predict(self, prompt: torch.Tensor, frames: torch.Tensor
                ) -> torch.Tensor:
        """Prompt frame 0 with the token and track through the clip.

        Args:
            prompt (Tensor): (B, 1, D).
            frames (Tensor): (B, T, 3, H, W) normalised.

        Returns:
            Tensor: (B, T, S/4, S/4) mask logits of every frame.
        """
        return self.predict_clip(prompt, frames)['logits']

    def predict_clip(self, prompt: torch.Tensor, frames: torch.Tensor
                     ) -> dict:
        """:meth:`predict` with the presence of the referent.

        Returns:
            dict: ``logits`` (B, T, S/4, S/4), :data:`NO_OBJECT_LOGIT` on
            every frame of a clip found absent (``presence`` switch);
            ``presence`` (B, T) in [0, 1]: the probability that the
            referent is in frame t, sigmoid of SAM2's object score times,
            with the token switch, the clip's presence probability (0 on
            every frame of a clip found absent).
        """
        frames = self._fit_frames(frames)
        # frame 0 encoded once, for its tokens (token_pointer) and tracking
        frame0 = encode_frames(self.sam, frames[:, 0],
                               frozen_encoder=self.image_encoder_frozen)
        out = track_clip(
            self.sam, frames,
            dict(sparse_tokens=self.frame0_tokens(prompt, frame0)),
            frame0_encoded=frame0,
            memory_dtype=self.memory_dtype,
            frozen_encoder=self.image_encoder_frozen,
            multimask_output=self.multimask_output,
            tracking_heads=self._tracking_heads())
        scores = out['object_score_logits'][..., 0]
        clip = self.clip_presence(prompt, scores[:, 0])
        logits, presence = self.apply_presence(
            clip, out['low_res_logits'][:, :, 0], scores)
        return dict(logits=logits, presence=presence)

    def clip_presence(self, prompt: torch.Tensor,
                      frame0_scores: torch.Tensor) -> torch.Tensor | None:
        """The clip's presence probability under the ``presence`` switch.

        Args:
            prompt (Tensor): (B, 1, D) fused tokens.
            frame0_scores (Tensor): (B, ) SAM2's object-score logits of
                the prompted frame 0.

        Returns:
            Tensor | None: (B, ) in [0, 1] (the token MLP's, or frame 0's
            object score with ``source='object_score'``); None without the
            switch.
        """
        if not self.presence:
            return None
        if self._presence_from('token'):
            return self._token_logits(prompt)[:, 0].float().sigmoid()
        return frame0_scores.float().sigmoid()

    def apply_presence(self, clip: torch.Tensor | None, logits: torch.Tensor,
                       scores: torch.Tensor) -> tuple:
        """Empty the masks of clips found absent; per-frame presence.

        Args:
            clip (Tensor | None): :meth:`clip_presence`.
            logits (Tensor): (B, T, h, w) mask logits (any T, e.g. one
                streamed frame).
            scores (Tensor): (B, T) SAM2's object-score logits.

        Returns:
            tuple: ``logits`` (:data:`NO_OBJECT_LOGIT` on every frame of a
            clip whose presence is below ``presence.threshold``) and the
            presence (B, T) in [0, 1]: sigmoid of the object score, times
            the token MLP's probability with ``source='token'``, 0 on
            every frame of a clip found absent.
        """
        presence = scores.float().sigmoid()
        if clip is None:
            return logits, presence
        if self._presence_from('token'):
            presence = presence * clip[:, None]
        absent = clip < self.presence['threshold']
        logits = torch.where(absent[:, None, None, None],
                             logits.new_tensor(NO_OBJECT_LOGIT), logits)
        return logits, torch.where(absent[:, None], 0.0, presence)


    def prompt_tokens(self, prompt: torch.Tensor) -> torch.Tensor:
        """(B, 1, D) fused token -> (B, 1, C) SAM2 sparse prompt token."""
        tokens = self.prompt_proj(prompt)
        if self.token_norm == 'sam':
            tokens = F.normalize(tokens, dim=-1) * self.prompt_proj.token_scale
        return tokens

    def frame0_tokens(self, prompt: torch.Tensor, backbone_out: dict
                      ) -> torch.Tensor:
        """The (B, 1, C) tokens that prompt frame 0: :meth:`prompt_tokens`,
        with ``token_pointer`` the frame-0 features it points at.

        ``token_pointer`` (a temperature tau): the token attends over
        frame 0's unit stride-16 cells f_p (``vision_features``), and what
        prompts SAM2 is their attention-weighted unit mean at the token's
        norm, ``normalize(sum_p softmax_p(cos(t, f_p) / tau) f_p)``: a soft
        prototype, of the same form as ``loss_align``'s teacher token.
        """
        tokens = self.prompt_tokens(prompt)
        if self.token_pointer is None:
            return tokens
        cells = F.normalize(backbone_out['vision_features'].flatten(2), dim=1)
        unit = F.normalize(tokens[:, 0], dim=-1).to(cells.dtype)
        attn = (torch.einsum('bc,bck->bk', unit, cells)
                / self.token_pointer).softmax(-1)
        pooled = F.normalize(torch.einsum('bck,bk->bc', cells, attn), dim=-1)
        return (pooled * tokens.norm(dim=-1)).unsqueeze(1).to(tokens.dtype)

    def _tracking_heads(self) -> tuple[nn.Module, nn.Module] | None:
        if self.tracking_decoder == 'shared':
            return None
        return (self.tracking_heads['prompt_encoder'],
                self.tracking_heads['mask_decoder'])


MASK_CANDIDATES = ('min', 'chosen')


def check_presence(cfg: dict | None) -> dict | None:
    """``presence`` with its defaults filled in, or None; raises on an
    unknown key or source."""
    if not cfg:
        return None
    defaults = dict(source=None, loss_weight=1.0, null_weight=1.0,
                    threshold=0.5, mask_loss_on_null=False)
    unknown = set(cfg) - set(defaults)
    if unknown:
        raise ValueError(f'presence: unknown keys {sorted(unknown)}; '
                         f'expected {sorted(defaults)}')
    cfg = dict(defaults, **cfg)
    if cfg['source'] not in PRESENCE_SOURCES:
        raise ValueError(f'presence.source must be one of {PRESENCE_SOURCES}, '
                         f'got {cfg["source"]!r}')
    if cfg['null_weight'] <= 0 or not 0 < cfg['threshold'] < 1:
        raise ValueError('presence: null_weight must be > 0 and threshold '
                         f'in (0, 1), got {cfg}')
    return cfg


def check_mask_candidate(mode: str) -> str:
    if mode not in MASK_CANDIDATES:
        raise ValueError(f'mask_candidate must be one of {MASK_CANDIDATES}, '
                         f'got {mode!r}')
    return mode


def candidate_losses(masks: torch.Tensor, ious: torch.Tensor,
                     targets: torch.Tensor, loss_mask: nn.Module,
                     mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask loss of one candidate and IoU loss of all, as SAM2 trains.

    Args:
        masks (Tensor): (N, M, s, s) candidate logits before object gating.
        ious (Tensor): (N, M) predicted IoUs.
        targets (Tensor): (N, h, w) {0, 1}.
        loss_mask (nn.Module): per-mask loss, (N·M, h, w) pairs -> (N·M, ).
        mode (str): ``'min'``: the candidate of lowest loss (SAM's
            min-over-masks); ``'chosen'``: the one of highest predicted IoU,
            which inference keeps.

    Returns:
        tuple: the mean mask loss of the picked candidates and the L1
        between every candidate's predicted and actual IoU (SAM2's
        ``supervise_all_iou``: inference keeps the highest prediction, so
        the head must also learn which candidates are bad).
    """
    n, m = ious.shape
    logits = F.interpolate(masks.float(), size=targets.shape[-2:],
                           mode='bilinear', align_corners=False)
    goal = targets.float().unsqueeze(1).expand_as(logits)
    per_mask = loss_mask(logits.flatten(0, 1), goal.flatten(0, 1)).view(n, m)
    best = per_mask.argmin(dim=1) if mode == 'min' else ious.argmax(dim=1)
    picked = per_mask[torch.arange(n, device=best.device), best].mean()
    actual = mask_iou(logits.flatten(0, 1) > 0,
                      goal.flatten(0, 1) > 0).view(n, m)
    return picked, F.l1_loss(ious.float(), actual)


def mask_iou(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """IoU of (N, H, W) bool masks; 1 when both are empty: (N,)."""
    inter = (pred & gt).flatten(1).sum(1).float()
    union = (pred | gt).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1),
                       torch.ones_like(union))
