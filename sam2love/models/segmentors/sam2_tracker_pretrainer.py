"""``SAM2TrackerPretrainer``: teach a SAM2 to track (stage 1 of the demo).

SAM2-LOVE prompts a SAM2 that already tracks. With no pretrained SAM2 at
hand (CPU demo), this segmentor trains one on the synthetic clips as a
stand-in for SAM2's own video pre-training: frame 0's ground-truth mask is
the prompt, frames 1..T-1 are tracked from SAM2's memory bank with
gradients on, and the tracked frames are supervised.

Choices:

- **Losses** as SAM2 trains (:mod:`.tracking_losses`).
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
"""
from collections.abc import Sequence

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn

from ...datasets.layout import data_root_of_frames
from ...datasets.synthetic.extras import load_all_objects_mask
from ..losses.mask_candidates import check_mask_candidate
from ..losses.referent_alignment import ReferentAlignmentLoss
from ..losses.shape_readout import PrototypeShapeLoss
from ..sam2.build import (
    build_sam2_model,
    expand_sam2_overrides,
    init_local_memory_attention,
    load_sam2_checkpoint,
)
from ..sam2.features import encode_frames
from ..sam2.hooks import record_mask_decoder
from ..sam2.owner import SAM2OwnerMixin
from ..sam2.prompts import prepare_mask_prompt
from ..sam2.tracker import track_clip
from .base import ClipSegmentor
from .sam2love import postprocess_clip_logits
from .tracking_losses import TrackingLossMixin

#: Frame-0 prompts of ``predict``: the row's ground truth, or every object.
TEST_PROMPTS = ('gt', 'all_objects')


@MODELS.register_module()
class SAM2TrackerPretrainer(TrackingLossMixin, SAM2OwnerMixin, ClipSegmentor):
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
        super().__init__(data_preprocessor, train_cfg, test_cfg, init_cfg)
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
        for name, param in self.sam.named_parameters():
            param.requires_grad_(not name.startswith(self.frozen))

    # ------------------------------------------------------------ inputs
    @staticmethod
    def _gt_masks(data_samples) -> Tensor:
        """(B, T, h, w) {0, 1} ground truth of every frame."""
        return torch.stack([ds.gt_sem_seg.data for ds in data_samples])

    def frozen_modules(self):
        """SAM2's modules under the ``frozen`` prefixes."""
        return (module for name, module in self.sam.named_modules()
                if name and name.startswith(self.frozen))

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
        frames = self.fit_frames(inputs['frames'])
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
            losses.update(self._random_frame_losses(backbone_out, masks,
                                                    'click_aux'))
        if self.prototype_loss_weight:
            losses.update(self._random_frame_losses(backbone_out, masks,
                                                    'proto_aux'))
        if self.appearance_loss_weight:
            losses['loss_appearance'] = self._appearance_loss(backbone_out,
                                                              masks)
        if self.shape_loss_weight:
            feats = backbone_out['vision_features']  # (B·T, C, h', w')
            flat = masks.flatten(0, 1)
            losses['loss_shape'] = self.shape_readout(
                ReferentAlignmentLoss.prototypes(feats, flat), flat)
        return losses

    # ------------------------------------------------------------ inference
    def _forward(self, inputs: dict, data_samples=None) -> Tensor:
        """(B, T, S/4, S/4) gated mask logits, frame 0 prompted with
        :meth:`prompt_masks`."""
        if data_samples is None:
            raise ValueError('SAM2TrackerPretrainer needs the data samples: '
                             'frame 0 is prompted with a mask of each row')
        frames = self.fit_frames(inputs['frames'])
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
        frames = self.fit_frames(inputs['frames'])
        return encode_frames(self.sam, frames.flatten(0, 1),
                             self.image_encoder_frozen)

    def encode_decode(self, inputs: dict, batch_img_metas=None):
        raise NotImplementedError(
            'SAM2TrackerPretrainer prompts frame 0 with a mask of each row: '
            'use predict() or _forward() with data samples')
