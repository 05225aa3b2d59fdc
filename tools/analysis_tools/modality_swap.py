"""Does a trained model read its expression and its sound? Swap them.

    python tools/analysis_tools/modality_swap.py CONFIG CHECKPOINT
        [--split test_s [test_u ...]] [--batch-size 8] [--out FILE.json]
        [--cfg-options ...]

Every sample of the split(s) is predicted three times: as it is; with the
expression of another sample of its batch (``text swapped``); with the
audio of another clip of its batch (``audio swapped``). For each variant
the tool prints the Ref-AVS metrics (``RefAVSMetric``: J, F, J&F per split
x100, S on test_n) and ``changed``: the mean over samples and frames of
1 - IoU(prediction, prediction of the variant), 0 where both are empty.

A model whose fusion uses a modality changes its masks and loses J&F when
that modality comes from another sample; ``changed`` = 0 means the
modality is ignored. It complements the ablation configs (which retrain
without a modality) with a measurement on one checkpoint.

A sample keeps its own text (audio) when no other sample of the batch has
a different expression (comes from a different clip); the count is
printed. Larger batches leave fewer such samples.

``--out FILE.json`` writes the figures (read by ``refavs_table.py --extra
NAME=FILE.json``)::

    {"tool": "modality_swap", "config": CONFIG, "checkpoint": CHECKPOINT,
     "splits": ["test_s"], "batch_size": 8, "samples": N,
     "units": {...},
     "variants": {
       "as is":         {"metrics": {"test_s/J": ..., "test_s/F": ...,
                                     "test_s/J&F": ...},
                         "changed": 0.0, "unswapped": 0},
       "text swapped":  {"metrics": {...}, "changed": 0.12, "unswapped": 3},
       "audio swapped": {...}}}

``metrics`` are ``RefAVSMetric``'s without the ``refavs/`` prefix (J, F,
J&F x100, S a fraction), ``changed`` the fraction above and
``unswapped`` the count of samples that kept their own modality.
"""
import argparse
import copy
import json
from collections.abc import Callable, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.evaluator import Evaluator
from mmengine.runner import Runner
from mmseg.registry import MODELS

import sam2love  # noqa: F401  (registers the components)
from sam2love.apis.checkpoint import load_weights_strict
from sam2love.models.losses import mask_iou
from sam2love.utils import load_config

VARIANTS = ('as is', 'text swapped', 'audio swapped')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Swap expressions / audio between samples and measure '
        'how predictions and metrics change')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', nargs='+', default=None,
                        help="splits to use (default: the config's test "
                        'split)')
    parser.add_argument('--batch-size', type=int, default=8,
                        help='samples per batch; partners are drawn from '
                        'the same batch (default 8)')
    parser.add_argument('--out', default=None,
                        help='write the results as JSON to this file')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def partners(keys: Sequence, differ: Sequence | None = None) -> list[int]:
    """For each item, the next one (cyclically) whose key differs.

    Args:
        keys (Sequence): one hashable key per item (e.g. the expression).
        differ (Sequence, optional): when given, the partner must differ
            in this key too (e.g. the clip, so that swapped audio really
            comes from elsewhere).

    Returns:
        list[int]: the partner's index, or the item's own where no item
        differs.
    """
    n = len(keys)
    differ = keys if differ is None else differ
    out = []
    for i in range(n):
        for step in range(1, n):
            j = (i + step) % n
            if keys[j] != keys[i] and differ[j] != differ[i]:
                out.append(j)
                break
        else:
            out.append(i)
    return out


def text_swapped(inputs: dict, samples: list) -> tuple[dict, list, int]:
    """Each sample gets another sample's expression."""
    texts = [s.text for s in samples]
    index = partners(texts)
    swapped = copy.deepcopy(samples)
    for sample, j in zip(swapped, index):
        sample.set_metainfo(dict(text=texts[j]))
    return inputs, swapped, sum(i == j for i, j in enumerate(index))


def audio_swapped(inputs: dict, samples: list) -> tuple[dict, list, int]:
    """Each sample gets the audio of a sample of another clip."""
    vids = [s.vid for s in samples]
    index = partners(vids)
    inputs = dict(inputs)
    for key in ('audio', 'audio_feats'):
        if key in inputs:
            inputs[key] = inputs[key][torch.as_tensor(index)]
    return inputs, copy.deepcopy(samples), \
        sum(i == j for i, j in enumerate(index))


def as_is(inputs: dict, samples: list) -> tuple[dict, list, int]:
    return inputs, copy.deepcopy(samples), 0


def changed_fraction(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Mean over frames of 1 - IoU of two (T, H, W) masks; 0 when both
    frames are empty."""
    return float((1 - mask_iou(reference.bool(), other.bool())).mean())


@torch.no_grad()
def run(model, dataloader,
        variants: dict[str, Callable] | None = None) -> dict:
    """Predict every batch under each variant.

    Returns:
        dict: per variant, ``metrics`` (``RefAVSMetric``'s, x100 for J / F
        / J&F), ``changed`` (mean 1 - IoU against ``as is``) and
        ``unswapped`` (samples that kept their own modality).
    """
    variants = variants or dict(zip(VARIANTS, (as_is, text_swapped,
                                               audio_swapped)))
    evaluators = {name: Evaluator(dict(type='RefAVSMetric'))
                  for name in variants}
    for evaluator in evaluators.values():
        evaluator.dataset_meta = dataloader.dataset.metainfo
    changed = {name: [] for name in variants}
    unswapped = dict.fromkeys(variants, 0)
    num_samples = 0
    for batch in dataloader:
        data = model.data_preprocessor(batch, False)
        reference = None
        for name, make in variants.items():
            inputs, samples, kept = make(data['inputs'], data['data_samples'])
            outputs = model.predict(inputs, samples)
            masks = [s.pred_sem_seg.data for s in outputs]
            if reference is None:
                reference = masks
            changed[name] += [changed_fraction(r, m)
                              for r, m in zip(reference, masks)]
            unswapped[name] += kept
            evaluators[name].process(data_samples=outputs)
        num_samples += len(data['data_samples'])
    return {name: dict(
        metrics=evaluators[name].evaluate(num_samples),
        changed=sum(changed[name]) / max(len(changed[name]), 1),
        unswapped=unswapped[name]) for name in variants}


def format_table(results: dict) -> str:
    """One row per variant: its metrics, ``changed`` and ``unswapped``."""
    keys = []
    for result in results.values():
        keys += [k for k in result['metrics'] if k not in keys]
    short = [k[len('refavs/'):] if k.startswith('refavs/') else k
             for k in keys]
    header = ['variant'] + short + ['changed', 'unswapped']
    rows = [header]
    for name, result in results.items():
        rows.append([name] + [f"{result['metrics'].get(k, float('nan')):.2f}"
                              for k in keys]
                    + [f"{result['changed']:.3f}", str(result['unswapped'])])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(r, widths))
                     for r in rows)


def results_json(results: dict, config: str, checkpoint: str,
                 splits: Sequence[str], batch_size: int,
                 samples: int) -> dict:
    """What ``--out`` writes (see the module docstring)."""
    prefix = 'refavs/'
    return dict(
        tool='modality_swap', config=config, checkpoint=checkpoint,
        splits=list(splits), batch_size=batch_size, samples=samples,
        units=dict(metrics='J, F, J&F x100; S a fraction',
                   changed='mean over samples and frames of 1 - IoU '
                   "against the 'as is' masks (0: the modality is ignored)",
                   unswapped='samples that kept their own modality'),
        variants={name: dict(
            metrics={k[len(prefix):] if k.startswith(prefix) else k: v
                     for k, v in result['metrics'].items()},
            changed=result['changed'], unswapped=result['unswapped'])
            for name, result in results.items()})


def build_dataloader(cfg: Config, split: Sequence[str] | None,
                     batch_size: int):
    loader = copy.deepcopy(cfg.test_dataloader)
    if split:
        loader.dataset.split = list(split) if len(split) > 1 else split[0]
    loader.batch_size = batch_size
    return Runner.build_dataloader(loader)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = MODELS.build(cfg.model)
    load_weights_strict(model, args.checkpoint, args.config)
    model.to(args.device).eval()
    dataloader = build_dataloader(cfg, args.split, args.batch_size)
    results = run(model, dataloader)
    print(format_table(results))
    if args.out:
        splits = args.split or [cfg.test_dataloader.dataset.split]
        splits = [s for item in splits
                  for s in ([item] if isinstance(item, str) else item)]
        with open(args.out, 'w') as f:
            json.dump(results_json(
                results, args.config, args.checkpoint, splits,
                args.batch_size, len(dataloader.dataset)), f, indent=2)
        print(f'figures written to {args.out}')
    return results


if __name__ == '__main__':
    main()
