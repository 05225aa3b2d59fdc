"""Reading the frames and masks of a Ref-AVS clip.

Every reader raises :class:`RefAVSDataError` naming the file at fault, so
that the dataset, its transforms and ``tools/check_refavs.py`` report bad
input the same way.
"""
import os.path as osp
import re

import cv2
import mmcv
import numpy as np
from mmengine import fileio

from .errors import RefAVSDataError

#: The benchmark's evaluation resolution (H, W).
EVAL_MASK_SIZE = (256, 256)


def _get_bytes(path: str, what: str, backend_args: dict | None) -> bytes:
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise RefAVSDataError(path, f'{what} is missing') from None
    except IsADirectoryError:
        raise RefAVSDataError(path, f'{what} is a folder') from None
    if not data:
        raise RefAVSDataError(path, f'{what} is an empty file')
    return data


def count_numbered_files(folder: str, pattern: str,
                         backend_args: dict | None = None) -> int:
    """Count the files of ``folder`` whose name matches ``pattern``.

    Raises:
        RefAVSDataError: the folder is missing.
    """
    if not fileio.isdir(folder, backend_args=backend_args):
        raise RefAVSDataError(folder, 'folder is missing')
    regex = re.compile(pattern)
    return sum(1 for name in fileio.list_dir_or_file(
        folder, list_dir=False, backend_args=backend_args)
        if regex.fullmatch(name))


def check_file_count(folder: str, pattern: str, expected: int,
                     what: str, backend_args: dict | None = None) -> None:
    """Raise when ``folder`` does not hold exactly ``expected`` files."""
    found = count_numbered_files(folder, pattern, backend_args)
    if found != expected:
        raise RefAVSDataError(
            folder, f'holds {found} {what}, expected {expected}')


def load_frame(path: str, backend_args: dict | None = None) -> np.ndarray:
    """Decode one frame.

    Returns:
        np.ndarray: uint8 RGB of shape (H, W, 3).
    """
    data = _get_bytes(path, 'frame', backend_args)
    img = mmcv.imfrombytes(data, flag='color', backend='cv2')
    if img is None:
        raise RefAVSDataError(path, 'cannot decode the frame image')
    return mmcv.bgr2rgb(img)


def check_same_size(paths: list[str], images: list[np.ndarray],
                    what: str) -> None:
    """Raise naming the first of ``images`` (H, W[, C]) whose size differs
    from the first one's."""
    h, w = images[0].shape[:2]
    for path, image in zip(paths[1:], images[1:]):
        if image.shape[:2] != (h, w):
            raise RefAVSDataError(
                path, f'{what} size {image.shape[1]}x{image.shape[0]} '
                f'differs from {osp.basename(paths[0])} ({w}x{h})')


def load_frames(paths: list[str], backend_args: dict | None = None
                ) -> list[np.ndarray]:
    """Decode the frames of one clip; they must share one size.

    Returns:
        list[np.ndarray]: T uint8 RGB arrays of shape (H, W, 3).
    """
    frames = [load_frame(p, backend_args) for p in paths]
    check_same_size(paths, frames, 'frame')
    return frames


def _decode_mask_colour(path: str, backend_args: dict | None) -> np.ndarray:
    """Decode a mask PNG as 3-channel BGR, as the benchmark does (cv2).

    L, RGB(A) and palette PNGs all become (H, W, 3) uint8 colour.
    """
    data = _get_bytes(path, 'mask', backend_args)
    img = mmcv.imfrombytes(data, flag='color', backend='cv2')
    if img is None:
        raise RefAVSDataError(path, 'cannot decode the mask image')
    return img


def load_mask(path: str, backend_args: dict | None = None) -> np.ndarray:
    """Read a mask at its own size: foreground = any non-zero colour.

    Returns:
        np.ndarray: uint8 of shape (H, W), values in {0, 1}.
    """
    colour = _decode_mask_colour(path, backend_args)
    return colour.any(axis=2).astype(np.uint8)


def load_eval_mask(path: str, size: tuple[int, int] = EVAL_MASK_SIZE,
                   backend_args: dict | None = None) -> np.ndarray:
    """Read a mask exactly as the Ref-AVS evaluation does.

    3-channel read, bilinear resize to ``size``, grey, foreground = grey > 0.
    The order matters: resizing the colour image before thresholding
    grows the mask by the interpolation's soft edge.

    Args:
        size (tuple[int, int]): (H, W). Defaults to (256, 256).

    Returns:
        np.ndarray: bool of shape ``size``.
    """
    colour = _decode_mask_colour(path, backend_args)
    resized = cv2.resize(colour, (size[1], size[0]),
                         interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY) > 0
