"""Extract a frozen-feature cache for stage-2 training.

    python tools/extract_features.py CONFIG --out DIR [--splits train ...]
        [--dtype fp32|fp16] [--batch-size 4] [--shard-size 32]
        [--launcher none|pytorch] [--cfg-options ...]
    tools/dist_extract_features.sh CONFIG NPROC --out DIR [...]

Runs SAM2-LOVE's frozen parts once over the clips of the splits (default:
the train dataloader's; other splits use the test dataloader's dataset
with that split) and stores, per clip, VGGish's features (N, Da), the
vision encoder's patch (T, HW, Dv) and [cls] (T, Dv) tokens and SAM2's
image-encoder levels of frame 0, and per expression the text features
(P, Dt) and mask; see ``sam2love.feature_cache`` for the layout
and the manifest. Then train from it with
``train_dataloader.dataset.feature_cache=DIR`` (e.g.
``configs/sam2love_tiny_1xb16-stage2-cached_synthetic.py``).

The model is built as ``tools/train.py`` builds it from CONFIG (same seed,
``init_weights``, ``load_from``), so that random-init frozen parts match.
``--out`` defaults to the config's ``train_dataloader.dataset.
feature_cache``. Killed, the same command resumes: whole shards are kept.
With ``--launcher pytorch`` (torchrun) each process extracts its share of
the shards and rank 0 writes the index and the manifest.
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.dist import get_dist_info

from sam2love.apis import (
    build_training_model,
    extract_feature_cache,
    split_dataset_cfgs,
)
from sam2love.feature_cache import folder_bytes
from sam2love.utils import parse_runner_args, runner_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Extract the frozen parts\' features of SAM2-LOVE')
    parser.add_argument('config', help='training config file')
    parser.add_argument('--out', help='cache folder (default: the config\'s '
                        'train_dataloader.dataset.feature_cache)')
    parser.add_argument('--splits', nargs='+', help='splits to extract '
                        '(default: the train dataloader\'s)')
    parser.add_argument('--dtype', choices=['fp32', 'fp16'], default='fp32',
                        help='storage precision')
    parser.add_argument('--batch-size', type=int, default=4,
                        help='clips per forward pass')
    parser.add_argument('--shard-size', type=int, default=None,
                        help='clips per shard (default 32, or a resumed '
                        'split\'s)')
    parser.add_argument('--device', default=None,
                        help='default: cuda:LOCAL_RANK when there is CUDA')
    parser.add_argument('--no-progress', action='store_true')
    return parse_runner_args(parser, argv)


def build_cfg(args) -> Config:
    cfg = runner_config(args)
    if args.out is None:
        args.out = cfg.train_dataloader.dataset.get('feature_cache')
        if args.out is None:
            raise SystemExit('give --out DIR (the config has no '
                             'train_dataloader.dataset.feature_cache)')
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_cfg(args)
    model = build_training_model(cfg, osp.join(args.out, 'logs'))
    device = args.device or (
        f'cuda:{os.environ["LOCAL_RANK"]}' if torch.cuda.is_available()
        else 'cpu')
    model.to(device)
    manifest = extract_feature_cache(
        model, split_dataset_cfgs(cfg, args.splits), args.out,
        dtype=args.dtype, batch_size=args.batch_size,
        shard_size=args.shard_size, progress=not args.no_progress)
    rank, _ = get_dist_info()
    if rank == 0 and manifest is not None:
        for split, entry in manifest['splits'].items():
            print(f'{split}: {entry["num_clips"]} clips, {entry["num_rows"]} '
                  f'expressions, {entry["bytes"] / 2**20:.1f} MiB '
                  f'({manifest["dtype"]})')
        print(f'{args.out}: {folder_bytes(args.out) / 2**20:.1f} MiB in all')
    return manifest


if __name__ == '__main__':
    main()
