"""Does the fusion tell which object is meant? A probe without SAM2.

    python tools/analysis_tools/referent_probe.py CONFIG [--iters 600]
        [--batch-size 16] [--lr 1e-3] [--eval-split test_s]
        [--eval-every 100] [--seed 0] [--cfg-options ...]

For SAM2 to segment the referred object, the fused token must first carry
which object that is. On the synthetic data set every row's referent is a
(colour, shape) category, written in ``synthetic_info.json``. The probe
runs the config's frozen tri-modal encoders once over the train split and
the evaluation split, then trains the config's fusion neck with two linear
heads on its prompt token: the referent's colour and its shape
(cross-entropy; null rows are left out). Every ``--eval-every`` iterations
it prints, per expression kind of the evaluation split (vision, audio,
mixed, temporal) and over all of them: the fraction of rows whose colour
and shape are both right, and that fraction for the most frequent train
category (``chance``). An iteration costs the neck's forward and backward
only, so an encoder or neck change is checked in a minute or two before
any stage-2 run.

Synthetic data only (the Ref-AVS release has no category per row).
"""
import argparse
import copy
import time
from collections import Counter

import torch
import torch.nn.functional as F
from mmengine.config import DictAction
from torch import nn

import sam2love  # noqa: F401  (registers the components)
from sam2love.datasets import read_referents
from sam2love.models.backbones import cat_features
from sam2love.utils import load_config
from sam2love.utils.analysis import build_eval_model, preprocessed_batches

KINDS = ('vision', 'audio', 'mixed', 'temporal')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Referent probe')
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=600)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--eval-split', default='test_s')
    parser.add_argument('--eval-every', type=int, default=100)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


@torch.no_grad()
def encode_split(model, dataset_cfg: dict, split: str, batch_size: int,
                 rows: dict) -> dict:
    """The frozen encoders' features of the split's non-null rows.

    Returns:
        dict: ``feats`` (the backbone's dict, text padded to one length),
        ``colour`` and ``shape`` (N,) long, ``kinds`` (N expression kinds).
    """
    feats, labels = [], []
    for inputs, samples, texts in preprocessed_batches(
            model, dataset_cfg, split, batch_size):
        try:
            meta = [rows[s.uid] for s in samples]
        except KeyError as err:
            raise KeyError(f'uid {err} is not in synthetic_info.json: not '
                           f'the data set it describes') from None
        keep = torch.tensor([m[1] is not None for m in meta])
        if not keep.any():
            continue
        out = model.backbone(inputs, texts)
        feats.append({k: v[keep] for k, v in out.items()})
        labels += [m for m, k in zip(meta, keep.tolist()) if k]
    if not labels:
        raise ValueError(f'split {split!r} has no row with a referent')
    return dict(feats=cat_features(feats), kinds=[m[0] for m in labels],
                colour=torch.tensor([m[1] for m in labels]),
                shape=torch.tensor([m[2] for m in labels]))


def subset(cache: dict, index: torch.Tensor) -> dict:
    return {k: v[index] for k, v in cache['feats'].items()}


class ReferentHeads(nn.Module):
    """Colour and shape logits from the neck's prompt token."""

    def __init__(self, neck: nn.Module, colours: int, shapes: int) -> None:
        super().__init__()
        self.neck = neck
        self.colour = nn.Linear(neck.embed_dim, colours)
        self.shape = nn.Linear(neck.embed_dim, shapes)

    def forward(self, feats: dict) -> tuple[torch.Tensor, torch.Tensor]:
        token = self.neck(feats)['prompt'][:, 0]
        return self.colour(token), self.shape(token)


@torch.no_grad()
def evaluate(heads: ReferentHeads, cache: dict, batch_size: int) -> dict:
    """Fraction of rows with colour and shape right, per kind and 'all'."""
    heads.eval()
    right = []
    for start in range(0, cache['colour'].size(0), batch_size):
        index = torch.arange(start, min(start + batch_size,
                                        cache['colour'].size(0)))
        colour, shape = heads(subset(cache, index))
        right.append((colour.argmax(1) == cache['colour'][index])
                     & (shape.argmax(1) == cache['shape'][index]))
    heads.train()
    return by_kind(torch.cat(right).float(), cache['kinds'])


def by_kind(values: torch.Tensor, kinds: list) -> dict:
    out = {}
    for kind in KINDS + ('all', ):
        mask = torch.tensor([kind in ('all', k) for k in kinds])
        if mask.any():
            out[kind] = float(values[mask].mean())
    return out


def chance(train: dict, held_out: dict) -> dict:
    """Accuracy of always answering the most frequent train category."""
    pairs = Counter(zip(train['colour'].tolist(), train['shape'].tolist()))
    colour, shape = pairs.most_common(1)[0][0]
    right = (held_out['colour'] == colour) & (held_out['shape'] == shape)
    return by_kind(right.float(), held_out['kinds'])


def format_scores(scores: dict) -> str:
    return ' '.join(f'{k} {scores[k]:.2f}' for k in KINDS + ('all', )
                    if k in scores)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = build_eval_model(cfg, args.seed)
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    rows, colours, shapes = read_referents(dataset_cfg.data_root)
    start = time.time()
    train = encode_split(model, dataset_cfg, dataset_cfg.split,
                         args.batch_size, rows)
    held_out = encode_split(model, dataset_cfg, args.eval_split,
                            args.batch_size, rows)
    print(f'encoded {train["colour"].size(0)} train and '
          f'{held_out["colour"].size(0)} {args.eval_split} rows with a '
          f'referent in {time.time() - start:.0f} s', flush=True)
    print(f'chance (most frequent train category): '
          f'{format_scores(chance(train, held_out))}', flush=True)
    heads = ReferentHeads(model.neck, len(colours), len(shapes)).train()
    optimizer = torch.optim.AdamW(heads.parameters(), lr=args.lr,
                                  weight_decay=0)
    generator = torch.Generator().manual_seed(args.seed)
    history = [dict(iter=0, **evaluate(heads, held_out, args.batch_size))]
    print(f'iter 0: colour and shape right on {args.eval_split}: '
          f'{format_scores(history[0])}', flush=True)
    start = time.time()
    num = train['colour'].size(0)
    for it in range(1, args.iters + 1):
        index = torch.randperm(num, generator=generator)[:args.batch_size]
        colour, shape = heads(subset(train, index))
        loss = (F.cross_entropy(colour, train['colour'][index])
                + F.cross_entropy(shape, train['shape'][index]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if it % args.eval_every == 0 or it == args.iters:
            scores = evaluate(heads, held_out, args.batch_size)
            history.append(dict(iter=it, loss=loss.item(), **scores))
            print(f'iter {it}: loss {loss.item():.3f}, colour and shape '
                  f'right on {args.eval_split}: {format_scores(scores)} '
                  f'({time.time() - start:.0f} s)', flush=True)
    return history


if __name__ == '__main__':
    main()
