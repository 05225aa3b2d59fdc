"""What ``RefAVSInferencer`` takes from a config: the test pipeline with
in-memory loading, the clip settings, the weight files a checkpoint
replaces."""
import copy

from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict
from mmseg.registry import VISUALIZERS

from ..visualization import RefAVSVisualizer

#: Loading steps of a dataset pipeline and their in-memory twins.
IN_MEMORY_LOADERS = {
    'LoadClipFrames': 'LoadClipFramesFromNDArray',
    'LoadClipAudio': 'LoadClipAudioFromNDArray',
}
#: Dataset steps that need ground truth, dropped for inference.
GROUND_TRUTH_STEPS = ('LoadClipMasks', )


def _type_name(step: dict) -> str:
    t = step['type']
    return (t if isinstance(t, str) else t.__name__).split('.')[-1]


#: Config keys of component weight files that a full checkpoint replaces.
INIT_CHECKPOINT_KEYS = ('checkpoint', 'pca_checkpoint')


def drop_init_checkpoints(model_cfg: dict) -> list[str]:
    """Set the component weight files of a model config to None (not in
    ``init_cfg``); returns the dotted keys changed."""
    dropped = []

    def walk(node, prefix):
        if isinstance(node, dict):
            for key, value in node.items():
                path = f'{prefix}{key}'
                if key in INIT_CHECKPOINT_KEYS and isinstance(value, str):
                    node[key] = None
                    dropped.append(path)
                elif key != 'init_cfg':
                    walk(value, path + '.')
        elif isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(item, f'{prefix}{i}.')

    walk(model_cfg, '')
    return dropped


def clip_settings(cfg: Config) -> tuple[int, float]:
    """``(num_frames, seconds_per_frame)`` of a config's test dataset (10
    frames one second apart, Ref-AVS's, when it does not say)."""
    dataset = cfg.test_dataloader.dataset
    return dataset.get('num_frames', 10), dataset.get('seconds_per_frame',
                                                      1.0)


def in_memory_pipeline(cfg: ConfigDict) -> Compose:
    """The config's test pipeline with in-memory loading steps and without
    ground-truth steps."""
    steps, found = [], set()
    for step in copy.deepcopy(cfg.test_dataloader.dataset.pipeline):
        name = _type_name(step)
        if name in GROUND_TRUTH_STEPS:
            continue
        if name in IN_MEMORY_LOADERS:
            found.add(name)
            twin = dict(type=IN_MEMORY_LOADERS[name])
            if name == 'LoadClipAudio':
                twin['sample_rate'] = step.get('sample_rate', 16000)
            step = twin
        steps.append(step)
    if found != set(IN_MEMORY_LOADERS):
        missing = sorted(set(IN_MEMORY_LOADERS) - found)
        raise ValueError(
            'RefAVSInferencer needs a test pipeline that loads clips '
            f'with {", ".join(IN_MEMORY_LOADERS)}; {missing} not found '
            'in test_dataloader.dataset.pipeline')
    return Compose(steps)


def frames_only(pipeline: Compose) -> Compose:
    """:func:`in_memory_pipeline`'s steps without the audio step."""
    return Compose([t for t in pipeline.transforms if type(t).__name__ !=
                    IN_MEMORY_LOADERS['LoadClipAudio']])


def drawing_visualizer(cfg: ConfigDict, name: str) -> RefAVSVisualizer:
    """The config's visualizer when it is a ``RefAVSVisualizer``, else a
    default one; without ``vis_backends`` / ``save_dir`` (it only draws)."""
    vis_cfg = dict(cfg.get('visualizer') or {})
    vis_cfg.pop('vis_backends', None)
    vis_cfg.pop('save_dir', None)
    vis_cfg['name'] = name
    visualizer = VISUALIZERS.build(vis_cfg) if vis_cfg.get('type') else None
    if not isinstance(visualizer, RefAVSVisualizer):
        visualizer = RefAVSVisualizer(name=name + '_default')
    return visualizer
