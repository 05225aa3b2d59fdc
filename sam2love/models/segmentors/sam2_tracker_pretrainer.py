"""``SAM2TrackerPretrainer``: teach a SAM2 to track (stage 1 of the demo).

SAM2-LOVE prompts a SAM2 that already tracks. With no pretrained SAM2 at
hand (CPU demo), this segmentor trains one on the synthetic clips as a
stand-in for SAM2's own video pre-training: frame 0's ground-truth mask is
the prompt, frames 1..T-1 are tracked from SAM2's memory bank with
gradients on, and the tracked frames are supervised.

Choices:

- **Loss before object gating.** ``SAM2Base._forward_sam_heads`` replaces
  the mask logits with -1024 wherever the object score is <= 0, which sends
  no gradient to the mask decoder (at random init: most samples). The raw
  outputs of ``sam.sam_mask_decoder`` are recorded by a forward hook
  (:func:`record_mask_decoder`) while :func:`~..decode_heads.sam2_tracker.
  track_clip` runs unchanged, so the tracking is exactly the video
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
- **Null rows** (an empty frame-0 mask: nothing to track) are left out of
  the loss; a batch of only null rows gives a zero loss that still reaches
  the parameters (so the optimiser step is a no-op, not an error).
  ``predict`` prompts them with their empty mask like any row: SAM2 stores
  "no object" for frame 0 and tracks from there, exactly what
  ``SAM2VideoPredictor.add_new_mask`` with an empty mask does; the test_n
  S then measures what the tracker hallucinates.
- **The "every object" baseline** (``test_prompt='all_objects'``):
  ``predict`` prompts frame 0 with the union of every object's visible
  frame-0 mask, which only the synthetic generator writes
  (``synthetic_extras/all_objects/<name>/00000.png``, see
  :mod:`sam2love.datasets.synthetic.extras`), instead of the referent's
  ground truth, and tracks the clip; the metric scores it against each
  row's own ground truth. That is what a model ignoring the sentence and
  the sound gets. The prompt depends on the clip only, so null rows get the
  union too (such a model segments the objects whatever the expression):
  their test_n S measures it. Training is unchanged.
- **Sub-clips.** ``num_train_frames=k`` trains on a random contiguous window
  of k frames per clip (its first frame is the prompt), drawn from torch's
  global generator, which the runner seeds.
"""
import contextlib
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from torch import Tensor, nn

from ...datasets.layout import data_root_of_frames
from ...datasets.synthetic.extras import load_all_objects_mask
from ..decode_heads.sam2_head import candidate_losses, check_mask_candidate
from ..decode_heads.sam2_tracker import (
    build_sam2_model,
    decode_first_frame,
    encode_frames,
    expand_sam2_overrides,
    extra_sparse_prompt,
    fit_frames,
    init_local_memory_attention,
    load_sam2_checkpoint,
    point_embedding_norm,
    prepare_mask_prompt,
    select_frame_features,
    track_clip,
)
from ..losses.referent_alignment import ReferentAlignmentLoss
from ..losses.shape_readout import PrototypeShapeLoss
from .sam2love import postprocess_clip_logits

#: Frame-0 prompts of ``predict``: the row's ground truth, or every object.
TEST_PROMPTS = ('gt', 'all_objects')


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


@MODELS.register_module()
class SAM2TrackerPretrainer(BaseSegmentor):
    """Mask-prompted SAM2 tracking: training and its ceiling evaluation.

    ``inputs`` is ``dict(frames=(B, T, 3, H, W), ...)`` from
    :class:`~sam2love.models.ClipDataPreprocessor` (audio is ignored); the
    frame-0 prompt is ``data_samples[i].gt_sem_seg.data[0]``.

    ``predict`` writes the fields of :class:`SAM2LOVE` (``seg_logits``,
    ``pred_sem_seg`` (T, H, W) and ``pred_eval_logits`` (T, 256, 256)), so
    ``RefAVSMetric`` scores it: the J&F of SAM2 given a perfect frame-0
    prompt, the ceiling of stage 2 (``test_prompt='gt'``), or given every
    object of frame 0, the floor of a model that ignores text and audio
    (``test_prompt='all_objects'``).

    Args:
        sam2_config (str): ``sam2.1_hiera_{t,s,b+,l}`` or a ``sam2`` config.
        checkpoint (str, optional): official-format SAM2 ``.pt`` to start
            from.
        image_size (int, optional): SAM2 input size; frames of another size
            are resized to it.
        sam2_overrides (list[str] | str, optional): extra Hydra overrides;
            ``'small'`` (alone or as an item) stands for the ~3 M-parameter
            CPU model of :func:`~..decode_heads.sam2_tracker.
            small_sam2_overrides` (use with ``sam2_config='sam2.1_hiera_t'``
            and ``image_size=128``).
        frozen (Sequence[str]): ``SAM2Base`` parameter-name prefixes kept
            frozen (and in eval mode), e.g. ``('image_encoder',)``.
            Everything else is trained.
        num_train_frames (int, optional): train on random contiguous
            sub-clips of this many frames (>= 2); None: whole clips.
        mask_candidate (str): which of the M candidate masks of a tracked
            frame the mask loss trains: ``'chosen'``, the one of highest
            predicted IoU (what SAM2 outputs and stores in memory), or
            ``'min'``, the one of lowest loss (SAM2's training). With
            ``'min'`` the small model learned one candidate per salient
            object without tracking: best candidate IoU 0.63-0.70, chosen
            one 0.03-0.22.
        loss_mask (dict): per-mask loss (``BCEDiceLoss``).
        loss_iou_weight (float): weight of the IoU-prediction L1.
        loss_obj_weight (float): weight of the object-score BCE.
        memory_dtype (str): memory-bank dtype when predicting (``'bfloat16'``
            as ``SAM2VideoPredictor``); training keeps float32.
        threshold (float): probability threshold of ``pred_sem_seg``.
        local_memory_init (float): when > 0, the strength of
            :func:`~..decode_heads.sam2_tracker.init_local_memory_attention`
            applied to the freshly built SAM2 (before ``checkpoint`` is
            loaded); 0 keeps SAM2's initialisation.
        point_prompt_prob (float): chance that a training batch prompts
            frame 0 with one positive click inside its mask instead of the
            mask itself (SAM2's own training mixes clicks, boxes and masks);
            frame 0 is then supervised too. Clicks train the decoder to read
            sparse prompt tokens, which is how SAM2-LOVE's token prompts it:
            a decoder trained on mask prompts alone ignored the token.
        click_loss_weight (float): when > 0, every batch also decodes one
            random frame of each clip, with the object present, from a
            single positive click as a first frame without memory (SAM2's
            interactive path), outside the tracked clip; its losses
            (``loss_mask_click_aux``, ``loss_iou_click_aux``: min-over-masks
            and all-candidate IoU, as SAM) are weighted by this. Unlike
            ``point_prompt_prob`` it leaves the tracking curriculum alone.
            Measured on the CPU demo (seed 0, weight 1): the small decoder
            does not learn to pick the clicked object in 700 iterations,
            but its sparse-prompt path stays receptive: a stage-2 decoder
            on top of it learns to read an appearance token
            (``tools/analysis_tools/token_probe.py --source prototype``:
            frame-0 IoU 0.32 -> 0.66 in 400 iterations, against 0.36 flat
            without it); the mask-prompted ceiling J&F falls from 68.9 to
            65.6 on test_s.
        memory_readout_weight (float): when > 0, a linear read-out (1x1
            conv, not part of SAM2) of each tracked frame's
            memory-conditioned image embeddings is trained to give the
            frame's mask (``loss_memory``, BCE + Dice, times this weight):
            a direct gradient into the memory encoder and attention, which
            keeps the small SAM2 from going memory-blind.
        prototype_loss_weight (float): when > 0, every batch also decodes
            one random frame of each clip, with the object present, from
            an *appearance* token without click or memory: the unit mean of
            the frame's stride-16 image features under the object's mask
            (detached), at the mean norm of SAM2's point embeddings,
            appended to the sparse prompt as SAM2-LOVE appends its token
            (``loss_mask_proto_aux``, ``loss_iou_proto_aux``, the
            ``mask_candidate`` rule, times this weight). Clicks say *where*;
            SAM2-LOVE's token says *what*, and a decoder pre-trained on
            clicks alone read a perfectly referring *what* token at frame-0
            IoU ~0.64 (docs/token_path.md). Not SAM2's recipe: a stand-in
            for what a large pre-trained decoder brings.
        appearance_loss_weight (float): when > 0, each clip's object is
            also found in a random later frame by its look alone: its
            frame-0 prototype (the unit mean of the stride-16 image features
            under its mask) against every cell of that frame, in a softmax
            over the cells (``loss_appearance``, times this weight). Not
            SAM2's recipe: a stand-in for the semantic image features a
            large pre-training gives. Tracking alone left the small
            encoder's features telling objects apart by colour only (shape
            from the prototypes: 38 % nearest-centroid accuracy, chance
            17 %), so a token in that space could not name "the circle".
        shape_loss_weight (float): when > 0, the prototype of each frame's
            object (every frame with it) is also read out by an MLP (not
            part of SAM2, not exported) into the object's silhouette: its
            mask cropped to its bounding square and resized to 16 x 16
            (``loss_shape``, BCE + Dice, times this weight;
            :class:`~sam2love.models.losses.PrototypeShapeLoss`). Neither
            place nor scale is left to read, so the features must encode
            shape. Not SAM2's recipe: a stand-in, like the appearance loss.
            Measured on the CPU demo (seed 0): shape from the stride-16
            prototypes 0.285 -> 0.37 (weight 1, 700 iterations) and 0.44
            (weight 3, 1400 iterations), nearest-centroid, chance 0.167
            (docs/token_path.md).
        test_prompt (str): frame 0's mask prompt in ``predict`` /
            ``_forward``: ``'gt'`` (default), the row's ground truth
            (``gt_sem_seg.data[0]``); ``'all_objects'``, the union of every
            object's frame-0 mask of a synthetic data set, read from
            ``<data_root>/synthetic_extras/all_objects/<clip_name>/00000.png``
            (the data root from each sample's ``frame_paths``; a tree
            without the file, e.g. the release, is an error naming it), for
            null rows too. From the command line: ``tools/test.py CONFIG
            CKPT --cfg-options model.test_prompt=all_objects``.
    """

    def __init__(self,
                 sam2_config: str = 'sam2.1_hiera_t',
                 checkpoint: str | None = None,
                 image_size: int | None = None,
                 sam2_overrides: Sequence[str] | str | None = None,
                 frozen: Sequence[str] = (),
                 num_train_frames: int | None = None,
                 mask_candidate: str = 'chosen',
                 loss_mask: dict | None = None,
                 loss_iou_weight: float = 1.0,
                 loss_obj_weight: float = 1.0,
                 memory_dtype: str = 'bfloat16',
                 threshold: float = 0.5,
                 local_memory_init: float = 0.0,
                 point_prompt_prob: float = 0.0,
                 click_loss_weight: float = 0.0,
                 memory_readout_weight: float = 0.0,
                 prototype_loss_weight: float = 0.0,
                 appearance_loss_weight: float = 0.0,
                 shape_loss_weight: float = 0.0,
                 test_prompt: str = 'gt',
                 data_preprocessor: dict | None = None,
                 train_cfg: dict | None = None,
                 test_cfg: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(
                type='ClipDataPreprocessor'),
            init_cfg=init_cfg)
        self.sam = build_sam2_model(sam2_config, None, image_size,
                                    expand_sam2_overrides(sam2_overrides))
        if local_memory_init:
            init_local_memory_attention(self.sam, local_memory_init)
        if checkpoint is not None:
            load_sam2_checkpoint(self.sam, checkpoint)
        if num_train_frames is not None and num_train_frames < 2:
            raise ValueError('num_train_frames must be >= 2 (a prompted '
                             f'frame and a tracked one), got {num_train_frames}')
        self.num_train_frames = num_train_frames
        self.mask_candidate = check_mask_candidate(mask_candidate)
        self.loss_mask = MODELS.build(loss_mask or dict(type='BCEDiceLoss'))
        self.loss_iou_weight = loss_iou_weight
        self.loss_obj_weight = loss_obj_weight
        self.memory_dtype = getattr(torch, memory_dtype)
        self.threshold = threshold
        self.frozen = tuple(frozen)
        self.point_prompt_prob = point_prompt_prob
        self.click_loss_weight = click_loss_weight
        self.memory_readout_weight = memory_readout_weight
        self.prototype_loss_weight = prototype_loss_weight
        self.appearance_loss_weight = appearance_loss_weight
        self.appearance_align = ReferentAlignmentLoss(
            mode='pixel', temperature=0.1, loss_weight=appearance_loss_weight)
        self.shape_loss_weight = shape_loss_weight
        if shape_loss_weight:  # not part of SAM2 (not exported)
            self.shape_readout = PrototypeShapeLoss(
                self.sam.hidden_dim, loss_weight=shape_loss_weight)
        if memory_readout_weight:
            # a linear read-out of the memory-conditioned features; not
            # part of SAM2 (export_sam2_weights leaves it out)
            self.memory_readout = nn.Conv2d(self.sam.hidden_dim, 1, 1)
        if test_prompt not in TEST_PROMPTS:
            raise ValueError(f'test_prompt must be one of {TEST_PROMPTS}, '
                             f'got {test_prompt!r}')
        self.test_prompt = test_prompt
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        for name, param in self.sam.named_parameters():
            param.requires_grad_(not name.startswith(self.frozen))

    def train(self, mode: bool = True):
        """Frozen SAM2 parts stay in eval mode."""
        super().train(mode)
        for name, module in self.sam.named_modules():
            if name and name.startswith(self.frozen):
                module.eval()
        return self

    @property
    def image_encoder_frozen(self) -> bool:
        return not any(p.requires_grad
                       for p in self.sam.image_encoder.parameters())

    # ------------------------------------------------------------ inputs
    def _fit_frames(self, frames: Tensor) -> Tensor:
        """Resize (B, T, 3, H, W) frames to SAM2's (B, T, 3, S, S)."""
        return fit_frames(frames, self.sam.image_size)

    @staticmethod
    def _gt_masks(data_samples) -> Tensor:
        """(B, T, h, w) {0, 1} ground truth of every frame."""
        return torch.stack([ds.gt_sem_seg.data for ds in data_samples])

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

    # ------------------------------------------------------------ tracking
    def track(self, frames: Tensor, mask0: Tensor, memory_dtype: torch.dtype,
              points: dict | None = None, backbone_out: dict | None = None
              ) -> tuple[dict, list, list]:
        """Prompt frame 0 with ``mask0`` (or ``points``) and track the clip.

        Args:
            frames (Tensor): (B, T, 3, S, S) normalised.
            mask0 (Tensor): (B, 1, h, w) frame-0 masks.
            points (dict, optional): clicks on frame 0 instead of the mask
                (``point_coords`` (B, N, 2), ``point_labels`` (B, N)).
            backbone_out (dict, optional): :func:`encode_frames` of the
                B·T frames, when already computed.

        Returns:
            ``track_clip``'s dict, then the ungated decoder outputs
            (:func:`record_mask_decoder`) of frame 0's prompt (the decoder
            call that makes its object pointer; none when SAM2 does not use
            pointers) and of frames 1..T-1, in order.
        """
        frozen = self.image_encoder_frozen
        if backbone_out is None:
            backbone_out = encode_frames(self.sam, frames.flatten(0, 1),
                                         frozen)
        with record_mask_decoder(self.sam) as calls:
            frame0 = dict(mask_inputs=mask0) if points is None else \
                dict(point_inputs=points)
            out = track_clip(self.sam, frames, frame0,
                             memory_dtype=memory_dtype, frozen_encoder=frozen,
                             backbone_out=backbone_out)
        # every tracked frame calls the decoder exactly once, after frame 0
        split = len(calls) - (frames.size(1) - 1)
        return out, calls[:split], calls[split:]

    # ------------------------------------------------------------ losses
    def loss(self, inputs: dict, data_samples) -> dict:
        """Tracking losses on frames 1..T-1 of the clips with an object.

        Returns:
            dict: ``loss_mask`` and, when weighted, ``loss_iou``,
            ``loss_obj``.
        """
        frames = self._fit_frames(inputs['frames'])
        masks = self._gt_masks(data_samples).to(frames.device)
        frames, masks = self._sub_clips(frames, masks)
        keep = masks[:, 0].flatten(1).bool().any(1)
        if not keep.any():
            return self._zero_losses()
        frames, masks = frames[keep], masks[keep]
        points = None
        if self.point_prompt_prob and \
                torch.rand(()).item() < self.point_prompt_prob:
            points = self._sample_clicks(masks[:, 0])
        backbone_out = encode_frames(self.sam, frames.flatten(0, 1),
                                     self.image_encoder_frozen)
        _, prompt_calls, calls = self.track(frames, masks[:, :1],
                                            torch.float32, points,
                                            backbone_out)
        losses = self._tracking_losses(calls, masks[:, 1:], prompt_calls)
        if points is not None:  # frame 0 is decoded from the click
            masks0, ious0 = prompt_calls[0][:2]
            losses.update(self._decoded_frame_losses(
                masks0, ious0, masks[:, 0], 'click', 'min'))
        if self.click_loss_weight:
            losses.update(self._click_decoding_losses(backbone_out, masks))
        if self.prototype_loss_weight:
            losses.update(self._prototype_decoding_losses(backbone_out,
                                                          masks))
        if self.appearance_loss_weight:
            losses['loss_appearance'] = self._appearance_loss(backbone_out,
                                                              masks)
        if self.shape_loss_weight:
            feats = backbone_out['vision_features']  # (B·T, C, h', w')
            flat = masks.flatten(0, 1)
            losses['loss_shape'] = self.shape_readout(
                ReferentAlignmentLoss.prototypes(feats, flat), flat)
        return losses

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

    def _prototype_decoding_losses(self, backbone_out: dict, masks: Tensor
                                   ) -> dict:
        """One random frame per clip decoded from its object's appearance
        token (``prototype_loss_weight``).

        Args:
            backbone_out (dict): :func:`encode_frames` of the B·T frames.
            masks (Tensor): (B, T, h, w) {0, 1}; frame 0 has the object.

        Returns:
            dict: ``loss_mask_proto_aux`` and ``loss_iou_proto_aux``.
        """
        feats, pos, sizes, target = self._random_object_frames(backbone_out,
                                                               masks)
        cells = feats[-1].detach().permute(1, 2, 0).reshape(
            target.size(0), -1, *sizes[-1])  # (B, C, h/16, w/16)
        tokens = ReferentAlignmentLoss.prototypes(cells, target)[:, None] * \
            point_embedding_norm(self.sam).detach()
        with extra_sparse_prompt(self.sam, tokens.to(cells.dtype)), \
                record_mask_decoder(self.sam) as calls:
            decode_first_frame(self.sam, feats, pos, sizes, num_frames=1)
        return self._decoded_frame_losses(
            *calls[0][:2], target, 'proto_aux', self.mask_candidate,
            self.prototype_loss_weight)

    def _click_decoding_losses(self, backbone_out: dict, masks: Tensor
                               ) -> dict:
        """One random frame per clip, with its object, decoded from a
        single positive click without memory (``click_loss_weight``).

        Args:
            backbone_out (dict): :func:`encode_frames` of the B·T frames.
            masks (Tensor): (B, T, h, w) {0, 1}; frame 0 has the object.

        Returns:
            dict: ``loss_mask_click_aux`` and ``loss_iou_click_aux``.
        """
        feats, pos, sizes, target = self._random_object_frames(backbone_out,
                                                               masks)
        with record_mask_decoder(self.sam) as calls:
            decode_first_frame(self.sam, feats, pos, sizes, num_frames=1,
                               point_inputs=self._sample_clicks(target),
                               multimask_output=True)
        return self._decoded_frame_losses(*calls[0][:2], target, 'click_aux',
                                          'min', self.click_loss_weight)

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

    # ------------------------------------------------------------ inference
    def _forward(self, inputs: dict, data_samples=None) -> Tensor:
        """(B, T, S/4, S/4) gated mask logits, frame 0 prompted with
        :meth:`prompt_masks`."""
        if data_samples is None:
            raise ValueError('SAM2TrackerPretrainer needs the data samples: '
                             'frame 0 is prompted with a mask of each row')
        frames = self._fit_frames(inputs['frames'])
        # frame sizes differ within a test batch: fit each mask to S x S
        mask0 = torch.cat([prepare_mask_prompt(self.sam, m[None, None])
                           for m in self.prompt_masks(data_samples)])
        out, _, _ = self.track(frames, mask0.to(frames.device),
                               self.memory_dtype)
        return out['low_res_logits'][:, :, 0]

    def prompt_masks(self, data_samples) -> list[Tensor]:
        """Frame 0's mask prompt of each sample, (h, w) at its frame size:
        the row's ground truth (``test_prompt='gt'``) or the union of every
        object's (``'all_objects'``, read from the synthetic extras)."""
        if self.test_prompt == 'gt':
            return [ds.gt_sem_seg.data[0] for ds in data_samples]
        masks = []
        for ds in data_samples:
            paths = ds.metainfo.get('frame_paths')
            name = ds.metainfo.get('clip_name')
            if not paths or not name:
                raise KeyError(
                    "test_prompt='all_objects' needs the frame_paths and "
                    'clip_name metainfo of each sample (RefAVSDataset and '
                    'PackClipInputs give them)')
            root = data_root_of_frames(paths[0])
            masks.append(torch.from_numpy(
                load_all_objects_mask(root, name).astype('uint8')))
        return masks

    def predict(self, inputs: dict, data_samples=None):
        """Mask-prompt frame 0 (:meth:`prompt_masks`) and track the clip."""
        logits = self._forward(inputs, data_samples)
        return self.postprocess_result(logits, data_samples)

    def postprocess_result(self, logits: Tensor, data_samples):
        """The fields SAM2LOVE writes, with this model's threshold.

        Args:
            logits (Tensor): (B, T, h, w) mask logits.
        """
        return postprocess_clip_logits(logits, data_samples, self.threshold)

    def extract_feat(self, inputs: dict):
        """Image features of every frame (``encode_frames`` of B·T)."""
        frames = self._fit_frames(inputs['frames'])
        return encode_frames(self.sam, frames.flatten(0, 1),
                             self.image_encoder_frozen)

    def encode_decode(self, inputs: dict, batch_img_metas=None):
        raise NotImplementedError(
            'SAM2TrackerPretrainer prompts frame 0 with a mask of each row: '
            'use predict() or _forward() with data samples')


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
    from sam2love.utils import allow_mmengine_checkpoints
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
