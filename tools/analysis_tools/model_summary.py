"""Parameter counts of a config's model, total and trainable, per part.

    python tools/analysis_tools/model_summary.py CONFIG [--cfg-options ...]

Builds the model as the Runner would (random weights where the config
names no checkpoint) and prints a table of its top-level parts.
"""
import argparse
from collections import defaultdict

from mmengine.config import DictAction
from mmseg.registry import MODELS

import sam2love  # noqa: F401  (registers the components)
from sam2love.utils import load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Model parameter counts')
    parser.add_argument('config')
    parser.add_argument('--depth', type=int, default=2,
                        help='name depth of the parts listed (default 2)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def count(model, depth: int) -> dict:
    """{part: [total, trainable]} for parameter-name prefixes of ``depth``."""
    parts = defaultdict(lambda: [0, 0])
    for name, param in model.named_parameters():
        part = '.'.join(name.split('.')[:depth])
        parts[part][0] += param.numel()
        parts[part][1] += param.numel() if param.requires_grad else 0
    return dict(parts)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = MODELS.build(cfg.model)
    parts = count(model, args.depth)
    width = max(len(p) for p in parts) + 2
    print(f'{"part":{width}s}{"total":>14s}{"trainable":>14s}')
    for part, (total, trainable) in parts.items():
        print(f'{part:{width}s}{total:14,d}{trainable:14,d}')
    total = sum(t for t, _ in parts.values())
    trainable = sum(t for _, t in parts.values())
    print(f'{"all":{width}s}{total:14,d}{trainable:14,d}')


if __name__ == '__main__':
    main()
