"""Shared fixtures: small media trees in the Ref-AVS release layout.

``refavs_tree`` pairs the benchmark's real ``metadata.csv`` (all 20,459
rows, copied to ``tests/data``) with generated media for a sample of its
clips, covering every split, null clips of both kinds, duplicated uids and
the formats met in the release: frame sizes, 48 kHz stereo / 44.1 kHz mono
20 s / short audio, and L / RGB / palette mask PNGs.
"""
import csv
import gzip
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import soundfile
from PIL import Image
from tool_loader import load_tool

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')


@pytest.fixture(autouse=True, scope='session')
def mmseg_scope():
    """Build as configs do (``default_scope = 'mmseg'``)."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')


@pytest.fixture
def tool(request):
    """``tools/<TOOL>.py`` of the test module's ``TOOL`` (e.g.
    ``'analysis_tools/presence_scores'``), freshly loaded."""
    return load_tool(request.module.TOOL)


DATA = osp.join(osp.dirname(__file__), 'data')
NUM_FRAMES = 10

#: Sampled clip folders and how their media are written:
#: (frame (W, H), (audio rate, channels, seconds, subtype), mask mode).
SAMPLED_CLIPS = {
    # train: ordinary clip, two objects
    '-1HyqEM_VwM_137000_147000': ((64, 48), (48000, 2, 10.0, 'PCM_16'), 'L'),
    # train: null clip (audio of another clip); masks written, empty
    'null_c-45AfEdAU050_99000_109000':
        ((80, 80), (44100, 1, 20.0, 'PCM_16'), 'L'),
    # val: ordinary clip
    '--KCIeTv6PM_14000_24000': ((96, 54), (48000, 2, 10.0, 'FLOAT'), 'RGB'),
    # val: null_m clip without a mask folder
    'null_m-WZAT_QnhbPs_110000_120000':
        ((64, 48), (44100, 1, 3.5, 'PCM_16'), None),
    # test_s: same uid twice with different fids and expressions
    'MDyjY3uiWp0_297000_307000': ((80, 60), (48000, 2, 10.0, 'PCM_24'), 'P'),
    # test_u: rows duplicated verbatim
    'AL9pqcOjpGQ_43000_53000': ((72, 40), (16000, 1, 10.0, 'PCM_16'), 'P'),
    # test_n: null_c clip of a test_s video (reading `vid` finds the wrong
    # folder); null_m clip
    'null_c-MDyjY3uiWp0_297000_307000':
        ((80, 60), (44100, 1, 20.0, 'PCM_16'), None),
    'null_m--9k2Z_hxYpU_155000_165000':
        ((64, 64), (48000, 1, 7.0, 'PCM_16'), 'RGB'),
}


def real_metadata_rows() -> list[dict]:
    with gzip.open(osp.join(DATA, 'refavs_metadata.csv.gz'), 'rt') as f:
        return list(csv.DictReader(f))


def object_mask(fid: int, frame: int, size: tuple[int, int]) -> np.ndarray:
    """A deterministic rectangle per (object, frame); (H, W) bool."""
    w, h = size
    mask = np.zeros((h, w), bool)
    x0 = (3 + 7 * fid + 2 * frame) % (w // 2)
    y0 = (2 + 5 * fid + frame) % (h // 2)
    mask[y0:y0 + h // 3, x0:x0 + w // 3] = True
    return mask


def write_mask_png(path: str, mask: np.ndarray, mode: str) -> None:
    """Write a bool (H, W) mask in one of the encodings met in the wild."""
    if mode == 'L':
        img = Image.fromarray(mask.astype(np.uint8) * 255, 'L')
    elif mode == 'RGB':
        rgb = np.zeros((*mask.shape, 3), np.uint8)
        rgb[mask] = (128, 0, 0)  # DAVIS-style object colour
        img = Image.fromarray(rgb, 'RGB')
    elif mode == 'P':
        img = Image.fromarray(mask.astype(np.uint8), 'P')
        img.putpalette([0, 0, 0, 0, 128, 0] + [0] * (254 * 3))
    else:
        raise ValueError(mode)
    img.save(path)


def write_frames(folder: str, size: tuple[int, int], seed: int,
                 num_frames: int = NUM_FRAMES) -> None:
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(num_frames):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(osp.join(folder, f'{i}.jpg'), quality=90)


def write_audio(path: str, rate: int, channels: int, seconds: float,
                subtype: str) -> None:
    t = np.arange(int(round(rate * seconds))) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    samples = np.stack([tone] * channels, axis=1)
    soundfile.write(path, samples, rate, subtype=subtype)


def write_masks(folder: str, fid: int, size: tuple[int, int], mode: str,
                empty: bool, num_frames: int = NUM_FRAMES) -> None:
    os.makedirs(folder, exist_ok=True)
    for i in range(num_frames):
        mask = object_mask(fid, i, size)
        write_mask_png(osp.join(folder, f'{i:05d}.png'),
                       mask & (not empty), mode)


def build_tree(root: str, rows: list[dict], clips: dict) -> None:
    """Write ``rows`` as metadata.csv and media for ``clips`` under root."""
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, 'metadata.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for k, (name, (size, audio, mask_mode)) in enumerate(clips.items()):
        write_frames(osp.join(root, 'media', name, 'frames'), size, seed=k)
        write_audio(osp.join(root, 'media', name, 'audio.wav'), *audio)
        if mask_mode is None:
            continue
        fids = {int(r['fid']) for r in rows
                if r['uid'].rsplit('_', 2)[0] == name}
        for fid in fids:
            write_masks(osp.join(root, 'gt_mask', name, f'fid_{fid}'), fid,
                        size, mask_mode, empty=name.startswith('null'))


@pytest.fixture(scope='session')
def refavs_tree(tmp_path_factory) -> str:
    """The real metadata.csv with media for :data:`SAMPLED_CLIPS` only."""
    root = str(tmp_path_factory.mktemp('refavs'))
    build_tree(root, real_metadata_rows(), SAMPLED_CLIPS)
    return root


@pytest.fixture
def small_tree(tmp_path) -> str:
    """A complete tree: the real rows of :data:`SAMPLED_CLIPS` only."""
    rows = [r for r in real_metadata_rows()
            if r['uid'].rsplit('_', 2)[0] in SAMPLED_CLIPS]
    root = str(tmp_path / 'refavs')
    build_tree(root, rows, SAMPLED_CLIPS)
    return root


@pytest.fixture
def copy_tree(tmp_path):
    """Copy a tree to a fresh folder that a test may break."""
    def _copy(src: str) -> str:
        dst = str(tmp_path / 'copy')
        shutil.copytree(src, dst)
        return dst
    return _copy
