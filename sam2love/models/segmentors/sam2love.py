"""``SAM2LOVE``: the segmentor joining backbone, neck and SAM2 head."""
import copy
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS

from ...datasets.null_negatives import asks_for_sound
from ...feature_cache.keys import SAM2_LEVEL_KEY, cached_sam2_levels
from ...feature_cache.manifest import FeatureCacheError, check_frozen_parts
from ...utils.fingerprint import bytes_sha256, module_sha256, to_jsonable
from ..decode_heads.heard_names import HeardNames
from ..decode_heads.names_on_screen import NamesOnScreen
from ..decode_heads.presence import QUERY_SOURCES
from ..decode_heads.silhouette_names import SilhouetteNames
from ..decode_heads.sound_on_screen import SoundOnScreen
from ..sam2.features import image_encoder_levels
from .base import ClipSegmentor

#: The Ref-AVS metric's resolution (H, W).
EVAL_SIZE = (256, 256)
#: ``sound_check.silence_rows``: the rows that hear silence where the
#: sound is not made on screen
SILENCE_ROWS = ('sound-asking', 'all')
#: ``name_check.head_rows``: the rows the head's presence check still
#: judges beside the names check
HEAD_ROWS = ('all', 'sound-asking')


def tokenizer_sha256(tokenizer) -> str:
    """SHA-256 of a fast tokenizer's vocabulary, merges, normaliser and
    pre/post-processing; its padding / truncation state, which every call
    with ``padding=`` / ``truncation=`` rewrites, is left out."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state.pop('padding', None)
    state.pop('truncation', None)
    return bytes_sha256(json.dumps(state, sort_keys=True).encode())


def repeat_clip_features(feats: dict, k: int) -> dict:
    """One clip's features (batch 1) for K expressions: views, no copy."""
    return {key: value.expand(k, *value.shape[1:])
            for key, value in feats.items()}


@MODELS.register_module()
class SAM2LOVE(ClipSegmentor):
    """SAM2-LOVE: referring audio-visual segmentation of whole clips.

    ``inputs`` is ``dict(frames=(B, T, 3, H, W), audio=(B, L))`` from
    :class:`~sam2love.models.ClipDataPreprocessor` (optionally with
    precomputed encoder features, see the backbone); the expressions are
    the ``text`` metainfo of the data samples.

    Training from a feature cache (``RefAVSDataset(feature_cache=DIR)``,
    made by ``tools/extract_features.py``): ``inputs`` then holds what the
    frozen parts computed instead of frames and audio, ``audio_feats``
    (B, N, Da), ``patch_feats`` (B, T, HW, Dv), ``cls_feats`` (B, T, Dv),
    ``text_feats`` (B, P, Dt), ``text_mask`` (B, P) and ``sam2_fpn_<i>``
    (B, C_i, h_i, w_i), frame 0's image-encoder levels; :meth:`loss` runs
    only the trained parts on them. The first batch from a cache (its
    samples' ``feature_cache`` metainfo) is checked against the cache's
    manifest (:meth:`frozen_fingerprint`): a cache of other frozen weights
    or configs is refused, naming each entry that differs.

    Predictions land in each ``SegDataSample`` as mmseg users expect, one
    channel per frame:

    - ``seg_logits``: ``PixelData`` (T, H, W) logits at the original frame
      size (``ori_shape``);
    - ``pred_sem_seg``: ``PixelData`` (T, H, W) masks, sigmoid > threshold;
    - ``pred_eval_logits``: ``PixelData`` (T, 256, 256) logits for the
      Ref-AVS metric (bilinear from SAM2's low-resolution logits);
    - ``pred_presence``: (T, ) probability that the referent is in each
      frame (``SAM2PromptHead.predict_clip``); with the head's
      ``presence`` switch, 0 on every frame of a clip found absent, whose
      masks are then empty.

    Args:
        backbone (dict): tri-modal encoder wrapper.
        neck (dict): ``FusionTokenNeck``.
        decode_head (dict): ``SAM2PromptHead``.
        data_preprocessor (dict): ``ClipDataPreprocessor``.
        train_only (Sequence[str], optional): train only the parameters
            under these module names (e.g. ``'decode_head.presence_verify'``:
            the presence check on a trained model); every other module is
            frozen and kept in eval mode (no batch-norm statistic moves),
            so the rest of the model stays bit for bit as loaded.
        sound_check (dict, optional): beyond the paper, is the sound made
            on screen (:class:`~sam2love.models.decode_heads.
            sound_on_screen.SoundOnScreen`, its keys ``size``, ``width``,
            ``loud_floor``, ``loud_rel``, ``loss``, ``inputs``; ``whitening``
            reads the data preprocessor's mean and std)? A clip
            whose sync is under ``threshold`` (0.5) is heard as silence by
            the presence check (the presence query's sound row; the masks
            keep the sound):
            for the referent a sound nothing on screen makes is no sound.
            ``silence_rows``: the rows that hear it, ``'sound-asking'``
            (the default: an expression with a sound word and no silence
            word, :func:`~sam2love.datasets.null_negatives.
            asks_for_sound`; where the sound is not asked for, whether it
            is made on screen says nothing of the referent) or ``'all'``.
            Needs the neck's ``presence_query``. Acts on clips of frames
            and audio in eval mode; learns (``loss_weight``, 1.0) where
            trained (``train_only=('sound_on_screen', )``) from clips with
            frames and their own audio.
        name_check (dict, optional): beyond the paper, is what the
            expression names on screen (:class:`~sam2love.models.
            decode_heads.names_on_screen.NamesOnScreen`, its keys
            ``vocabulary``, ``size``, ``width``, ``turns``; or with
            ``type='SilhouetteNames'``, :class:`~sam2love.models.
            decode_heads.silhouette_names.SilhouetteNames`, names read
            from the objects' silhouettes on every frame)? A row whose
            probability is under ``threshold`` (0.5) is found absent (masks emptied,
            presence 0) whatever the head's check says. ``head_rows``:
            the rows the head's check still judges, ``'all'`` (the
            default) or ``'sound-asking'`` (those whose expression asks
            for a sound, as ``sound_check.silence_rows``: where the names
            check takes the absent referents, the head's threshold is
            calibrated against silence, which only they hear; a row found
            by sight is then the names check's alone). Needs the head's
            ``presence`` switch. Acts on clips of frames in eval mode;
            learns (``loss_weight``, 1.0) where trained
            (``train_only=('names_on_screen', )``) from rows with frames
            and the map of the clip's referred objects on frame 0 (or,
            for ``SilhouetteNames``, the frames ``LoadClipObjects``
            reads): each object named by its category.
        heard_check (dict, optional): beyond the paper, is the sound
            heard made by an object on screen, by name
            (:class:`~sam2love.models.decode_heads.heard_names.HeardNames`,
            its keys ``width``, ``bins_per_octave``, ...; the names
            check's vocabulary)? Each loud second's sound is named (a
            colour word and another) and the names check looks for an
            object carrying them (found at its own threshold); a clip
            whose match is at least ``threshold`` (0.5) has its sound
            made on screen whatever its sync (an object that sounds
            without showing any activity cue); one whose match is under
            ``unmade_below`` (0: never) has it unmade whatever its sync
            (nothing it sounds like is on screen). Needs ``sound_check``
            and ``name_check``. Its initial weights are drawn without
            moving the global random state, so adding it leaves the other
            checks' training as it was; learns
            (``loss_weight``, 1.0) where trained (``train_only=
            ('heard_names', )``) from clips with their own audio and their
            referred objects' categories (``LoadClipObjects``).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 decode_head: dict,
                 data_preprocessor: dict | None = None,
                 train_cfg: dict | None = None,
                 test_cfg: dict | None = None,
                 train_only: Sequence[str] | None = None,
                 sound_check: dict | None = None,
                 name_check: dict | None = None,
                 heard_check: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(data_preprocessor, train_cfg, test_cfg, init_cfg,
                         backbone=backbone, neck=neck,
                         decode_head=decode_head)
        self.sound_check = self._build_sound_check(sound_check)
        self.name_check = self._build_name_check(name_check)
        self.heard_check = self._build_heard_check(heard_check)
        source = (self.decode_head.presence or {}).get('source')
        if (source in QUERY_SOURCES) != bool(getattr(self.neck,
                                                     'presence_query', False)):
            raise ValueError(
                f"SAM2LOVE: presence sources {QUERY_SOURCES} and the neck's "
                'presence_query go together (decode_head.presence.source='
                f"{(self.decode_head.presence or {}).get('source')!r}, "
                f"neck.presence_query={getattr(self.neck, 'presence_query', None)})")
        self.train_only = self._freeze_all_but(train_only)
        # what builds the frozen parts, for feature-cache manifests (the
        # silence of training-time null references changes no cached array)
        frozen_backbone = copy.deepcopy(backbone)
        frozen_backbone.pop('silence_noise', None)
        self._frozen_cfgs = dict(
            data_preprocessor=to_jsonable(copy.deepcopy(
                data_preprocessor or dict(type='ClipDataPreprocessor'))),
            backbone=to_jsonable(frozen_backbone))
        self._checked_caches: set[str] = set()

    @staticmethod
    def _check_settings(cfg: dict) -> tuple[dict, dict]:
        """A check's config -> (its module's kwargs, the segmentor's
        ``threshold`` (0.5) and ``loss_weight`` (1.0))."""
        cfg = dict(cfg)
        return cfg, dict(threshold=cfg.pop('threshold', 0.5),
                         loss_weight=cfg.pop('loss_weight', 1.0))

    def _build_sound_check(self, cfg: dict | None) -> dict | None:
        if cfg is None:
            return None
        cfg, settings = self._check_settings(cfg)
        settings['silence_rows'] = cfg.pop('silence_rows', 'sound-asking')
        if settings['silence_rows'] not in SILENCE_ROWS:
            raise ValueError(
                f'SAM2LOVE: sound_check.silence_rows must be one of '
                f"{SILENCE_ROWS}, got {settings['silence_rows']!r}")
        if not getattr(self.neck, 'presence_query', False):
            raise ValueError('SAM2LOVE: sound_check makes the presence '
                             "check hear silence and needs the neck's "
                             'presence_query')
        if 'whitening' in cfg.get('inputs', ()) and 'mean' not in cfg:
            norm = self.data_preprocessor
            if not hasattr(norm, 'mean') or not hasattr(norm, 'std'):
                raise ValueError('SAM2LOVE: sound_check reads whitening and '
                                 'needs the mean and std of the data '
                                 'preprocessor (or its own)')
            cfg.update(mean=norm.mean.flatten().tolist(),
                       std=norm.std.flatten().tolist())
        self.sound_on_screen = SoundOnScreen(**cfg)
        return settings

    def _build_name_check(self, cfg: dict | None) -> dict | None:
        if cfg is None:
            return None
        cfg, settings = self._check_settings(cfg)
        settings['head_rows'] = cfg.pop('head_rows', 'all')
        if settings['head_rows'] not in HEAD_ROWS:
            raise ValueError(
                f'SAM2LOVE: name_check.head_rows must be one of {HEAD_ROWS}, '
                f"got {settings['head_rows']!r}")
        if not self.decode_head.presence:
            raise ValueError('SAM2LOVE: name_check finds rows absent through '
                             "the head's presence switch "
                             '(decode_head.presence)')
        check = MODELS.build(dict(dict(type='NamesOnScreen'), **cfg))
        if not isinstance(check, (NamesOnScreen, SilhouetteNames)):
            raise TypeError(f'SAM2LOVE: name_check type {cfg["type"]!r} is '
                            'not a names check (NamesOnScreen, '
                            'SilhouetteNames)')
        self.names_on_screen = check
        return settings

    def _build_heard_check(self, cfg: dict | None) -> dict | None:
        if cfg is None:
            return None
        if self.sound_check is None or self.name_check is None:
            raise ValueError('SAM2LOVE: heard_check overrules the sound '
                             "check's synchrony with the names check's "
                             'objects and needs sound_check and name_check')
        cfg, settings = self._check_settings(cfg)
        settings['unmade_below'] = cfg.pop('unmade_below', 0.0)
        with torch.random.fork_rng(devices=[]):
            self.heard_names = HeardNames(
                vocabulary=self.names_on_screen.vocabulary, **cfg)
        return settings

    # ------------------------------------------------------ frozen parts
    def _freeze_all_but(self, names: Sequence[str] | None) -> tuple:
        """``train_only``: freeze every parameter outside the ``names``
        modules (those inside keep their own setting)."""
        if not names:
            return ()
        names = tuple(names) if not isinstance(names, str) else (names, )
        modules = dict(self.named_modules())
        missing = [n for n in names if n not in modules]
        if missing:
            raise ValueError(f'SAM2LOVE: train_only names no module: {missing}')
        for name, param in self.named_parameters():
            if not name.startswith(tuple(n + '.' for n in names)):
                param.requires_grad_(False)
        return names

    def train(self, mode: bool = True) -> 'SAM2LOVE':
        """With ``train_only``, only those modules enter training mode."""
        super().train(mode)
        if mode and getattr(self, 'train_only', ()):
            for name, module in self.named_modules():
                # neither a train_only module, inside one, nor above one
                if name and not any(
                        name == n or name.startswith(n + '.')
                        or n.startswith(name + '.') for n in self.train_only):
                    module.training = False
        return self

    @property
    def frozen_parts_frozen(self) -> bool:
        """Whether every part a feature cache replaces is frozen: the
        three encoders and SAM2's image encoder."""
        return all(self.backbone.is_frozen(e)
                   for e in self.backbone.encoders()) and \
            self.decode_head.image_encoder_frozen

    def check_cacheable(self) -> None:
        """Raise when a part a feature cache would replace is trained."""
        if not self.frozen_parts_frozen:
            raise FeatureCacheError(
                'SAM2LOVE: a feature cache holds the outputs of frozen parts, '
                'but this model trains an encoder or SAM2\'s image encoder '
                '(backbone frozen / decode_head trainable)')

    def frozen_fingerprint(self) -> dict:
        """What a feature cache depends on in the model, as JSON.

        Returns:
            dict: ``configs``: the data preprocessor's and backbone's
            configs and SAM2's (config name, checkpoint, image size, Hydra
            overrides); ``weights_sha256``: SHA-256 of each encoder's
            parameters and buffers, of the text tokenizer and of SAM2's
            image encoder (see :func:`~sam2love.utils.fingerprint.
            module_sha256`). Paths of weight files are recorded, not
            compared: the hashes are.
        """
        backbone, head = self.backbone, self.decode_head
        hashes = dict(
            audio_encoder=module_sha256(backbone.audio_encoder),
            vision_encoder=module_sha256(backbone.vision_encoder),
            text_encoder=module_sha256(backbone.text_encoder),
            sam2_image_encoder=module_sha256(head.sam.image_encoder))
        tokenizer = getattr(backbone.text_encoder, 'tokenizer', None)
        if hasattr(tokenizer, 'backend_tokenizer'):
            hashes['text_tokenizer'] = tokenizer_sha256(tokenizer)
        return dict(configs=dict(self._frozen_cfgs,
                                 sam2=to_jsonable(head.sam2_spec)),
                    weights_sha256=hashes)

    @torch.no_grad()
    def frozen_clip_features(self, inputs: dict, sam2_levels: bool = True
                             ) -> dict:
        """The frozen parts' per-clip outputs, as a feature cache stores
        them.

        Args:
            inputs (dict): ``frames`` (B, T, 3, H, W) and ``audio`` (B, L)
                from the data preprocessor.
            sam2_levels (bool): also SAM2's image-encoder levels of frame 0.

        Returns:
            dict: ``audio_feats`` (B, N, Da), ``patch_feats``
            (B, T, HW, Dv), ``cls_feats`` (B, T, Dv), and ``sam2_fpn_<i>``
            (B, C_i, h_i, w_i), SAM2's image-encoder levels of frame 0
            (before the trainable convs).
        """
        backbone = self.backbone
        audio = backbone.run(backbone.audio_encoder, inputs['audio'])
        patches, cls = backbone.run(backbone.vision_encoder, inputs['frames'])
        out = dict(audio_feats=audio, patch_feats=patches, cls_feats=cls)
        if sam2_levels:
            head = self.decode_head
            levels = image_encoder_levels(
                head.sam, head.fit_frames(inputs['frames'][:, 0]))
            for i, level in enumerate(levels):
                out[SAM2_LEVEL_KEY.format(i)] = level
        return out

    @torch.no_grad()
    def frozen_text_features(self, texts: list[str]) -> dict:
        """``text_feats`` (B, P, Dt) and ``text_mask`` (B, P) bool of B
        expressions, as a feature cache stores them."""
        text, mask = self.backbone.run(self.backbone.text_encoder, texts)
        return dict(text_feats=text, text_mask=mask.bool())

    def _check_feature_cache(self, data_samples) -> None:
        """Check each new cache the batch comes from against the model."""
        for sample in data_samples:
            cache = sample.metainfo.get('feature_cache')
            if cache is None or cache in self._checked_caches:
                continue
            self.check_cacheable()
            check_frozen_parts(cache, self.frozen_fingerprint())
            self._checked_caches.add(cache)

    def extract_feat(self, inputs: dict, texts: list[str],
                     unmade: torch.Tensor | None = None) -> torch.Tensor:
        """Encoders and fusion: the prompt token (B, 1, D) (with the
        neck's presence query, (B, 3 + P, D)). With ``sound_check``, in
        eval mode, the query's sound is silence for the clips whose sound
        is not made on screen (``unmade`` (B,) bool, :meth:`sound_unmade`
        of ``inputs`` by default; by default only for the rows whose
        expression asks for a sound)."""
        feats = self.backbone(inputs, texts)
        prompt = self.neck(feats)['prompt']
        if self.sound_check is None or self.training:
            return prompt
        off = self.sound_unmade(inputs) if unmade is None else unmade
        if off is None:
            return prompt
        if off.any() and self.sound_check['silence_rows'] == 'sound-asking':
            off = off & torch.tensor([asks_for_sound(t) for t in texts],
                                     device=off.device)
        if not off.any():
            return prompt
        # the query's sound row of silence is the same for every clip:
        # one clip's features, one patch, silence for its audio
        one = {key: value[:1] for key, value in feats.items()}
        one.update(audio=self.backbone.silence_features(feats['audio']),
                   patches=one['patches'][:, :, :1])
        quiet = self.neck.query_of(self.neck.project(one))[:, 1]  # (1, D)
        prompt = prompt.clone()
        prompt[:, 2] = torch.where(off[:, None], quiet.to(prompt.dtype),
                                   prompt[:, 2])
        return prompt

    @torch.no_grad()
    def sound_sync(self, inputs: dict) -> torch.Tensor | None:
        """(B,) how much the sound is made on screen (``SoundOnScreen``)
        of clips with ``frames`` and ``audio``; None without them or
        without ``sound_check``."""
        if self.sound_check is None or 'frames' not in inputs \
                or 'audio' not in inputs:
            return None
        return self.sound_on_screen(inputs['frames'], inputs['audio'])

    @torch.no_grad()
    def heard_match(self, inputs: dict) -> torch.Tensor | None:
        """(B,) the chance that what each clip's loud seconds sound like
        is an object on screen (``HeardNames.match``; on screen: each name
        it can hear that the names check finds, at ``name_check``'s
        threshold); None without ``heard_check``, frames or audio."""
        if self.heard_check is None or 'frames' not in inputs \
                or 'audio' not in inputs:
            return None
        frames, audio = inputs['frames'], inputs['audio']
        names = self.heard_names.names()
        # on screen: what the names check would find, at its own threshold
        # (its probability alone counts a name it doubts, an occluded
        # circle read as a diamond, as half found)
        found = torch.stack([
            self.names_on_screen(frames[i:i + 1], names)
            for i in range(len(frames))]) >= self.name_check['threshold']
        return self.heard_names.match(audio, frames.size(1), found.float())

    def sound_unmade(self, inputs: dict) -> torch.Tensor | None:
        """(B,) bool: the clips whose sound is not made on screen: their
        sync under ``sound_check``'s threshold and (with ``heard_check``)
        their match under its own, or whatever their sync their match
        under ``heard_check.unmade_below`` (the match asked only of the
        clips it can change); None where it cannot be told."""
        sync = self.sound_sync(inputs)
        if sync is None:
            return None
        off = sync < self.sound_check['threshold']
        if self.heard_check is None:
            return off
        below = self.heard_check['unmade_below']
        rows = (torch.ones_like(off) if below > 0 else off).nonzero()[:, 0]
        if len(rows):  # the clips whose match can change their answer
            match = self.heard_match({key: inputs[key][rows]
                                      for key in ('frames', 'audio')})
            off[rows] = torch.where(off[rows],
                                    match < self.heard_check['threshold'],
                                    match < below)
        return off

    def encode_decode(self, inputs: dict, batch_img_metas: list[dict]
                      ) -> torch.Tensor:
        """Clip logits (B, T, h, w) at SAM2's mask resolution; the
        expressions are the metas' ``text``."""
        return self._predict_clip(inputs, batch_img_metas)['logits']

    def _predict_clip(self, inputs: dict, batch_img_metas: list[dict]
                      ) -> dict:
        """``SAM2PromptHead.predict_clip`` of the batch: ``logits``
        (B, T, h, w) and ``presence`` (B, T)."""
        if 'frames' not in inputs:
            raise KeyError(
                'SAM2LOVE: prediction tracks whole clips and needs their '
                'frames; a feature cache (frame 0 only) is for training')
        texts = [m['text'] for m in batch_img_metas]
        prompt = self.extract_feat(inputs, texts)
        return self.decode_head.predict_clip(
            prompt, inputs['frames'], **self.presence_overrides(inputs, texts))

    @torch.no_grad()
    def names_presence(self, inputs: dict, texts: list[str]
                       ) -> torch.Tensor | None:
        """(B,) probability that what each expression names is on its
        clip's frame 0 (``NamesOnScreen``) or on one of its frames
        (``SilhouetteNames``); a clip of ``frames`` (1, T, 3, H, W) serves
        every expression. None without ``name_check`` or frames."""
        if self.name_check is None or 'frames' not in inputs:
            return None
        return self.names_on_screen(inputs['frames'], texts)

    def names_absent(self, inputs: dict, texts: list[str]
                     ) -> torch.Tensor | None:
        """(B,) bool: :meth:`names_presence` under ``name_check``'s
        threshold (the rows it finds absent); None where it cannot look."""
        found = self.names_presence(inputs, texts)
        return None if found is None else found < self.name_check['threshold']

    def head_spared(self, texts: list[str]) -> torch.Tensor | None:
        """(B,) bool: the rows the head's presence check does not judge
        (``name_check.head_rows='sound-asking'``: those whose expression
        does not ask for a sound); None where it judges every row."""
        if self.name_check is None \
                or self.name_check['head_rows'] == 'all':
            return None
        return torch.tensor([not asks_for_sound(t) for t in texts])

    def presence_overrides(self, inputs: dict, texts: list[str]) -> dict:
        """What the other checks decide for the head's presence switch
        (``SAM2PromptHead.predict_clip`` / :meth:`track`): ``vetoed``
        (:meth:`names_absent`) and ``spared`` (:meth:`head_spared`)."""
        return dict(vetoed=self.names_absent(inputs, texts),
                    spared=self.head_spared(texts))

    @torch.no_grad()
    def prompts(self, inputs: dict, texts: list[str]) -> torch.Tensor:
        """The K fused tokens of one clip's K expressions, the audio and
        vision encoders run once for all of them.

        Args:
            inputs (dict): the data preprocessor's ``frames``
                (1, T, 3, H, W) and ``audio`` (1, L) of the clip.
            texts (list[str]): the K expressions (encoded as one batch).

        Returns:
            Tensor: (K, 1, D).
        """
        clip = self.frozen_clip_features(inputs, sam2_levels=False)
        unmade = self.sound_unmade(inputs)
        return self.extract_feat(
            repeat_clip_features(clip, len(texts)), texts,
            None if unmade is None else unmade.expand(len(texts)))

    @torch.no_grad()
    def track(self, prompt: torch.Tensor, frames: Iterable[torch.Tensor],
              num_frames: int | None = None,
              batch_size: int | None = None,
              vetoed: torch.Tensor | None = None,
              spared: torch.Tensor | None = None) -> Iterator[dict]:
        """Track the K prompted objects through frames that come one at a
        time, in memory that does not grow with the video
        (``SAM2PromptHead.track``).

        Args:
            prompt (Tensor): (K, 1, D), :meth:`prompts`.
            frames (Iterable[Tensor]): (3, H, W) frames normalised by the
                data preprocessor, in order.
            num_frames (int, optional): how many there will be.
            batch_size (int, optional): objects per SAM2 tracker (all K in
                one by default); each tracker encodes a frame once.
            vetoed (Tensor, optional): (K,) bool, the expressions found
                absent beforehand (:meth:`names_absent`).
            spared (Tensor, optional): (K,) bool, the expressions the
                head's check does not judge (:meth:`head_spared`).

        Yields:
            dict: per frame, as ``SAM2PromptHead.track``: ``logits``
            (K, h, w), ``object_score_logits`` (K,), ``ious`` (K,),
            ``presence`` (K,) and ``memory_frames`` (the most any tracker
            held).
        """
        size = batch_size or len(prompt)
        chunks = prompt.split(size)
        vetoes, spares = ([None] * len(chunks) if rows is None
                          else rows.split(size) for rows in (vetoed, spared))
        copies = itertools.tee(frames, len(chunks))
        streams = [self.decode_head.track(chunk, copy, num_frames, veto,
                                          spare)
                   for chunk, copy, veto, spare in zip(chunks, copies, vetoes,
                                                       spares)]
        for outs in zip(*streams):
            merged = {key: torch.cat([o[key] for o in outs])
                      for key in outs[0] if key != 'memory_frames'}
            merged['memory_frames'] = max(o['memory_frames'] for o in outs)
            yield merged

    def loss(self, inputs: dict, data_samples) -> dict:
        """Frame-0 losses, from frames or from cached features (none
        when only ``sound_on_screen`` or ``names_on_screen`` is
        trained), and ``sound_check``'s and ``name_check``'s where they
        are trained."""
        losses = {}
        checks = ('sound_on_screen.', 'names_on_screen.', 'heard_names.')

        def trained(prefix: str) -> bool:
            return any(p.requires_grad for name, p in self.named_parameters()
                       if name.startswith(prefix))

        if self.sound_check is not None and trained(checks[0]):
            losses.update(self._sound_loss(inputs, data_samples))
        if self.name_check is not None and trained(checks[1]):
            losses.update(self._names_loss(inputs, data_samples))
        if self.heard_check is not None and trained(checks[2]):
            losses.update(self._heard_loss(inputs, data_samples))
        if any(p.requires_grad for name, p in self.named_parameters()
               if not name.startswith(checks)):
            losses.update(self._frame0_loss(inputs, data_samples))
        return losses

    def _sound_loss(self, inputs: dict, data_samples) -> dict:
        """``SoundOnScreen.loss`` of the clips that have their own sound
        (not another clip's or silence, as null references made at
        training time give them)."""
        if 'frames' not in inputs or 'audio' not in inputs:
            raise KeyError('SAM2LOVE: sound_check learns from frames and '
                           'audio; a feature cache has neither')
        own = torch.tensor([
            'audio_clip' not in s.metainfo
            and not s.metainfo.get('silent_audio', False)
            for s in data_samples], device=inputs['audio'].device)
        loss = self.sound_on_screen.loss(inputs['frames'], inputs['audio'],
                                         own)
        return dict(loss_sound_on_screen=self.sound_check['loss_weight']
                    * loss)

    def _names_loss(self, inputs: dict, data_samples) -> dict:
        """The names check's loss: the referred objects of the frames
        ``LoadClipObjects`` maps (frame 0 by default) named by their
        categories, whatever the row's expression or sound."""
        if 'frames' not in inputs:
            raise KeyError('SAM2LOVE: name_check learns from frames; a '
                           'feature cache has none')
        if any('gt_objects' not in ds for ds in data_samples):
            raise KeyError('SAM2LOVE: name_check learns from the map of '
                           "each clip's referred objects: add "
                           "dict(type='LoadClipObjects') to the train "
                           'pipeline, before ResizeClip')
        steps = [ds.metainfo.get('object_frames', [0])
                 for ds in data_samples]  # the frames the maps are of
        loss = self.names_on_screen.loss(
            torch.stack([inputs['frames'][i, s] for i, s in enumerate(steps)]),
            torch.stack([ds.gt_objects.data for ds in data_samples]),
            [ds.metainfo.get('object_categories', []) for ds in data_samples])
        return dict(loss_names_on_screen=self.name_check['loss_weight']
                    * loss)

    def _heard_loss(self, inputs: dict, data_samples) -> dict:
        """``HeardNames.loss`` of the clips that have their own sound,
        each loud second made by one of the referred objects."""
        if 'audio' not in inputs or 'frames' not in inputs:
            raise KeyError('SAM2LOVE: heard_check learns from each clip\'s '
                           'audio (of as many seconds as frames); a '
                           'feature cache has none')
        if any('object_categories' not in ds.metainfo
               for ds in data_samples):
            raise KeyError('SAM2LOVE: heard_check learns from the '
                           "categories of each clip's referred objects: add "
                           "dict(type='LoadClipObjects') to the train "
                           'pipeline')
        rates = {ds.metainfo.get('audio_sample_rate') for ds in data_samples}
        if rates != {self.heard_names.sample_rate}:
            raise ValueError(
                f'SAM2LOVE: heard_check hears {self.heard_names.sample_rate} '
                f'Hz and the batch has audio at {sorted(map(str, rates))}: '
                'set heard_check.sample_rate to LoadClipAudio\'s')
        categories = [
            ds.metainfo['object_categories']
            if 'audio_clip' not in ds.metainfo
            and not ds.metainfo.get('silent_audio', False) else []
            for ds in data_samples]
        loss = self.heard_names.loss(inputs['audio'],
                                     inputs['frames'].size(1), categories)
        return dict(loss_heard_names=self.heard_check['loss_weight'] * loss)

    def _frame0_loss(self, inputs: dict, data_samples) -> dict:
        self._check_feature_cache(data_samples)
        prompt = self.extract_feat(inputs, [ds.text for ds in data_samples])
        gt0 = torch.stack([ds.gt_sem_seg.data[0] for ds in data_samples])
        ids = referent_ids(data_samples).to(gt0.device)
        levels = cached_sam2_levels(inputs)
        if levels is not None:
            return self.decode_head.loss_from_levels(prompt, levels, gt0, ids)
        if 'frames' not in inputs:
            raise KeyError('SAM2LOVE.loss: inputs have neither frames nor '
                           'cached SAM2 features (sam2_fpn_<i>)')
        return self.decode_head.loss(prompt, inputs['frames'], gt0, ids)

    def _forward(self, inputs: dict, data_samples=None) -> torch.Tensor:
        """Raw logits (B, T, h, w) of every frame."""
        return self.encode_decode(inputs, [ds.metainfo for ds in data_samples])

    def predict(self, inputs: dict, data_samples=None):
        out = self._predict_clip(inputs, [ds.metainfo for ds in data_samples])
        samples = self.postprocess_result(out['logits'], data_samples)
        for sample, presence in zip(samples, out['presence']):
            sample.pred_presence = presence
        return samples

    def postprocess_result(self, logits: torch.Tensor, data_samples):
        """Write the predictions, see :func:`postprocess_clip_logits`."""
        return postprocess_clip_logits(logits, data_samples,
                                       self.decode_head.threshold)


def postprocess_clip_logits(logits: torch.Tensor, data_samples,
                            threshold: float):
    """Write ``seg_logits``, ``pred_sem_seg`` and ``pred_eval_logits``.

    Args:
        logits (Tensor): (B, T, h, w) mask logits of the square SAM2
            input, which covers the whole frame.
        data_samples (list[SegDataSample]): B samples with ``ori_shape``.
        threshold (float): probability threshold of ``pred_sem_seg``.
    """
    for clip_logits, sample in zip(logits, data_samples):
        h, w = sample.ori_shape
        full = F.interpolate(clip_logits[None], size=(h, w),
                             mode='bilinear', align_corners=False)[0]
        evaluation = F.interpolate(clip_logits[None], size=EVAL_SIZE,
                                   mode='bilinear', align_corners=False)[0]
        sample.set_data(dict(
            seg_logits=PixelData(data=full),
            pred_sem_seg=PixelData(
                data=(full.sigmoid() > threshold).to(torch.uint8)),
            pred_eval_logits=PixelData(data=evaluation)))
    return data_samples


def referent_ids(data_samples) -> torch.Tensor:
    """(B,) ints, equal for samples that name the same object of the same
    clip (same ``clip_name`` and ``fid``; a sample without them is its
    own)."""
    keys = [(ds.metainfo.get('clip_name'), ds.metainfo.get('fid'))
            if ds.metainfo.get('clip_name') is not None else ('', i)
            for i, ds in enumerate(data_samples)]
    index = {k: n for n, k in enumerate(dict.fromkeys(keys))}
    return torch.tensor([index[k] for k in keys])
