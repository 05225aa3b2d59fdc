"""``RefAVSDataset``: the Ref-AVS release (``RefAVSBench``) layout."""
import copy
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from mmengine.registry import DefaultScope
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..feature_cache import cached_pipeline, check_cache_data, data_fingerprint
from .layout import clip_files, mask_files
from .metadata import SPLITS, RefAVSRow, read_metadata
from .null_negatives import NullNegativeSampler

#: the kinds of null references ``null_negatives`` makes
NEGATIVE_KINDS = ('expression', 'audio', 'silence')


@DATASETS.register_module()
class RefAVSDataset(BaseSegDataset):
    """Ref-AVS: one sample per expression of ``metadata.csv``.

    Layout under ``data_root``::

        metadata.csv                                  # vid,uid,split,fid,exp
        media/<name>/frames/0.jpg ... {T-1}.jpg       # 1 frame per second
        media/<name>/audio.wav
        gt_mask/<name>/fid_<fid>/00000.png ... {T-1:05d}.png

    ``<name>`` comes from ``uid`` (see
    :func:`~sam2love.datasets.metadata.clip_name`), never from ``vid``.
    Rows with split ``TODO`` are ignored and duplicated uids kept, as the
    benchmark does. Null rows (``null_c-`` / ``null_m-`` clips) refer to
    nothing: their masks are empty, and their mask folder may be absent.

    The dataset reads only the csv; files are read by the pipeline
    (``LoadClipFrames``, ``LoadClipAudio``, ``LoadClipMasks``), which raise
    :class:`~sam2love.datasets.RefAVSDataError` naming the file at fault.
    ``tools/check_refavs.py`` validates a whole tree up front.

    Args:
        data_root (str): root of the tree.
        split (str | Sequence[str]): one or several of ``train``, ``val``,
            ``test_s``, ``test_u``, ``test_n``.
        ann_file (str): the metadata file, relative to ``data_root``.
        num_frames (int): frames per clip T. Defaults to 10.
        seconds_per_frame (float): frame spacing; the clip lasts
            ``num_frames * seconds_per_frame`` seconds. Defaults to 1.0.
        media_dir (str): folder of frames and audio under ``data_root``.
        mask_dir (str): folder of ground-truth masks under ``data_root``.
        feature_cache (str, optional): train from a frozen-feature cache
            (made by ``tools/extract_features.py CONFIG --out DIR``): the
            frozen parts' outputs are read from ``DIR`` instead of frames
            and audio, and only frame 0's mask is loaded
            (:func:`~sam2love.feature_cache.cached_pipeline` turns
            ``pipeline`` into that). Refused at construction when ``DIR``
            lacks a complete extraction of these splits, when it was made
            from other data (``metadata.csv``, split, clip length, the
            frame / audio steps of the pipeline) or when the pipeline has
            random augmentations; the model then refuses it on the first
            batch when its frozen weights or configs differ. For training
            only: prediction needs the frames.
        null_negatives (dict, optional): make null references at training
            time (:mod:`~sam2love.datasets.null_negatives`): with
            ``dict(prob=p, match='word', kinds=('expression', 'audio',
            'silence'))`` an ordinary row becomes, with probability ``p``
            each time it is drawn, a null one with empty masks, of a kind
            drawn among those it allows: ``'expression'``, the expression
            of another row that names something its clip does not show,
            each such row as likely (a text as often as rows use it:
            :class:`~sam2love.datasets.null_negatives.NullNegativeSampler`;
            ``text`` is that one; ``text_row`` names its row, whose
            cached text features a feature cache reads); ``'audio'``, for
            an expression that asks for a sound, the audio of another clip
            whose objects its clip does not show (``audio_path`` is that
            clip's, ``audio_clip`` its name); ``'silence'``, for such an
            expression, silence (``silent_audio``, in every row's inputs
            when the kind is on: the backbone swaps in its encoder's
            output of silence). ``match``: ``'word'`` or ``'object'``,
            what "does not show" means. The sample keeps its ``uid``;
            ``is_null`` and ``null_negative`` are True. Training only
            (refused with ``test_mode``).
        **kwargs: passed to :class:`mmseg.datasets.BaseSegDataset`
            (``pipeline``, ``test_mode``, ``backend_args``, ...).
    """

    METAINFO = dict(classes=('background', 'referred'),
                    palette=[[0, 0, 0], [255, 64, 64]])

    def __init__(self,
                 data_root: str,
                 split: str | Sequence[str] = 'train',
                 ann_file: str = 'metadata.csv',
                 num_frames: int = 10,
                 seconds_per_frame: float = 1.0,
                 media_dir: str = 'media',
                 mask_dir: str = 'gt_mask',
                 feature_cache: str | None = None,
                 null_negatives: dict | None = None,
                 **kwargs) -> None:
        splits = (split, ) if isinstance(split, str) else tuple(split)
        unknown = [s for s in splits if s not in SPLITS]
        if unknown or not splits:
            raise ValueError(f'RefAVSDataset: unknown split(s) {unknown}; '
                             f'choose from {", ".join(SPLITS)}')
        if num_frames < 1:
            raise ValueError(f'num_frames must be >= 1, got {num_frames}')
        self.splits = splits
        self.num_frames = num_frames
        self.seconds_per_frame = seconds_per_frame
        self.media_dir = media_dir
        self.mask_dir = mask_dir
        self.feature_cache = feature_cache
        self.null_negatives = self._check_null_negatives(
            null_negatives, kwargs.get('test_mode', False))
        self.negative_sampler: NullNegativeSampler | None = None
        #: the configured pipeline (before a feature cache replaced steps)
        self.pipeline_cfg = copy.deepcopy(list(kwargs.get('pipeline') or []))
        # Our transforms live in mmseg's registry: find them whatever the
        # caller's default scope (a bare script has none).
        with DefaultScope.overwrite_default_scope('mmseg'):
            if feature_cache is not None:
                kwargs['pipeline'] = cached_pipeline(self.pipeline_cfg,
                                                     feature_cache)
            super().__init__(ann_file=ann_file, data_root=data_root,
                             **kwargs)
            if feature_cache is not None:
                self._check_feature_cache()

    def data_fingerprint(self, split: str) -> dict:
        """What a feature cache of ``split`` depends on in this data set
        (:func:`~sam2love.feature_cache.data_fingerprint`)."""
        with DefaultScope.overwrite_default_scope('mmseg'):
            return data_fingerprint(
                self.ann_file, split, self.num_frames,
                self.seconds_per_frame, self.media_dir, self.pipeline_cfg,
                self.backend_args)

    def _check_feature_cache(self) -> None:
        check_cache_data(self.feature_cache,
                         {s: self.data_fingerprint(s) for s in self.splits})

    @staticmethod
    def _check_null_negatives(cfg: dict | None, test_mode: bool):
        if cfg is None:
            return None
        unknown = set(cfg) - {'prob', 'match', 'kinds'}
        prob = cfg.get('prob')
        match = cfg.get('match', 'word')
        kinds = tuple(cfg.get('kinds', NEGATIVE_KINDS))
        if unknown or not isinstance(prob, (int, float)) or \
                not 0 <= prob <= 1 or \
                match not in NullNegativeSampler.MATCHES or not kinds or \
                not set(kinds) <= set(NEGATIVE_KINDS):
            raise ValueError(
                f'RefAVSDataset: null_negatives must be dict(prob=p, '
                f'match=m, kinds=k) with 0 <= p <= 1, m in '
                f'{NullNegativeSampler.MATCHES} and k a non-empty subset of '
                f'{NEGATIVE_KINDS}, got {cfg!r}')
        if test_mode:
            raise ValueError('RefAVSDataset: null_negatives is for training '
                             'only (test_mode=True)')
        return dict(prob=float(prob), match=match, kinds=kinds)

    def load_data_list(self) -> list[dict]:
        """One dict per expression of the selected splits, in csv order."""
        rows = read_metadata(self.ann_file, self.backend_args)
        selected = [r for r in rows if r.split in self.splits]
        # each clip's referred objects, (fid, category), for
        # ``LoadClipObjects``
        objects = defaultdict(set)
        for r in rows:
            if not r.is_null:
                objects[r.name].add((r.fid, r.category))
        objects = {name: sorted(o) for name, o in objects.items()}
        if self.null_negatives is not None:
            self.negative_sampler = NullNegativeSampler(
                rows, selected, self.null_negatives['match'])
        return [dict(self.row_to_data_info(r),
                     clip_objects=objects.get(r.name, [])) for r in selected]

    def prepare_data(self, idx: int):
        """The pipeline's output for row ``idx``; with ``null_negatives``,
        an ordinary row becomes a null reference with probability ``prob``
        (numpy's global generator, which mmengine seeds per worker)."""
        info = self.get_data_info(idx)
        if self.negative_sampler is not None:
            if 'silence' in self.null_negatives['kinds']:
                info['silent_audio'] = False
            if not info['is_null'] and \
                    np.random.rand() < self.null_negatives['prob']:
                self._make_null(info)
        return self.pipeline(info)

    def _make_null(self, info: dict) -> None:
        """Turn ``info`` into a null reference of a kind it allows (left
        as it is when it allows none)."""
        lendable = self.negative_sampler.lendable(
            info['clip_name'], info['text'], self.null_negatives['kinds'])
        if not lendable:
            return
        kind = list(lendable)[np.random.randint(len(lendable))]
        lent = lendable[kind][np.random.randint(len(lendable[kind]))]
        info.update(is_null=True, null_negative=True)
        if kind == 'expression':
            info.update(text=lent.text, text_row=lent._asdict())
        elif kind == 'silence':
            info['silent_audio'] = True
        else:
            info.update(audio_clip=lent, audio_path=clip_files(
                self.data_root, lent, self.num_frames,
                self.media_dir)['audio_path'])

    def row_to_data_info(self, row: RefAVSRow) -> dict:
        info = dict(
            uid=row.uid, vid=row.vid, clip_name=row.name, split=row.split,
            fid=row.fid, text=row.exp, is_null=row.is_null,
            metadata_line=row.line, num_frames=self.num_frames,
            clip_seconds=self.num_frames * self.seconds_per_frame,
            reduce_zero_label=False, seg_fields=[])
        info.update(clip_files(self.data_root, row.name, self.num_frames,
                               self.media_dir))
        info.update(mask_files(self.data_root, row.name, row.fid,
                               self.num_frames, self.mask_dir))
        return info
