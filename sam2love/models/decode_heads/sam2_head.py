"""``SAM2PromptHead``: SAM2 prompted by the fused [seg] token (section 3.3).

Training sees frame 0 only: the token, projected to SAM2's 256-d prompt
width, is appended to the sparse prompt embeddings of frame 0 and the mask
decoder's output is supervised with BCE + Dice. Inference prompts frame 0
the same way and lets SAM2's memory bank track the object through the
remaining frames (:func:`~sam2love.models.sam2.tracker.track_clip`).

Choices the paper leaves open, made as SAM2 does:

- Multimask: with no clicks SAM2 predicts three candidate masks and keeps
  the one of highest predicted IoU (``_use_multimask`` with 0 points), so
  frame 0 is decoded the same way; training takes the loss of the best
  candidate (SAM's min-over-masks) or, with ``mask_candidate='chosen'``,
  of the one inference keeps. ``multimask_output=False`` uses the
  single-mask token instead.
- The losses are SAM2's (:mod:`.frame0_losses`).

Beyond the paper, ``presence`` learns whether the expression refers to
anything at all (:mod:`.presence`).

Also beyond the paper, ``tracking_decoder='pretrained'`` tracks frames 1..T-1
with frozen copies of SAM2's own prompt encoder and mask decoder (as loaded,
before fine-tuning), so that fitting the decoder to the token on frame 0
cannot disturb how SAM2 tracks. On the CPU demo's small SAM2, the shared
fine-tuned decoder lost most of its tracking (``shared/FEASIBILITY.md``).
"""
import copy
from collections.abc import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn

from ..losses.mask_candidates import check_mask_candidate
from ..necks.fusion_token import ProjectionMLP
from ..sam2.build import build_sam2_model, expand_sam2_overrides
from ..sam2.features import encode_frames
from ..sam2.owner import SAM2OwnerMixin
from ..sam2.prompts import point_embedding_norm
from ..sam2.step import decode_frame0_candidates
from ..sam2.tracker import StreamingTracker, track_clip
from .frame0_losses import Frame0LossMixin
from .presence import (
    NO_OBJECT_LOGIT,
    AlignmentPresence,
    PresenceMixin,
    VerifyPresence,
    check_presence,
)
from .scene_presence import ListingMemo, ScenePresence

#: Table 6 of the paper: which SAM2 parts are trained.
TRAINABLE_PRESETS = {
    'paper': ('sam_prompt_encoder', 'sam_mask_decoder'),
    'decoder': ('sam_mask_decoder', ),
    'frozen': (),
}

__all__ = ['SAM2PromptHead', 'TRAINABLE_PRESETS', 'NO_OBJECT_LOGIT']


@MODELS.register_module()
class SAM2PromptHead(Frame0LossMixin, PresenceMixin, SAM2OwnerMixin,
                     BaseModule):
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
            CPU model of :func:`~sam2love.models.sam2.build.
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
            SAM2's object score gates frames as SAM2 does); keys and
            defaults: :func:`~.presence.check_presence`.
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
        if self.presence and self.presence['source'] == 'alignment':
            self.presence_alignment = AlignmentPresence(
                self.presence['temperature'])
        if self.presence and self.presence['source'] == 'verify':
            with torch.random.fork_rng():  # as presence_mlp's
                self.presence_verify = VerifyPresence(2 * in_channels,
                                                      self.sam.hidden_dim)
        if self.presence and self.presence['source'] == 'scene':
            with torch.random.fork_rng():  # as presence_mlp's
                self.presence_scene = ScenePresence(
                    2 * in_channels, self.sam.hidden_dim, in_channels,
                    fine_dims=self._fine_dims())
            self.scene_listing = ListingMemo(self.presence['list_grid'])
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

    def frozen_modules(self) -> Iterator[nn.Module]:
        """SAM2's parts that are not trained, and the tracking heads."""
        for name, module in self.sam.named_children():
            if not name.startswith(self.trainable):
                yield module
        if self.tracking_decoder == 'pretrained':
            yield self.tracking_heads

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
        backbone_out = encode_frames(self.sam, self.fit_frames(frame0),
                                     frozen_encoder=self.image_encoder_frozen)
        return self.decode_frame0(self.frame0_tokens(prompt, backbone_out),
                                  backbone_out)

    def decode_frame0(self, tokens: torch.Tensor, backbone_out: dict) -> dict:
        """SAM2's heads on frame 0's features, prompted by ``tokens``.

        Args:
            tokens (Tensor): (B, 1, C) SAM2 sparse prompt tokens
                (:meth:`prompt_tokens`).
            backbone_out (dict): :func:`~sam2love.models.sam2.features.
                encode_frames` of the B frames 0.

        Returns:
            dict: as :meth:`forward_frame0`.
        """
        masks, ious, obj = decode_frame0_candidates(
            self.sam, tokens, backbone_out, self.multimask_output)
        return dict(masks=masks.float(), ious=ious.float(),
                    object_score_logits=obj.float(), tokens=tokens,
                    backbone_out=backbone_out)

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

    def predict_clip(self, prompt: torch.Tensor, frames: torch.Tensor,
                     vetoed: torch.Tensor | None = None,
                     spared: torch.Tensor | None = None) -> dict:
        """:meth:`predict` with the presence of the referent.

        ``vetoed`` (B,) bool: clips found absent beforehand (another
        check's, e.g. ``SAM2LOVE(name_check=...)``), as if their presence
        were under the threshold; ``spared`` (B,) bool: clips whose
        presence this head's threshold does not judge (kept unless
        vetoed).

        Returns:
            dict: ``logits`` (B, T, S/4, S/4), :data:`NO_OBJECT_LOGIT` on
            every frame of a clip found absent (``presence`` switch);
            ``presence`` (B, T) in [0, 1]: the probability that the
            referent is in frame t, sigmoid of SAM2's object score times,
            with the token switch, the clip's presence probability (0 on
            every frame of a clip found absent).
        """
        frames = self.fit_frames(frames)
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
            tracking_heads=self.tracking_decoder_heads())
        scores = out['object_score_logits'][..., 0]
        clip = self.clip_presence(prompt, scores[:, 0], frame0,
                                  out['low_res_logits'][:, 0, 0])
        logits, presence = self.apply_presence(
            clip, out['low_res_logits'][:, :, 0], scores, vetoed, spared)
        return dict(logits=logits, presence=presence)

    @torch.no_grad()
    def track(self, prompt: torch.Tensor, frames: Iterable[torch.Tensor],
              num_frames: int | None = None,
              vetoed: torch.Tensor | None = None,
              spared: torch.Tensor | None = None) -> Iterator[dict]:
        """:meth:`predict_clip` over frames that come one at a time: frame
        0 is prompted by the K tokens, SAM2's memory tracks the K objects
        through the rest, in memory that does not grow with the video
        (:class:`~sam2love.models.sam2.tracker.StreamingTracker`).

        Args:
            prompt (Tensor): (K, 1, D) fused tokens of one clip.
            frames (Iterable[Tensor]): (3, H, W) normalised frames, in
                order; resized to S x S when needed.
            num_frames (int, optional): how many there will be.
            vetoed, spared (Tensor, optional): (K,) bool, as
                :meth:`predict_clip`'s.

        Yields:
            dict: per frame ``logits`` (K, S/4, S/4) (:data:`NO_OBJECT_LOGIT`
            for a clip found absent), ``object_score_logits`` (K,),
            ``ious`` (K,), ``presence`` (K,) in [0, 1] (as
            :meth:`predict_clip`'s) and ``memory_frames``: frames SAM2's
            memory bank held after it.
        """
        tracker = StreamingTracker(
            self.sam, prompt.size(0), num_frames, self.memory_dtype,
            self.multimask_output, self.tracking_decoder_heads(),
            self.image_encoder_frozen)
        clip = None
        for frame in frames:
            frame = self.fit_frames(frame.unsqueeze(0))
            if tracker.frame_idx == 0:
                encoded = tracker.encode(frame)
                out = tracker.push(encoded=encoded, frame0=dict(
                    sparse_tokens=self.frame0_tokens(prompt, encoded)))
                clip = self.clip_presence(
                    prompt, out['object_score_logits'], encoded, out['logits'])
            else:
                out = tracker.push(frame)
            logits, presence = self.apply_presence(
                clip, out['logits'][:, None], out['object_score_logits'][:, None],
                vetoed, spared)
            yield dict(out, logits=logits[:, 0], presence=presence[:, 0],
                       memory_frames=tracker.state.stored_frames)

    def prompt_tokens(self, prompt: torch.Tensor) -> torch.Tensor:
        """(B, 1, D) fused token -> (B, 1, C) SAM2 sparse prompt token
        (of a (B, 3 + P, D) prompt with the neck's presence query, its
        first row: the query is the presence check's alone)."""
        tokens = self.prompt_proj(prompt[:, :1])
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

    def tracking_decoder_heads(self) -> tuple[nn.Module, nn.Module] | None:
        """The ``(prompt_encoder, mask_decoder)`` that track frames 1..T-1
        in place of SAM2's own (``tracking_decoder='pretrained'``), or None."""
        if self.tracking_decoder == 'shared':
            return None
        return (self.tracking_heads['prompt_encoder'],
                self.tracking_heads['mask_decoder'])
