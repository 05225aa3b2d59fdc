"""Model and data plumbing shared by the analysis tools' probes."""
import argparse
import copy
import logging

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmseg.registry import DATASETS, MODELS


def build_eval_model(cfg, seed: int = 0, quiet: bool = False):
    """The config's model, seeded, ``init_weights()`` applied (a bare
    ``MODELS.build`` skips the init some parts rely on), in eval mode;
    ``quiet`` hides mmengine's per-parameter init log."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    if quiet:
        logger.setLevel(logging.WARNING)
    try:
        torch.manual_seed(seed)
        model = MODELS.build(cfg.model)
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model.eval()


def preprocessed_batches(model, dataset_cfg: dict, split: str,
                         batch_size: int):
    """Yield ``(inputs, data_samples, texts)`` of ``split`` in dataset
    order, through the model's data preprocessor (no augmentation)."""
    cfg = copy.deepcopy(dataset_cfg)
    cfg.split = split
    dataset = DATASETS.build(cfg)
    for start in range(0, len(dataset), batch_size):
        batch = pseudo_collate([dataset[i] for i in range(
            start, min(start + batch_size, len(dataset)))])
        data = model.data_preprocessor(batch, False)
        samples = data['data_samples']
        yield data['inputs'], samples, [s.text for s in samples]


def cache_probe_parser(description: str) -> argparse.ArgumentParser:
    """Arguments of a probe fitted on some clips of a feature cache and
    scored on the others: ``data_root cache_dir [--split] [--test-share]
    [--seed] [--out]``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('data_root')
    parser.add_argument('cache_dir')
    parser.add_argument('--split', default='train')
    parser.add_argument('--test-share', type=float, default=0.2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the scores as JSON')
    return parser


def held_out_clips(clips: np.ndarray, test_share: float,
                   seed: int) -> tuple[np.ndarray, int]:
    """Hold out a random ``test_share`` of the clips (at least one).

    Args:
        clips (ndarray): (S,) the clip of each item.

    Returns:
        tuple: (S,) bool, True for the items of a held-out clip, and the
        number of clips held out.
    """
    names = sorted(set(clips))
    rng = np.random.default_rng(seed)
    held_out = set(rng.choice(names, max(1, round(len(names) * test_share)),
                              replace=False))
    return np.array([c in held_out for c in clips]), len(held_out)


def roc_auc(positive, negative) -> float | None:
    """P(a positive scores above a negative), ties counting half (None
    when a group is empty)."""
    if not len(positive) or not len(negative):
        return None
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None]
    return float(((pos > neg) + 0.5 * (pos == neg)).mean())


def found_absent(ordinary, absent, shares=(0.01, 0.02, 0.05)) -> dict:
    """Share of ``absent`` below the threshold that finds each share of
    ``ordinary`` absent."""
    ordinary = np.sort(np.asarray(ordinary))
    return {str(s): float(np.mean(np.asarray(absent)
                                  < ordinary[int(s * len(ordinary))]))
            for s in shares}
