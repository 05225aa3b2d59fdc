"""Files the synthetic generator writes beside the release layout.

The Ref-AVS release has masks of referred objects only. For baselines that
need more of the scene, :func:`~.writer.make_synthetic_refavs` also writes,
under a folder no release tree has::

    <root>/synthetic_extras/all_objects/<name>/00000.png
        'L', 0 / 255, at the clip's frame size: the union of the visible
        masks of every object of the clip on frame 0 (null clips included:
        their objects are there, only the expressions refer to none)

``tools/check_refavs.py`` and :class:`~sam2love.datasets.RefAVSDataset`
ignore it. The stage-1 SAM2 prompted with it
(``SAM2TrackerPretrainer(test_prompt='all_objects')``) is what a model that
ignores the sentence and the sound gets.
"""
import os
import os.path as osp

import numpy as np
from PIL import Image

from ..errors import RefAVSDataError

#: Folder of the synthetic-only files, relative to the data root.
EXTRAS_DIR = 'synthetic_extras'
#: Folder of the every-object frame-0 masks, relative to the data root.
ALL_OBJECTS_DIR = osp.join(EXTRAS_DIR, 'all_objects')


def all_objects_mask_path(data_root: str, name: str) -> str:
    """``<data_root>/synthetic_extras/all_objects/<name>/00000.png``."""
    return osp.join(data_root, ALL_OBJECTS_DIR, name, '00000.png')


def write_all_objects_mask(data_root: str, name: str,
                           masks: np.ndarray) -> str:
    """Write the union of ``masks`` (n, H, W) bool (every object's visible
    pixels on frame 0) as a 0 / 255 'L' PNG; returns its path."""
    path = all_objects_mask_path(data_root, name)
    os.makedirs(osp.dirname(path), exist_ok=True)
    union = np.asarray(masks, bool).any(0).astype(np.uint8) * 255
    Image.fromarray(union).save(path)
    return path


def load_all_objects_mask(data_root: str, name: str) -> np.ndarray:
    """The every-object frame-0 mask of clip ``name``: bool (H, W).

    Raises:
        FileNotFoundError: no such file (the Ref-AVS release, or a
            synthetic set written before the generator wrote it).
        RefAVSDataError: the PNG cannot be read.
    """
    path = all_objects_mask_path(data_root, name)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: missing; the every-object mask is written only by '
            'tools/make_synthetic_refavs.py (the Ref-AVS release has masks '
            'of referred objects only): regenerate the synthetic data set')
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert('L')) > 0
    except OSError as e:
        raise RefAVSDataError(path, f'unreadable every-object mask ({e})') \
            from e
