"""Do a feature cache's frozen SAM2 features tell the referents apart?

    python tools/analysis_tools/prototype_probe.py DATA_ROOT CACHE_DIR
        [--split train] [--test-share 0.2] [--seed 0] [--out FILE.json]

For every row of the split with a referent it takes the referent's frame-0
*prototype* at each cached level of SAM2's image encoder (``sam2_fpn_<i>``:
the unit mean of the unit cell features under the ground-truth mask,
:meth:`~sam2love.models.losses.ReferentAlignmentLoss.prototypes`), the
space in which the demo's fused token is aligned and its teacher token is
decoded (the last level). A nearest-centroid classifier (cosine), its
centroids taken from the rows of a random ``1 - test_share`` of the clips,
then names the category of the other clips' referents (the uid's
``<vid>_<category>_<n>``); on the synthetic data its colour and its shape
are scored too. A token aligned to prototypes can only name what they
separate.

It prints one line per level and attribute (accuracy, and chance: one over
the number of classes); ``--out`` writes ``{"tool": "prototype_probe",
"cache", "split", "rows", "test_rows", "levels": {level: {attribute:
accuracy}}, "chance": {attribute: chance}}``.
"""
import json
import os.path as osp

import numpy as np
import torch

from sam2love.datasets import read_metadata
from sam2love.datasets.layout import mask_files
from sam2love.datasets.media import load_mask
from sam2love.feature_cache import FeatureCacheReader
from sam2love.feature_cache.keys import SAM2_LEVEL_KEY, sam2_level
from sam2love.models.losses import ReferentAlignmentLoss
from sam2love.utils.analysis import cache_probe_parser, held_out_clips


def parse_args(argv=None):
    return cache_probe_parser(__doc__.split('\n')[0]).parse_args(argv)


def frame0_mask(data_root: str, row) -> torch.Tensor:
    """(1, H, W) float frame-0 mask of the row's referent."""
    path = mask_files(data_root, row.name, row.fid, 1)['mask_paths'][0]
    return torch.from_numpy(load_mask(path))[None].float()


def referent_prototypes(data_root: str, cache_dir: str, split: str) -> tuple:
    """Prototypes of every row with a referent.

    Returns:
        tuple: ``{level: (N, C) array}``, the N categories and the N clip
        names.
    """
    reader = FeatureCacheReader(cache_dir, [split])
    levels = sorted(level for key in reader.keys(split)
                    if (level := sam2_level(key)) is not None)
    if not levels:
        raise SystemExit(f'{cache_dir}: no cached SAM2 levels '
                         f'({SAM2_LEVEL_KEY.format("<i>")}) in split {split}')
    protos = {level: [] for level in levels}
    categories, clips = [], []
    for row in read_metadata(osp.join(data_root, 'metadata.csv')):
        if row.split != split or row.is_null:
            continue
        mask = frame0_mask(data_root, row)
        if not mask.any():
            continue
        feats, _ = reader.sample(split, row.line, row.name)
        for level in levels:
            cells = torch.from_numpy(feats[SAM2_LEVEL_KEY.format(level)])[None]
            protos[level].append(
                ReferentAlignmentLoss.prototypes(cells, mask)[0].numpy())
        categories.append(row.category)
        clips.append(row.name)
    return ({k: np.stack(v) for k, v in protos.items()},
            np.array(categories), np.array(clips))


def attributes(data_root: str, categories: np.ndarray) -> dict:
    """``category`` and, on synthetic data (its ``synthetic_info.json``),
    the categories' ``colour`` and ``shape``."""
    out = dict(category=categories)
    info = osp.join(data_root, 'synthetic_info.json')
    if osp.exists(info):
        with open(info) as f:
            known = json.load(f)['categories']
        for name in ('colour', 'shape'):
            out[name] = np.array([known[c][name] for c in categories])
    return out


def nearest_centroid_accuracy(x: np.ndarray, labels: np.ndarray,
                              test: np.ndarray) -> float:
    """Accuracy on the ``test`` rows of cosine nearest-centroid classes
    fitted on the others (test labels unseen in training count as
    errors)."""
    classes = sorted(set(labels[~test]))
    centroids = np.stack([x[~test][labels[~test] == c].mean(0)
                          for c in classes])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    predicted = np.array(classes)[(x[test] @ centroids.T).argmax(1)]
    return float(np.mean(predicted == labels[test]))


def main(argv=None):
    args = parse_args(argv)
    protos, categories, clips = referent_prototypes(
        args.data_root, args.cache_dir, args.split)
    test, num_held_out = held_out_clips(clips, args.test_share, args.seed)
    result = dict(tool='prototype_probe', cache=args.cache_dir,
                  split=args.split, rows=len(clips), test_rows=int(test.sum()),
                  levels={}, chance={})
    print(f'{len(clips)} rows, {test.sum()} of them (from '
          f'{num_held_out} clips) scored')
    named = attributes(args.data_root, categories)
    for name, labels in named.items():
        result['chance'][name] = 1 / len(set(labels[~test]))
    for level, x in protos.items():
        scores = {name: nearest_centroid_accuracy(x, labels, test)
                  for name, labels in named.items()}
        result['levels'][level] = scores
        print(f'level {level} ({x.shape[1]} channels): ' + ', '.join(
            f'{name} {acc:.3f} (chance {result["chance"][name]:.3f})'
            for name, acc in scores.items()))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
