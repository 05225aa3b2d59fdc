"""Score saved Ref-AVS predictions (J, F, J&F or S) without the model.

    python tools/refavs_eval.py --data-root R --split test_s --pred-dir D
        [--num-frames 10] [--ann-file metadata.csv] [--no-progress]

Predictions, one per expression (row of the split in ``metadata.csv``),
named by its ``uid``:

- ``D/<uid>/00000.png ... {T-1:05d}.png``: 8-bit grey probabilities,
  p = value / 255, turned into logits by ``probs_to_logits`` (0 and 255
  become -100 / +100, so a binary 0/255 PNG scores as the hard mask it is,
  not as sigmoid(0) = 0.5 everywhere); or
- ``D/<uid>.npy``: float logits (T, H, W).

Predictions not at 256x256 are resized bilinearly
(``F.interpolate(..., align_corners=False)``, as ``SAM2LOVE`` makes its
evaluation logits): the logits of a ``.npy``, the probabilities of a PNG
(before they become logits). Ground truth is read by the benchmark's rule
(``load_eval_mask``); null rows without a mask folder have empty masks.
Every row of a split is scored, null rows of train / val included (as the
README's protocol takes all expressions of a split, in metadata order).
A uid listed twice in the metadata (both rows count) reads the same
prediction for both rows. A missing, ambiguous (both forms present) or
malformed prediction is an error naming the uid and the file.

Prints J, F, J&F in percent, or S (a fraction, lower is better) for
test_n, per split (and ``mix``, the mean of test_s and test_u, when both
are given); writes no file.
"""
import argparse
import os.path as osp
import sys

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmengine import fileio
from mmengine.utils import ProgressBar

from sam2love.datasets.layout import mask_files
from sam2love.datasets.media import EVAL_MASK_SIZE, load_eval_mask
from sam2love.datasets.metadata import SPLITS, RefAVSRow, read_metadata
from sam2love.evaluation.functional import (
    expression_stats,
    probs_to_logits,
    score_stats,
)

NULL_SPLIT = 'test_n'


class PredictionError(ValueError):
    """A prediction is missing, ambiguous or malformed.

    Args:
        uid (str): the expression.
        path (str): the file or folder at fault (or expected).
        reason (str): what is wrong.
    """

    def __init__(self, uid: str, path: str, reason: str) -> None:
        self.uid, self.path, self.reason = uid, path, reason
        super().__init__(f'{uid}: {path}: {reason}')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', required=True,
                        help='root of the Ref-AVS tree')
    parser.add_argument('--split', nargs='+', required=True, choices=SPLITS,
                        help='split(s) to score')
    parser.add_argument('--pred-dir', required=True,
                        help='folder of <uid>/00000.png ... or <uid>.npy')
    parser.add_argument('--num-frames', type=int, default=10,
                        help='frames per clip T (default 10)')
    parser.add_argument('--ann-file', default='metadata.csv',
                        help='metadata file under the data root')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    return parser.parse_args(argv)


def _resize(x: torch.Tensor) -> torch.Tensor:
    """(T, H, W) float -> (T, 256, 256), bilinear."""
    if tuple(x.shape[-2:]) == EVAL_MASK_SIZE:
        return x
    return F.interpolate(x[None], size=EVAL_MASK_SIZE, mode='bilinear',
                         align_corners=False)[0]


def read_png_probs(uid: str, path: str) -> np.ndarray:
    """One 8-bit grey PNG -> float32 probabilities (H, W) in [0, 1]."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        what = 'is missing' if not osp.exists(path) else 'cannot be decoded'
        raise PredictionError(uid, path, f'prediction frame {what}')
    if img.dtype != np.uint8:
        raise PredictionError(uid, path, f'PNG is {img.dtype}; expected 8-bit '
                              'grey probabilities (0-255)')
    if img.ndim == 3:
        colour = img[..., :3]
        if not (colour == colour[..., :1]).all():
            raise PredictionError(uid, path, 'colour PNG; expected 8-bit grey '
                                  'probabilities (0-255)')
        img = colour[..., 0]
    return img.astype(np.float32) / 255


def read_png_logits(uid: str, folder: str, num_frames: int) -> torch.Tensor:
    """``folder/00000.png ...`` -> float32 logits (T, 256, 256)."""
    frames = [read_png_probs(uid, osp.join(folder, f'{i:05d}.png'))
              for i in range(num_frames)]
    if len({f.shape for f in frames}) > 1:
        raise PredictionError(uid, folder, 'frames differ in size: '
                              f'{sorted({f.shape for f in frames})}')
    probs = _resize(torch.from_numpy(np.stack(frames)))
    return probs_to_logits(probs.clamp(0, 1))


def read_npy_logits(uid: str, path: str, num_frames: int) -> torch.Tensor:
    """``<uid>.npy`` float logits (T, H, W) -> float32 (T, 256, 256)."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise PredictionError(uid, path, f'cannot read the array: {e}') \
            from None
    if not np.issubdtype(array.dtype, np.floating):
        raise PredictionError(
            uid, path, f'dtype {array.dtype}; expected float logits (hard '
            'masks are not logits: save them as 0/255 PNGs or convert them '
            'with hard_masks_to_logits)')
    if array.ndim != 3 or array.shape[0] != num_frames:
        raise PredictionError(uid, path, f'shape {array.shape}; expected '
                              f'({num_frames}, H, W) logits')
    return _resize(torch.from_numpy(array).float())


def read_prediction(pred_dir: str, uid: str, num_frames: int) -> torch.Tensor:
    """The logits (T, 256, 256) saved for ``uid``."""
    npy = osp.join(pred_dir, f'{uid}.npy')
    folder = osp.join(pred_dir, uid)
    has_npy, has_png = osp.isfile(npy), osp.isdir(folder)
    if has_npy and has_png:
        raise PredictionError(uid, folder, f'both {npy} and this folder '
                              'exist; keep one')
    if has_npy:
        return read_npy_logits(uid, npy, num_frames)
    if has_png:
        return read_png_logits(uid, folder, num_frames)
    raise PredictionError(uid, npy, 'no prediction: expected this file or '
                          f'{osp.join(folder, "00000.png")} ...')


def read_ground_truth(data_root: str, row: RefAVSRow,
                      num_frames: int) -> np.ndarray:
    """Benchmark-rule masks, bool (T, 256, 256); empty for a null row
    without a mask folder."""
    files = mask_files(data_root, row.name, row.fid, num_frames)
    if row.is_null and not fileio.isdir(files['mask_dir']):
        return np.zeros((num_frames, *EVAL_MASK_SIZE), bool)
    return np.stack([load_eval_mask(p) for p in files['mask_paths']])


def evaluate(data_root: str, splits: list[str], pred_dir: str,
             num_frames: int = 10, ann_file: str = 'metadata.csv',
             progress: bool = True
             ) -> tuple[dict[str, float], dict[str, int]]:
    """Score the predictions of ``splits``.

    Returns:
        tuple: the metrics and the number of expressions per split.
        The metrics: ``{split}/J``, ``{split}/F``, ``{split}/J&F`` in percent,
        ``test_n/S`` as a fraction, and ``mix/...`` when test_s and test_u
        are both scored; the keys of ``RefAVSMetric`` without its prefix.
    """
    if not osp.isdir(pred_dir):
        raise FileNotFoundError(f'{pred_dir}: prediction folder is missing')
    rows = [r for r in read_metadata(osp.join(data_root, ann_file))
            if r.split in splits]
    stats = {s: [] for s in splits}
    bar = ProgressBar(len(rows)) if progress else None
    for row in rows:
        logits = read_prediction(pred_dir, row.uid, num_frames)
        masks = read_ground_truth(data_root, row, num_frames)
        stats[row.split].append(expression_stats(logits, masks, name=row.uid))
        if bar is not None:
            bar.update()
    if bar is not None:
        print()
    metrics = {}
    for split in splits:
        if not stats[split]:
            raise ValueError(f'{osp.join(data_root, ann_file)}: no row of '
                             f'split {split}')
        if split == NULL_SPLIT:
            metrics[f'{split}/S'] = score_stats(stats[split], null=True)['S']
            continue
        scores = score_stats(stats[split])
        for name in ('J', 'F', 'J&F'):
            metrics[f'{split}/{name}'] = 100 * scores[name]
    if 'test_s' in splits and 'test_u' in splits:
        for name in ('J', 'F', 'J&F'):
            metrics[f'mix/{name}'] = (metrics[f'test_s/{name}'] +
                                      metrics[f'test_u/{name}']) / 2
    return metrics, {s: len(v) for s, v in stats.items()}


def format_metrics(metrics: dict[str, float], counts: dict[str, int]) -> str:
    lines = []
    for split in list(counts) + (['mix'] if 'mix/J' in metrics else []):
        n = f' ({counts[split]} expressions)' if split in counts else ''
        if f'{split}/S' in metrics:
            lines.append(f'{split}: S {metrics[f"{split}/S"]:.4f}{n}')
        else:
            lines.append(f'{split}: ' + '  '.join(
                f'{name} {metrics[f"{split}/{name}"]:.2f}'
                for name in ('J', 'F', 'J&F')) + n)
    return '\n'.join(lines)


def main(argv=None) -> dict[str, float]:
    """Score, print and return the metrics (see :func:`evaluate`).

    Raises:
        PredictionError: a prediction is missing or malformed.
        RefAVSDataError: a ground-truth file is missing or malformed.
    """
    args = parse_args(argv)
    splits = list(dict.fromkeys(args.split))
    metrics, counts = evaluate(
        args.data_root, splits, args.pred_dir, num_frames=args.num_frames,
        ann_file=args.ann_file, progress=not args.no_progress)
    print(format_metrics(metrics, counts))
    return metrics


if __name__ == '__main__':
    try:
        main()
    except (ValueError, FileNotFoundError) as e:  # PredictionError too
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)
