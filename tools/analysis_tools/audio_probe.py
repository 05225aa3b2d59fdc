"""Does a feature cache's audio tell which sounds play? (synthetic data)

    python tools/analysis_tools/audio_probe.py DATA_ROOT CACHE_DIR
        [--split train] [--test-share 0.2] [--seed 0] [--out FILE.json]

For every clip of the split it takes the cached audio features of each
second (``audio_feats``, (N, Da): what the fusion neck hears) and, from the
synthetic data's ``synthetic_info.json``, the categories heard in that
second. A linear probe per category (logistic regression on standardised
features, fitted on the seconds of a random ``1 - test_share`` of the
clips) then scores the other clips' seconds: the mean ROC AUC over the
categories with positives on both sides, and the share of seconds whose
whole set of sounding categories is predicted exactly (probability > 0.5).
A fusion neck can only name a sounding object from what these features
keep.

It prints one line; ``--out`` writes ``{"tool": "audio_probe", "cache",
"split", "seconds", "test_seconds", "categories", "mean_auc", "exact"}``.
"""
import json
import os.path as osp

import numpy as np
import torch

from sam2love.datasets import read_metadata
from sam2love.feature_cache import FeatureCacheReader
from sam2love.utils.analysis import cache_probe_parser, held_out_clips
from sam2love.utils.analysis import roc_auc as pair_auc


def parse_args(argv=None):
    return cache_probe_parser(__doc__.split('\n')[0]).parse_args(argv)


def heard_per_second(clip: dict, categories: list) -> np.ndarray:
    """(T, K) {0, 1}: the categories heard in each second of a clip of
    ``synthetic_info.json`` (its ``heard`` sources when its sound is not
    its scene's)."""
    sources = clip.get('heard') or clip['categories']
    schedule = np.asarray(clip['heard_schedule'] if clip.get('heard')
                          else clip['schedule'])
    labels = np.zeros((schedule.shape[1], len(categories)))
    for category, gains in zip(sources, schedule):
        labels[gains > 0, categories.index(category)] = 1
    return labels


def seconds_of(data_root: str, cache_dir: str, split: str) -> tuple:
    """Audio features, labels and clip of every second of the split.

    Returns:
        tuple: features (S, Da), labels (S, K), clip names (S,), and the
        K category names.
    """
    info_path = osp.join(data_root, 'synthetic_info.json')
    if not osp.exists(info_path):
        raise SystemExit(f'{info_path}: not found; the probe needs the '
                         'synthetic data\'s record of who sounds when')
    with open(info_path) as f:
        info = json.load(f)
    categories = sorted(info['categories'])
    reader = FeatureCacheReader(cache_dir, [split])
    feats, labels, clips, seen = [], [], [], set()
    for row in read_metadata(osp.join(data_root, 'metadata.csv')):
        if row.split != split or row.name in seen:
            continue
        seen.add(row.name)
        audio = reader.sample(split, row.line, row.name)[0]['audio_feats']
        heard = heard_per_second(info['clips'][row.name], categories)
        n = min(len(audio), len(heard))
        feats.append(audio[:n])
        labels.append(heard[:n])
        clips += [row.name] * n
    return (np.concatenate(feats).astype(np.float32),
            np.concatenate(labels), np.array(clips), categories)


def fit_logistic(x: torch.Tensor, y: torch.Tensor,
                 l2: float = 1e-3) -> torch.Tensor:
    """Weights (Da + 1,) of an L2-regularised logistic regression (LBFGS)."""
    w = torch.zeros(x.size(1) + 1, dtype=torch.float64, requires_grad=True)
    xb = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            xb @ w, y) + l2 * w[:-1].square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of the scores against {0, 1} labels (ties count half):
    :func:`sam2love.utils.analysis.roc_auc` of the two groups."""
    pos = labels > 0
    return pair_auc(scores[pos], scores[~pos])


def probe(x: np.ndarray, y: np.ndarray, test: np.ndarray) -> dict:
    """Per-category linear probes fitted on ``~test``, scored on ``test``."""
    mean, std = x[~test].mean(0), x[~test].std(0) + 1e-6
    x = torch.from_numpy((x - mean) / std).double()
    probs = np.zeros((int(test.sum()), y.shape[1]))
    aucs = []
    for k in range(y.shape[1]):
        fit, scored = y[~test, k], y[test, k]
        if fit.sum() == 0:  # never heard in the fitted clips: predict 0
            continue
        w = fit_logistic(x[torch.from_numpy(~test)],
                         torch.from_numpy(fit).double())
        xt = x[torch.from_numpy(test)]
        probs[:, k] = torch.sigmoid(xt @ w[:-1] + w[-1]).numpy()
        if 0 < scored.sum() < len(scored):
            aucs.append(roc_auc(probs[:, k], scored))
    exact = ((probs > 0.5) == (y[test] > 0)).all(1).mean()
    return dict(categories=len(aucs),
                mean_auc=float(np.mean(aucs)) if aucs else float('nan'),
                exact=float(exact))


def main(argv=None):
    args = parse_args(argv)
    x, y, clips, _ = seconds_of(args.data_root, args.cache_dir, args.split)
    test, num_held_out = held_out_clips(clips, args.test_share, args.seed)
    result = dict(tool='audio_probe', cache=args.cache_dir, split=args.split,
                  seconds=len(clips), test_seconds=int(test.sum()),
                  **probe(x, y, test))
    print(f'{result["test_seconds"]} of {result["seconds"]} seconds scored '
          f'({num_held_out} clips): mean ROC AUC {result["mean_auc"]:.3f} '
          f'over {result["categories"]} categories, exact set '
          f'{result["exact"]:.3f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
