"""Train-iteration time from a frozen-feature cache vs from the frames.

    python tools/analysis_tools/cache_benchmark.py CONFIG [--iters 5]
        [--batch-size B] [--dtype fp32|fp16] [--cache DIR] [--out JSON]
        [--cfg-options ...]

Builds the config's model (seeded, ``init_weights``), extracts a feature
cache of the train split (into ``--cache``, resumed / reused when it is
there, else a temporary folder) and then times training iterations both
ways in the same process, alternating (uncached, cached, cached, uncached,
... so that drifting machine load hits both alike) on the same batches:
one iteration is reading and collating the samples through the dataset's
pipeline (in the main process, as ``num_workers=0``) plus
``model.train_step`` (preprocessing, forward, backward, optimizer step;
gradient accumulation off so that every iteration steps). The first
iteration of each kind is a warm-up and not counted. Prints the mean and
median of both, the ratio and the cache's size per clip and per
expression; ``--out`` writes the same as JSON.
"""
import argparse
import copy
import json
import os.path as osp
import shutil
import statistics
import tempfile
import time

import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmseg.registry import DATASETS

import sam2love  # noqa: F401  (registers the components)
from sam2love.apis import extract_feature_cache, split_dataset_cfgs
from sam2love.feature_cache import folder_bytes
from sam2love.utils import load_config
from sam2love.utils.analysis import build_eval_model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train-iteration time with and without a feature cache')
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=5,
                        help='timed iterations of each kind (+1 warm-up)')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='default: the train dataloader\'s')
    parser.add_argument('--dtype', choices=['fp32', 'fp16'], default='fp32')
    parser.add_argument('--cache', help='cache folder to make or reuse '
                        '(default: a temporary one, removed afterwards)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--out', help='write the figures as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def timed_iteration(model, optim_wrapper, dataset, indices, device) -> dict:
    """Read + collate the samples, then one ``train_step``; seconds."""
    start = time.perf_counter()
    batch = pseudo_collate([dataset[i] for i in indices])
    loaded = time.perf_counter()
    model.train_step(batch, optim_wrapper)
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()
    end = time.perf_counter()
    return dict(data=loaded - start, step=end - loaded, total=end - start)


def summary(times: list[dict]) -> dict:
    out = {}
    for key in ('data', 'step', 'total'):
        values = [t[key] for t in times]
        out[key] = dict(mean=statistics.mean(values),
                        median=statistics.median(values))
    return out


def cache_sizes(manifest: dict, split: str) -> dict:
    """Bytes per clip and per expression row from the stored shapes."""
    entry = manifest['splits'][split]
    per_clip = per_row = 0
    for key, spec in entry['shapes'].items():
        nbytes = int(np.prod(spec['shape'])) * np.dtype(spec['dtype']).itemsize
        if key.startswith('text'):
            per_row += nbytes
        else:
            per_clip += nbytes
    return dict(per_clip_bytes=per_clip, per_row_bytes=per_row,
                num_clips=entry['num_clips'], num_rows=entry['num_rows'],
                split_bytes_on_disk=entry['bytes'],
                shapes={k: v['shape'] for k, v in entry['shapes'].items()},
                dtype=manifest['dtype'])


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = build_eval_model(cfg, args.seed, quiet=True).to(args.device)
    split, dataset_cfg = next(iter(split_dataset_cfgs(cfg).items()))
    temporary = args.cache is None
    cache = tempfile.mkdtemp(prefix='sam2love_cache_') if temporary \
        else args.cache
    try:
        start = time.perf_counter()
        manifest = extract_feature_cache(model, {split: dataset_cfg}, cache,
                                         dtype=args.dtype)
        extraction_s = time.perf_counter() - start
        raw = DATASETS.build(copy.deepcopy(dataset_cfg))
        cached = DATASETS.build(dict(copy.deepcopy(dataset_cfg),
                                     feature_cache=cache))
        optim_cfg = copy.deepcopy(cfg.optim_wrapper)
        optim_cfg['accumulative_counts'] = 1
        optim_wrapper = build_optim_wrapper(model, optim_cfg)
        batch_size = args.batch_size or cfg.train_dataloader.batch_size
        order = np.random.default_rng(args.seed).permutation(len(raw))
        model.train()
        times = dict(uncached=[], cached=[])
        for it in range(args.iters + 1):
            indices = [int(order[(it * batch_size + j) % len(order)])
                       for j in range(batch_size)]
            kinds = ('uncached', 'cached') if it % 2 == 0 else \
                ('cached', 'uncached')
            for kind in kinds:
                dataset = raw if kind == 'uncached' else cached
                t = timed_iteration(model, optim_wrapper, dataset, indices,
                                    args.device)
                if it > 0:  # the first of each is a warm-up
                    times[kind].append(t)
                print(f'iter {it} {kind:>8}: data {t["data"]:.3f} s, step '
                      f'{t["step"]:.3f} s, total {t["total"]:.3f} s',
                      flush=True)
        sizes = cache_sizes(manifest, split)
        cache_bytes = folder_bytes(cache)
    finally:
        if temporary:
            shutil.rmtree(cache, ignore_errors=True)
    result = dict(
        config=args.config, cfg_options=args.cfg_options, device=args.device,
        threads=torch.get_num_threads(), batch_size=batch_size,
        iters=args.iters, split=split, extraction_s=extraction_s,
        uncached=summary(times['uncached']), cached=summary(times['cached']),
        cache=dict(sizes, folder_bytes=cache_bytes))
    result['speedup_mean'] = result['uncached']['total']['mean'] / \
        result['cached']['total']['mean']
    result['speedup_median'] = result['uncached']['total']['median'] / \
        result['cached']['total']['median']
    print(f'\n{args.config}: batch {batch_size} on {args.device} '
          f'({result["threads"]} threads), {args.iters} timed iterations each')
    for kind in ('uncached', 'cached'):
        s = result[kind]
        print(f'{kind:>8}: {s["total"]["mean"]:.3f} s / iteration (median '
              f'{s["total"]["median"]:.3f}; data {s["data"]["mean"]:.3f}, '
              f'step {s["step"]["mean"]:.3f})')
    print(f'ratio uncached / cached: {result["speedup_mean"]:.2f}x (mean), '
          f'{result["speedup_median"]:.2f}x (median)')
    print(f'cache ({sizes["dtype"]}): {sizes["per_clip_bytes"] / 2**20:.3f} '
          f'MiB per clip, {sizes["per_row_bytes"] / 2**10:.1f} KiB per '
          f'expression; {split}: {sizes["num_clips"]} clips, '
          f'{sizes["num_rows"]} expressions, '
          f'{sizes["split_bytes_on_disk"] / 2**20:.1f} MiB on disk; '
          f'extraction {extraction_s:.1f} s')
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=1)
        print(f'wrote {osp.abspath(args.out)}')
    return result


if __name__ == '__main__':
    main()
