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

It also asks the presence question with a perfect text side: is category
``c`` on a held-out clip's frame 0? Its score is a soft maximum over the
cells of the cosine with ``c``'s centroid (``presence.source='alignment'``'s
:func:`~sam2love.models.decode_heads.presence.alignment_score`, tau 0.05);
the ROC AUC of the categories on screen against the absent ones, and on
synthetic data against the *hard* absent ones (an object on screen shares
the colour or the shape: the synthetic absent-referent nulls) and the easy
ones (no shared word); None where a group is empty.

It prints one line per level and attribute (accuracy, and chance: one over
the number of classes) and per level the presence AUCs; ``--out`` writes
``{"tool": "prototype_probe", "cache", "split", "rows", "test_rows",
"levels": {level: {attribute: accuracy}}, "chance": {attribute: chance},
"presence": {level: {"auc", ["auc_hard", "auc_easy"]}}}``.
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
from sam2love.models.decode_heads.presence import alignment_score
from sam2love.models.losses import ReferentAlignmentLoss
from sam2love.utils.analysis import cache_probe_parser, held_out_clips, roc_auc


def parse_args(argv=None):
    return cache_probe_parser(__doc__.split('\n')[0]).parse_args(argv)


def frame0_mask(data_root: str, row) -> torch.Tensor:
    """(1, H, W) float frame-0 mask of the row's referent."""
    path = mask_files(data_root, row.name, row.fid, 1)['mask_paths'][0]
    return torch.from_numpy(load_mask(path))[None].float()


def referent_prototypes(data_root: str, cache_dir: str, split: str) -> tuple:
    """Prototypes of every row with a referent.

    Returns:
        tuple: ``{level: (N, C) array}``, the N categories, the N clip
        names and ``{clip: {level: (C, h, w) array}}``, each clip's cells.
    """
    reader = FeatureCacheReader(cache_dir, [split])
    levels = sorted(level for key in reader.keys(split)
                    if (level := sam2_level(key)) is not None)
    if not levels:
        raise SystemExit(f'{cache_dir}: no cached SAM2 levels '
                         f'({SAM2_LEVEL_KEY.format("<i>")}) in split {split}')
    protos = {level: [] for level in levels}
    categories, clips, cells_of = [], [], {}
    for row in read_metadata(osp.join(data_root, 'metadata.csv')):
        if row.split != split or row.is_null:
            continue
        mask = frame0_mask(data_root, row)
        if not mask.any():
            continue
        feats, _ = reader.sample(split, row.line, row.name)
        cells_of.setdefault(row.name, {
            level: feats[SAM2_LEVEL_KEY.format(level)] for level in levels})
        for level in levels:
            cells = torch.from_numpy(feats[SAM2_LEVEL_KEY.format(level)])[None]
            protos[level].append(
                ReferentAlignmentLoss.prototypes(cells, mask)[0].numpy())
        categories.append(row.category)
        clips.append(row.name)
    return ({k: np.stack(v) for k, v in protos.items()},
            np.array(categories), np.array(clips), cells_of)


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


def cells_of_level(cells: dict, level: int) -> dict:
    return {clip: by_level[level] for clip, by_level in cells.items()}


def synthetic_parts(data_root: str) -> dict:
    """category -> (colour, shape) of every synthetic category."""
    with open(osp.join(data_root, 'synthetic_info.json')) as f:
        known = json.load(f)['categories']
    return {c: (v['colour'], v['shape']) for c, v in known.items()}


def shown_categories(data_root: str, clips) -> dict:
    """The categories on each clip's screen: ``synthetic_info.json``'s
    (every object), else those of the clip's rows."""
    info = osp.join(data_root, 'synthetic_info.json')
    if osp.exists(info):
        with open(info) as f:
            known = json.load(f)['clips']
        return {c: set(known[c]['categories']) for c in clips}
    shown = {c: set() for c in clips}
    for row in read_metadata(osp.join(data_root, 'metadata.csv')):
        if row.name in shown:
            shown[row.name].add(row.category)
    return shown


def presence_aucs(x: np.ndarray, categories: np.ndarray, clips: np.ndarray,
                  test: np.ndarray, cells: dict, shown: dict,
                  parts: dict | None = None, temperature: float = 0.05
                  ) -> dict:
    """AUC of "category c is on the held-out clip's frame 0" from the soft
    maximum of the cosines of c's centroid (fitted on the other clips) with
    the clip's cells; with ``parts`` (category -> (colour, shape)), also
    against the absent categories that share a part with one on screen
    (``auc_hard``) and those that do not (``auc_easy``)."""
    classes = sorted(set(categories[~test]))
    centroids = torch.from_numpy(np.stack(
        [x[~test][categories[~test] == c].mean(0) for c in classes]))
    present, hard, easy = [], [], []
    for clip in sorted(set(clips[test])):
        feats = torch.from_numpy(cells[clip])[None].expand(
            len(classes), *cells[clip].shape)
        scores = alignment_score(centroids, feats, temperature)[:, 0]
        for c, score in zip(classes, scores.tolist()):
            if c in shown[clip]:
                present.append(score)
            elif parts is not None and any(
                    a == b for s in shown[clip]
                    for a, b in zip(parts[c], parts[s])):
                hard.append(score)
            else:
                easy.append(score)
    out = dict(auc=roc_auc(present, hard + easy))
    if parts is not None:
        out.update(auc_hard=roc_auc(present, hard),
                   auc_easy=roc_auc(present, easy))
    return out


def main(argv=None):
    args = parse_args(argv)
    protos, categories, clips, cells = referent_prototypes(
        args.data_root, args.cache_dir, args.split)
    test, num_held_out = held_out_clips(clips, args.test_share, args.seed)
    result = dict(tool='prototype_probe', cache=args.cache_dir,
                  split=args.split, rows=len(clips), test_rows=int(test.sum()),
                  levels={}, chance={}, presence={})
    print(f'{len(clips)} rows, {test.sum()} of them (from '
          f'{num_held_out} clips) scored')
    named = attributes(args.data_root, categories)
    shown = shown_categories(args.data_root, set(clips[test]))
    parts = None
    if 'colour' in named:
        parts = {c: (a, b) for c, a, b in zip(
            categories, named['colour'], named['shape'])}
        parts.update(synthetic_parts(args.data_root))
    for name, labels in named.items():
        result['chance'][name] = 1 / len(set(labels[~test]))
    for level, x in protos.items():
        scores = {name: nearest_centroid_accuracy(x, labels, test)
                  for name, labels in named.items()}
        result['levels'][level] = scores
        print(f'level {level} ({x.shape[1]} channels): ' + ', '.join(
            f'{name} {acc:.3f} (chance {result["chance"][name]:.3f})'
            for name, acc in scores.items()))
        aucs = presence_aucs(x, categories, clips, test, cells_of_level(
            cells, level), shown, parts)
        result['presence'][level] = aucs
        print(f'level {level} presence: ' + ', '.join(
            f'{name} ' + ('-' if v is None else f'{v:.3f}')
            for name, v in aucs.items()))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
