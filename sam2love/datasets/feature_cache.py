"""A frozen-feature cache for stage-2 training: the store and its loader.

SAM2-LOVE trains with its encoders and SAM2's image encoder frozen (paper,
section 3.4), so what they compute for a training sample never changes.
``tools/extract_features.py`` runs them once over a split and stores the
outputs here; training with ``RefAVSDataset(feature_cache=DIR)`` then
reads them instead of decoding frames and audio, and the model skips the
frozen parts (:class:`~sam2love.models.SAM2LOVE`).

Layout of a cache folder ``DIR``::

    DIR/manifest.json                what the cache depends on (below) and,
                                     per split, whether it is complete
    DIR/<split>/index.json           clip -> (shard, offset, frame size);
                                     metadata line -> (shard, offset, clip,
                                     uid, expression)
    DIR/<split>/shard-00000/         one shard: up to ``shard_size`` clips
        audio_feats.npy   (n, N, Da)      VGGish, per clip
        patch_feats.npy   (n, T, HW, Dv)  vision patch tokens, per clip
        cls_feats.npy     (n, T, Dv)      vision [cls] tokens, per clip
        sam2_fpn_<i>.npy  (n, C_i, h_i, w_i)  SAM2 image encoder, frame 0,
                                          before the trainable conv_s0/s1
        text_feats.npy    (m, P, Dt)      text encoder, per expression row
        text_mask.npy     (m, P) bool
        done.json                         written last: the shard is whole
    DIR/logs/                        the extraction's log

Arrays are ``.npy`` files read memory-mapped (``np.load(mmap_mode='r')``),
float32 or float16 (``manifest['dtype']``); loaded samples are float32.
A clip's features are stored once however many expressions refer to it.

The manifest records the frozen parts (configs, SHA-256 of their weights;
see ``SAM2LOVE.frozen_fingerprint``), and per split the data
(:func:`data_fingerprint`: SHA-256 of ``metadata.csv``, split, clip length,
the pipeline steps that shape the frozen inputs), dtype and shapes. A cache
that differs from the model or the data set in any entry is refused
(:class:`~sam2love.utils.fingerprint.FeatureCacheError`, naming the entry,
the expected and the found value). The media files themselves are not
hashed (17 GB for Ref-AVS): re-extract after editing frames or audio in
place.
"""
import copy
import inspect
import json
import os
import os.path as osp
import re
import shutil
from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmseg.registry import TRANSFORMS

from ..utils.fingerprint import (
    CACHE_FORMAT,
    CACHE_VERSION,
    FeatureCacheError,
    bytes_sha256,
    check_entries,
    manifest_path,
    read_manifest,
    to_jsonable,
)

#: arrays stored once per clip, and once per expression row
CLIP_KEYS = ('audio_feats', 'patch_feats', 'cls_feats')
ROW_KEYS = ('text_feats', 'text_mask')
SAM2_LEVEL = re.compile(r'^sam2_fpn_\d+$')
DTYPES = {'fp32': np.float32, 'fp16': np.float16}

#: pipeline steps that make the frozen inputs (replaced by the cache)
FROZEN_INPUT_LOADERS = frozenset({
    'LoadClipFrames', 'LoadClipAudio', 'LoadClipFramesFromNDArray',
    'LoadClipAudioFromNDArray'})
#: steps on the ground truth only (run in cached training, frame 0 only)
MASK_STEPS = frozenset({'LoadClipMasks'})
#: steps that run in cached training on what is there (masks, metainfo)
KEPT_STEPS = frozenset({'ResizeClip', 'PackClipInputs'})
#: arguments that do not change what a step computes
IRRELEVANT_ARGS = frozenset({'backend_args', 'check_count'})


def is_clip_key(key: str) -> bool:
    return key in CLIP_KEYS or bool(SAM2_LEVEL.match(key))


# ------------------------------------------------------------ pipelines
def step_name(step) -> str:
    """A pipeline step's transform name (``'mmseg.RandomFlip'`` ->
    ``'RandomFlip'``), for config dicts and built transforms."""
    if isinstance(step, dict):
        kind = step.get('type')
        name = kind if isinstance(kind, str) else getattr(kind, '__name__',
                                                          repr(kind))
    else:
        name = type(step).__name__
    return name.rsplit('.', 1)[-1]


def _step_args(step) -> dict:
    if isinstance(step, dict):
        return {k: v for k, v in step.items() if k != 'type'}
    return dict(vars(step)) if hasattr(step, '__dict__') else {}


def _is_random_arg(key: str) -> bool:
    key = key.lower()
    return 'random' in key or key == 'prob' or key.startswith('prob') or \
        key.endswith('_prob')


def random_steps(pipeline: Sequence, prefix: str = '') -> list[str]:
    """Descriptions of the random augmentations of a pipeline: any step
    whose name starts with ``Random`` (mmseg's ``RandomFlip``,
    ``RandomResize``, mmcv's ``RandomApply`` ...) or that has a
    probability / random argument; wrapped steps (``transforms=``) are
    searched too."""
    found = []
    for i, step in enumerate(pipeline):
        name, args = step_name(step), _step_args(step)
        keys = [k for k in args if _is_random_arg(k)]
        if name.startswith('Random') or keys:
            why = 'random by name' if name.startswith('Random') else \
                f'argument {", ".join(keys)}'
            found.append(f'step {prefix}{i} {name} ({why})')
        inner = args.get('transforms')
        if isinstance(inner, (list, tuple)):
            found += random_steps(inner, f'{prefix}{i}.')
    return found


def check_no_random_transforms(pipeline: Sequence, owner: str) -> None:
    """Refuse random augmentations of the frozen inputs: a cache holds one
    fixed version of each clip's features, so they would silently stop
    augmenting."""
    found = random_steps(pipeline)
    if found:
        raise FeatureCacheError(
            f'{owner}: the pipeline has random augmentation(s): '
            f'{"; ".join(found)}. A feature cache holds one fixed version of '
            'each clip\'s frozen features, so they cannot be applied; remove '
            'them, or train without feature_cache.')


def _bound_args(step: dict) -> dict:
    """A step's arguments with the transform's defaults filled in, so that
    ``LoadClipAudio()`` and ``LoadClipAudio(sample_rate=16000)`` agree."""
    args = _step_args(step)
    cls = TRANSFORMS.get(step_name(step))
    if cls is None:
        return args
    try:
        bound = inspect.signature(cls.__init__).bind_partial(None, **args)
    except TypeError:
        return args
    bound.apply_defaults()
    out = dict(bound.arguments)
    out.pop(next(iter(out)))  # self
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if param.kind is param.VAR_KEYWORD:
            out.update(out.pop(name, {}))
    return out


def frozen_input_steps(pipeline: Sequence) -> list:
    """The steps of a pipeline that shape the frozen inputs, normalised
    for comparison: the ground-truth and packing steps are left out,
    ``ResizeClip`` keeps its frame ``scale`` (as [W, H]) but not its
    ``mask_scale``, defaults are filled in, file-backend arguments dropped.
    A train and a test pipeline of one config give the same list."""
    steps = []
    for step in pipeline:
        name = step_name(step)
        if name in MASK_STEPS or name == 'PackClipInputs':
            continue
        if not isinstance(step, dict):
            steps.append(dict(type=name, repr=repr(step)))
            continue
        args = {k: v for k, v in _bound_args(step).items()
                if k not in IRRELEVANT_ARGS}
        if name == 'ResizeClip':
            scale = args.get('scale')
            args = dict(scale=[scale, scale] if isinstance(scale, int)
                        else scale)
        steps.append(to_jsonable(dict(type=name, **args)))
    return steps


def _check_known(pipeline: Sequence, owner: str) -> None:
    known = FROZEN_INPUT_LOADERS | MASK_STEPS | KEPT_STEPS
    for i, step in enumerate(pipeline):
        name = step_name(step)
        if name not in known:
            raise FeatureCacheError(
                f'{owner}: pipeline step {i} {name} is not supported with a '
                'feature cache (it cannot tell whether the step changes the '
                'frozen inputs, which the cache replaces, or the masks); '
                f'supported steps: {", ".join(sorted(known))}')
        if not isinstance(step, dict):
            raise FeatureCacheError(
                f'{owner}: pipeline step {i} {name} must be a config dict '
                'with a feature cache, got a built transform')


def extraction_pipeline(pipeline: Sequence) -> list:
    """The steps of a train or test pipeline that make the frozen inputs
    (frames, audio, resizing, packing): what extraction runs."""
    check_no_random_transforms(pipeline, 'feature extraction')
    _check_known(pipeline, 'feature extraction')
    return [copy.deepcopy(s) for s in pipeline
            if step_name(s) not in MASK_STEPS]


def cached_pipeline(pipeline: Sequence, cache_dir: str) -> list:
    """The training pipeline with the frozen inputs read from a cache.

    Frame and audio loading become one :class:`LoadCachedFeatures`;
    ``LoadClipMasks`` reads frame 0's mask only (all that training
    supervises); ``ResizeClip`` resizes it as before; ``PackClipInputs``
    packs the cached features. Random augmentations and steps of unknown
    effect are refused.
    """
    owner = f'RefAVSDataset(feature_cache={cache_dir!r})'
    check_no_random_transforms(pipeline, owner)
    _check_known(pipeline, owner)
    load = dict(type='LoadCachedFeatures', cache_dir=cache_dir)
    out, loaded = [], False
    for step in pipeline:
        name = step_name(step)
        if name in FROZEN_INPUT_LOADERS:
            if not loaded:
                out.append(load)
                loaded = True
        elif name in MASK_STEPS:
            out.append(dict(copy.deepcopy(step), frames=[0]))
        else:
            out.append(copy.deepcopy(step))
    return out if loaded else [load] + out


# ------------------------------------------------------------ data side
def data_fingerprint(ann_file: str, split: str, num_frames: int,
                     seconds_per_frame: float, media_dir: str,
                     pipeline: Sequence,
                     backend_args: dict | None = None) -> dict:
    """What a split's cached features depend on in the data set.

    Returns:
        dict: ``metadata_sha256`` (of the csv's bytes), ``split``,
        ``num_frames``, ``seconds_per_frame``, ``media_dir`` and
        ``pipeline`` (:func:`frozen_input_steps`).
    """
    return dict(
        metadata_sha256=bytes_sha256(fileio.get(ann_file,
                                                backend_args=backend_args)),
        split=split, num_frames=int(num_frames),
        seconds_per_frame=float(seconds_per_frame), media_dir=media_dir,
        pipeline=frozen_input_steps(pipeline))


def check_cache_data(cache_dir: str, fingerprints: dict) -> dict:
    """Refuse a cache whose splits are missing, unfinished or made from
    other data (``fingerprints``: split -> :func:`data_fingerprint` of the
    data set now). Returns the manifest."""
    manifest = read_manifest(cache_dir)
    path = manifest_path(cache_dir)
    for split, fingerprint in fingerprints.items():
        entry = split_entry(manifest, split, cache_dir)
        check_entries(fingerprint, entry.get('data', {}),
                      f'splits.{split}.data.', path, 'the data set',
                      'The data set or its pipeline changed since the '
                      'extraction: extract the cache again '
                      f'(tools/extract_features.py CONFIG --out {cache_dir} '
                      f'--splits {split}).')
    return manifest


def split_entry(manifest: dict, split: str, cache_dir: str) -> dict:
    """A complete split's manifest entry; errors say how to get one."""
    path = manifest_path(cache_dir)
    entry = manifest.get('splits', {}).get(split)
    if entry is None:
        raise FeatureCacheError(
            f'{path}: the cache has no split {split!r} (it holds '
            f'{sorted(manifest.get("splits", {}))}); extract it with '
            f'tools/extract_features.py CONFIG --out {cache_dir} '
            f'--splits {split}')
    if not entry.get('complete'):
        raise FeatureCacheError(
            f'{path}: the extraction of split {split!r} did not finish; run '
            'tools/extract_features.py again with the same arguments to '
            'resume it')
    return entry


class SplitPlan:
    """How a split's samples are cut into shards (deterministic).

    Clips are taken in order of first appearance in the data set and cut
    into shards of ``shard_size``; a shard holds the rows (expressions) of
    its clips, in data set order.

    Args:
        data_list (list[dict]): the data set's ``data_list``
            (``RefAVSDataset``: ``clip_name``, ``metadata_line``, ``uid``,
            ``text`` per row).
        shard_size (int): clips per shard.
    """

    def __init__(self, data_list: list[dict], shard_size: int) -> None:
        if shard_size < 1:
            raise ValueError(f'shard_size must be >= 1, got {shard_size}')
        self.shard_size = shard_size
        self.first_row: dict[str, int] = {}
        for i, info in enumerate(data_list):
            self.first_row.setdefault(info['clip_name'], i)
        clips = list(self.first_row)
        self.shards = [clips[k:k + shard_size]
                       for k in range(0, len(clips), shard_size)]
        shard_of = {c: k for k, names in enumerate(self.shards)
                    for c in names}
        self.rows: list[list[dict]] = [[] for _ in self.shards]
        for i, info in enumerate(data_list):
            self.rows[shard_of[info['clip_name']]].append(dict(
                index=i, line=int(info['metadata_line']), uid=info['uid'],
                clip=info['clip_name'], text=info['text']))

    @property
    def num_clips(self) -> int:
        return len(self.first_row)

    @property
    def num_rows(self) -> int:
        return sum(len(r) for r in self.rows)


# ------------------------------------------------------------ writing
def _write_json(path: str, obj) -> None:
    """Atomically: a reader sees the old file or the new one, whole."""
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def _read_json(path: str):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


class FeatureCacheWriter:
    """Writes a cache folder shard by shard, resumably.

    Rank 0 calls :meth:`open` (creates or checks the manifest) before any
    shard is written and :meth:`finish` after all are; every process
    writes its own shards with :meth:`write_shard`, each made whole by its
    ``done.json`` (written last), and skips those :meth:`is_done` finds.

    Args:
        root (str): the cache folder.
        dtype (str): ``'fp32'`` or ``'fp16'``.
        frozen (dict): the model's ``frozen_fingerprint()``.
    """

    def __init__(self, root: str, dtype: str, frozen: dict) -> None:
        if dtype not in DTYPES:
            raise ValueError(f'dtype must be one of {sorted(DTYPES)}, got '
                             f'{dtype!r}')
        self.root = root
        self.dtype = dtype
        self.np_dtype = DTYPES[dtype]
        self.frozen = to_jsonable(frozen)

    @property
    def manifest_path(self) -> str:
        return manifest_path(self.root)

    def shard_dir(self, split: str, k: int) -> str:
        return osp.join(self.root, split, f'shard-{k:05d}')

    # -- rank 0
    def open(self, fingerprints: dict, shard_size: int | None) -> dict:
        """Create the manifest, or check an existing one (resume, or a new
        split in the same cache): same frozen parts, dtype, and for a split
        already there, same data and shard size.

        Args:
            fingerprints (dict): split -> :func:`data_fingerprint`.
            shard_size (int | None): clips per shard; None takes a resumed
                split's, else 32.

        Returns:
            dict: split -> the shard size to use.
        """
        path = self.manifest_path
        hint = (f'{self.root} holds a cache of another configuration: use '
                'another --out, or delete the folder to extract anew.')
        if osp.exists(path):
            manifest = read_manifest(self.root)
            check_entries(self.frozen, manifest.get('frozen', {}), 'frozen.',
                          path, 'the model', hint)
            check_entries(dict(dtype=np.dtype(self.np_dtype).name),
                          dict(dtype=manifest.get('dtype')), '', path,
                          'the requested --dtype', hint)
        else:
            os.makedirs(self.root, exist_ok=True)
            manifest = dict(format=CACHE_FORMAT, version=CACHE_VERSION,
                            dtype=np.dtype(self.np_dtype).name,
                            frozen=self.frozen, splits={})
        sizes = {}
        for split, fingerprint in fingerprints.items():
            entry = manifest['splits'].get(split)
            if entry is not None:
                check_entries(to_jsonable(fingerprint), entry['data'],
                              f'splits.{split}.data.', path,
                              'the data set', hint)
                if shard_size not in (None, entry['shard_size']):
                    raise FeatureCacheError(
                        f'{path}: split {split!r} was started with '
                        f'--shard-size {entry["shard_size"]}; resume it with '
                        'the same (or none)')
                sizes[split] = entry['shard_size']
            else:
                sizes[split] = shard_size or 32
                manifest['splits'][split] = dict(
                    data=to_jsonable(fingerprint), shard_size=sizes[split],
                    complete=False)
        _write_json(path, manifest)
        return sizes

    def finish(self, split: str, plan: SplitPlan) -> dict:
        """Check every shard of ``split``, write its index, mark it
        complete in the manifest. Returns the manifest entry."""
        missing = [k for k in range(len(plan.shards))
                   if not self.is_done(split, k, plan)]
        manifest = read_manifest(self.root)
        entry = manifest['splits'][split]
        if missing:
            raise FeatureCacheError(
                f'{self.manifest_path}: split {split!r} misses shards '
                f'{missing[:10]}{" ..." if len(missing) > 10 else ""}')
        clips, rows, shards, shapes = {}, {}, [], None
        for k in range(len(plan.shards)):
            done = _read_json(osp.join(self.shard_dir(split, k), 'done.json'))
            shards.append(osp.basename(self.shard_dir(split, k)))
            for offset, (name, size) in enumerate(zip(done['clips'],
                                                      done['ori_shapes'])):
                clips[name] = [k, offset, size]
            for offset, row in enumerate(done['rows']):
                rows[str(row['line'])] = [k, offset, row['clip'], row['uid'],
                                          row['text']]
            if shapes is None:
                shapes = done['shapes']
            elif done['shapes'] != shapes:
                raise FeatureCacheError(
                    f'{self.shard_dir(split, k)}: array shapes '
                    f'{done["shapes"]} differ from shard 0\'s {shapes}')
        _write_json(osp.join(self.root, split, 'index.json'),
                    dict(split=split, shards=shards, clips=clips, rows=rows))
        entry.update(complete=True, num_clips=plan.num_clips,
                     num_rows=plan.num_rows, shapes=shapes,
                     bytes=folder_bytes(osp.join(self.root, split)))
        _write_json(self.manifest_path, manifest)
        return entry

    # -- every rank
    def is_done(self, split: str, k: int, plan: SplitPlan) -> bool:
        """Whether shard ``k`` was written whole for this plan."""
        path = osp.join(self.shard_dir(split, k), 'done.json')
        if not osp.isfile(path):
            return False
        try:
            done = _read_json(path)
        except (OSError, json.JSONDecodeError):
            return False
        return done.get('clips') == plan.shards[k] and \
            [r['line'] for r in done.get('rows', [])] == \
            [r['line'] for r in plan.rows[k]] and \
            done.get('dtype') == np.dtype(self.np_dtype).name

    def write_shard(self, split: str, k: int, plan: SplitPlan,
                    clip_arrays: dict, row_arrays: dict,
                    ori_shapes: list) -> None:
        """Write shard ``k``: ``clip_arrays`` (key -> (n, ...) arrays for
        the shard's n clips), ``row_arrays`` (key -> (m, ...) for its m
        rows), the clips' frame sizes; ``done.json`` last."""
        folder = self.shard_dir(split, k)
        if osp.isdir(folder):  # a partial shard of a killed run
            shutil.rmtree(folder)
        os.makedirs(folder)
        shapes = {}
        for key, array in {**clip_arrays, **row_arrays}.items():
            array = np.asarray(array)
            if key != 'text_mask':
                array = self._cast(array, key, folder)
            np.save(osp.join(folder, f'{key}.npy'), array)
            shapes[key] = dict(shape=list(array.shape[1:]),
                               dtype=array.dtype.name)
        _write_json(osp.join(folder, 'done.json'), dict(
            clips=plan.shards[k], ori_shapes=[list(s) for s in ori_shapes],
            rows=plan.rows[k], dtype=np.dtype(self.np_dtype).name,
            shapes=shapes))

    def _cast(self, array: np.ndarray, key: str, folder: str) -> np.ndarray:
        if not np.isfinite(array).all():
            raise FeatureCacheError(
                f'{folder}: {key} has non-finite values: the frozen parts '
                'give NaN / inf on these clips')
        with np.errstate(over='ignore'):
            out = array.astype(self.np_dtype)
        if not np.isfinite(out).all():
            raise FeatureCacheError(
                f'{folder}: {key} has values beyond the {self.dtype} range '
                f'(max |x| {np.abs(array).max():.4g}); extract with '
                '--dtype fp32')
        return out


def folder_bytes(folder: str) -> int:
    """Total size of the files under ``folder``."""
    return sum(osp.getsize(osp.join(d, f))
               for d, _, files in os.walk(folder) for f in files)


# ------------------------------------------------------------ reading
class FeatureCacheReader:
    """Memory-mapped access to a cache's samples.

    Args:
        cache_dir (str): the cache folder.
        splits (Sequence[str]): the splits to read; each must be complete.
    """

    def __init__(self, cache_dir: str, splits: Sequence[str]) -> None:
        self.cache_dir = cache_dir
        self.manifest = read_manifest(cache_dir)
        self.index = {}
        for split in splits:
            split_entry(self.manifest, split, cache_dir)
            path = osp.join(cache_dir, split, 'index.json')
            try:
                self.index[split] = _read_json(path)
            except (OSError, json.JSONDecodeError) as e:
                raise FeatureCacheError(f'{path}: unreadable ({e})') from e
        self._arrays: dict = {}

    def __getstate__(self) -> dict:  # no memory maps through pickling
        state = dict(self.__dict__)
        state['_arrays'] = {}
        return state

    def _array(self, split: str, shard: int, key: str) -> np.ndarray:
        handle = (split, shard, key)
        if handle not in self._arrays:
            name = self.index[split]['shards'][shard]
            path = osp.join(self.cache_dir, split, name, f'{key}.npy')
            try:
                self._arrays[handle] = np.load(path, mmap_mode='r')
            except (OSError, ValueError) as e:
                raise FeatureCacheError(f'{path}: unreadable ({e})') from e
        return self._arrays[handle]

    def keys(self, split: str) -> list[str]:
        return list(self.manifest['splits'][split]['shapes'])

    def has_row(self, split: str, line: int) -> bool:
        return str(line) in self.index[split]['rows']

    def sample(self, split: str, line: int, clip_name: str,
               text: str | None = None) -> tuple[dict, tuple]:
        """The cached features of one expression row.

        Returns:
            tuple: ``(features, ori_shape)``: key -> float32 array (bool
            for ``text_mask``) without the leading count axis, and the
            clip's original frame size (H, W).
        """
        index = self.index[split]
        row = index['rows'].get(str(line))
        where = f'{self.cache_dir} ({split})'
        if row is None:
            raise FeatureCacheError(
                f'{where}: no cached row for metadata line {line}')
        shard, offset, cached_clip, _, cached_text = row
        if cached_clip != clip_name or (text is not None and
                                        cached_text != text):
            raise FeatureCacheError(
                f'{where}: metadata line {line} was cached as clip '
                f'{cached_clip!r} / {cached_text!r}, the data set has '
                f'{clip_name!r} / {text!r}')
        clip_shard, clip_offset, ori_shape = index['clips'][clip_name]
        out = {}
        for key in self.keys(split):
            if is_clip_key(key):
                value = self._array(split, clip_shard, key)[clip_offset]
            else:
                value = self._array(split, shard, key)[offset]
            out[key] = np.array(value, dtype=bool if key == 'text_mask'
                                else np.float32)
        return out, tuple(ori_shape)


@TRANSFORMS.register_module()
class LoadCachedFeatures(BaseTransform):
    """Read an expression's frozen features from a feature cache, in place
    of loading its frames and audio (``LoadClipFrames``,
    ``LoadClipAudio``). ``RefAVSDataset(feature_cache=DIR)`` puts it in
    the pipeline.

    Required keys: ``split``, ``metadata_line``, ``clip_name``, ``text``.

    Added keys: ``cached_inputs`` (dict of float32 tensors:
    ``audio_feats`` (N, Da), ``patch_feats`` (T, HW, Dv), ``cls_feats``
    (T, Dv), ``text_feats`` (P, Dt), ``text_mask`` (P,) bool,
    ``sam2_fpn_<i>`` (C_i, h_i, w_i)), ``ori_shape`` and ``img_shape``
    (the clip's frame size, as ``LoadClipFrames`` sets them), and
    ``feature_cache`` (the folder, for the model's manifest check).

    Args:
        cache_dir (str): the cache folder.
    """

    def __init__(self, cache_dir: str) -> None:
        self.cache_dir = osp.abspath(cache_dir)
        self._reader: FeatureCacheReader | None = None
        self._splits: set = set()

    def reader(self, split: str) -> FeatureCacheReader:
        if self._reader is None or split not in self._splits:
            self._splits.add(split)
            self._reader = FeatureCacheReader(self.cache_dir,
                                              sorted(self._splits))
        return self._reader

    def transform(self, results: dict) -> dict:
        feats, ori_shape = self.reader(results['split']).sample(
            results['split'], results['metadata_line'],
            results['clip_name'], results.get('text'))
        results['cached_inputs'] = {k: torch.from_numpy(v)
                                    for k, v in feats.items()}
        results['ori_shape'] = results['img_shape'] = ori_shape
        results['feature_cache'] = self.cache_dir
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(cache_dir={self.cache_dir!r})'


__all__ = ['LoadCachedFeatures', 'FeatureCacheReader', 'FeatureCacheWriter',
           'SplitPlan', 'data_fingerprint', 'check_cache_data',
           'cached_pipeline', 'extraction_pipeline', 'frozen_input_steps',
           'check_no_random_transforms', 'random_steps', 'folder_bytes']
