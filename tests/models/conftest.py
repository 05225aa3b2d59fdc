"""Packed samples of the tiny synthetic preset, shared by model tests."""
import pytest
from mmengine.dataset import pseudo_collate

from sam2love.datasets import RefAVSDataset, make_synthetic_refavs
from sam2love.datasets.synthetic import PRESETS

TINY_FRAMES = PRESETS['tiny']['num_frames']


@pytest.fixture(scope='session')
def tiny_root(tmp_path_factory) -> str:
    """A tiny synthetic tree."""
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_refavs(root, seed=1, **PRESETS['tiny'])
    return root


@pytest.fixture(scope='session')
def tiny_samples(tiny_root) -> list[dict]:
    """Every train expression of a tiny synthetic tree, through a test-style
    pipeline (frames at 128 px, masks at the frame size), as the Runner's
    dataloader yields them before collation."""
    root = tiny_root
    pipeline = [
        dict(type='LoadClipFrames'), dict(type='LoadClipAudio'),
        dict(type='ResizeClip', scale=128),
        dict(type='LoadClipMasks', eval_size=(256, 256)),
        dict(type='PackClipInputs')]
    dataset = RefAVSDataset(root, 'train', num_frames=TINY_FRAMES,
                            pipeline=pipeline)
    return [dataset[i] for i in range(len(dataset))]


@pytest.fixture(scope='session')
def referent_batch(tiny_samples):
    """Two synthetic clips whose frame-0 masks hold an object, collated."""
    return pseudo_collate(
        [s for s in tiny_samples
         if s['data_samples'].gt_sem_seg.data[0].any()][:2])


@pytest.fixture(scope='session')
def batch(tiny_samples):
    """Two synthetic clips with different expressions, as the Runner
    would collate them."""
    first = next(s for s in tiny_samples
                 if s['data_samples'].gt_sem_seg.data[0].any())
    other = next(s for s in tiny_samples
                 if s['data_samples'].text != first['data_samples'].text)
    return pseudo_collate([first, other])
