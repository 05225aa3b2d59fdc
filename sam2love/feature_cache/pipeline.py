"""The data side of a feature cache: which pipeline steps make the frozen
inputs, the training pipeline that reads them from a cache instead, and
what a split's cached features depend on in the data set.

Cached features are one fixed version of each clip's frozen inputs, so a
pipeline with random augmentations, or with steps of unknown effect, is
refused (:class:`~sam2love.feature_cache.manifest.FeatureCacheError`).
"""
import copy
import inspect
from collections.abc import Sequence

from mmengine import fileio
from mmseg.registry import TRANSFORMS

from ..utils.fingerprint import bytes_sha256, to_jsonable
from .manifest import FeatureCacheError

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

    Frame and audio loading become one
    :class:`~sam2love.feature_cache.reader.LoadCachedFeatures`;
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
