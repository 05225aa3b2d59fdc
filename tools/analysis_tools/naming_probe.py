"""Does a trained SAM2-LOVE's fused token name its referent among the
clip's objects?

    python tools/analysis_tools/naming_probe.py CONFIG CHECKPOINT
        [--split test_s] [--batch-size 8] [--out FILE.json]
        [--cfg-options KEY=VALUE ...]

A row can fail in two ways: its token names the wrong object, or it names
the right one and SAM2's decoder reads it badly. This tool measures the
first alone. The demo aligns the token, in SAM2's prompt space, to its
referent's frame-0 *prototype* (the unit mean of SAM2's stride-16 image
features under the ground-truth mask, the space its teacher token is
decoded in; ``ReferentAlignmentLoss``). For every row whose clip has other
annotated objects in the split (the distinct ``fid`` of the clip's rows),
the token is compared (cosine) with the frame-0 prototypes of those
objects: a *hit* when the referent's is the most similar. Chance is one
over the number of objects. Only masks are used, so it runs on the real
release as on the synthetic one (which adds the expression kinds).

Prints the hit rate and chance over all such rows and, on synthetic data,
per expression kind and apart for referents whose colour another object of
the clip shares (the prototypes tell colours apart, hardly shapes:
``prototype_probe.py``); ``--out`` writes ``{"tool": "naming_probe",
"config", "checkpoint", "split", "rows", "skipped" (clips with one
object), "empty" (no referent in frame 0), "hit", "chance",
"kinds": {kind: {"rows", "hit", "chance"}}, "colour": {"unique" |
"shared": {"rows", "hit", "chance"}}, "per_row": [{"uid", "text",
"hit", "candidates", "cosine"}]}`` (``cosine``: the token's with its
referent's prototype).
"""
import argparse
import json
from collections import defaultdict

import torch
import torch.nn.functional as F
from mmengine.config import DictAction

import sam2love  # noqa: F401  (registers the components)
from sam2love.apis.checkpoint import load_weights_strict
from sam2love.datasets import read_referents
from sam2love.evaluation.kinds import has_expression_kinds
from sam2love.models.losses import ReferentAlignmentLoss
from sam2love.models.sam2.features import image_encoder_levels
from sam2love.utils import load_config
from sam2love.utils.analysis import build_eval_model, preprocessed_batches


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', default='test_s')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--out', help='write the figures as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


@torch.no_grad()
def tokens_and_prototypes(model, dataset_cfg, split: str,
                          batch_size: int) -> tuple[list[dict], int]:
    """Per row with a referent in frame 0: ``uid``, ``text``, ``clip``,
    ``fid``, the unit ``token`` (C,) in SAM2's prompt space and the unit
    frame-0 ``prototype`` (C,) of its referent; and the number of rows
    without one (null rows, a referent not yet in view)."""
    head = model.decode_head
    rows, empty = [], 0
    for inputs, samples, texts in preprocessed_batches(
            model, dataset_cfg, split, batch_size):
        prompt = model.extract_feat(inputs, texts)  # (B, 1, D)
        tokens = F.normalize(head.prompt_tokens(prompt)[:, 0].float(), dim=-1)
        feats = image_encoder_levels(
            head.sam, head.fit_frames(inputs['frames'][:, 0]))[-1]
        for sample, token, cells in zip(samples, tokens, feats):
            mask = sample.gt_sem_seg.data[0]  # (H, W), the clip's own size
            if not mask.any():  # nothing to name in frame 0
                empty += 1
                continue
            proto = ReferentAlignmentLoss.prototypes(cells[None],
                                                     mask[None])[0]
            rows.append(dict(uid=sample.uid, text=sample.text,
                             clip=sample.clip_name, fid=sample.fid,
                             token=token, prototype=proto.float()))
    return rows, empty


def name_referents(rows: list[dict]) -> tuple[list[dict], int]:
    """The hit of each row among its clip's objects.

    Returns:
        tuple: per scored row ``uid``, ``text``, ``hit`` (bool),
        ``candidates`` (objects of its clip), ``cosine`` (with its
        referent); the number of rows skipped (a clip with one object).
    """
    objects = defaultdict(dict)  # clip -> fid -> prototype
    for row in rows:
        objects[row['clip']].setdefault(row['fid'], row['prototype'])
    scored, skipped = [], 0
    for row in rows:
        fids = sorted(objects[row['clip']])
        if len(fids) < 2:
            skipped += 1
            continue
        cosines = torch.stack([objects[row['clip']][f] for f in fids]) \
            @ row['token']
        own = fids.index(row['fid'])
        scored.append(dict(uid=row['uid'], text=row['text'],
                           hit=bool(cosines.argmax() == own),
                           candidates=len(fids),
                           cosine=float(cosines[own])))
    return scored, skipped


def summarise(scored: list[dict]) -> dict:
    """``rows``, ``hit`` (share of hits) and ``chance`` (mean of one over
    the candidates)."""
    n = len(scored)
    return dict(rows=n,
                hit=sum(r['hit'] for r in scored) / max(n, 1),
                chance=sum(1 / r['candidates'] for r in scored) / max(n, 1))


def synthetic_groups(rows: list[dict], scored: list[dict],
                     data_root: str) -> dict:
    """On synthetic data: ``kinds`` (expression kind -> figures) and
    ``colour`` (``'unique'`` / ``'shared'``: whether another object of the
    clip has the referent's colour -> figures)."""
    referents = read_referents(data_root)[0]  # uid -> (kind, colour, shape)
    where = {r['uid']: (r['clip'], r['fid']) for r in rows}
    colours = defaultdict(dict)  # clip -> fid -> colour
    for uid, (clip, fid) in where.items():
        colours[clip][fid] = referents[uid][1]
    kinds, colour = defaultdict(list), defaultdict(list)
    for row in scored:
        kind, own, _ = referents[row['uid']]
        kinds[kind].append(row)
        clip = colours[where[row['uid']][0]]
        shared = sum(c == own for c in clip.values()) > 1
        colour['shared' if shared else 'unique'].append(row)
    return dict(kinds={k: summarise(v) for k, v in sorted(kinds.items())},
                colour={k: summarise(v) for k, v in sorted(colour.items())})


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = build_eval_model(cfg, quiet=True)
    load_weights_strict(model, args.checkpoint, args.config)
    dataset_cfg = cfg.test_dataloader.dataset
    rows, empty = tokens_and_prototypes(model, dataset_cfg, args.split,
                                        args.batch_size)
    scored, skipped = name_referents(rows)
    result = dict(tool='naming_probe', config=args.config,
                  checkpoint=args.checkpoint, split=args.split,
                  skipped=skipped, empty=empty, **summarise(scored),
                  kinds={}, colour={})
    print(f'{args.split}: {result["rows"]} rows scored, {skipped} left out '
          f'(a clip with one object), {empty} without a referent in frame '
          f'0: hit {result["hit"]:.3f}, chance {result["chance"]:.3f}')
    if has_expression_kinds(dataset_cfg.data_root):
        result.update(synthetic_groups(rows, scored, dataset_cfg.data_root))
        for group, prefix in (('kinds', ''), ('colour', 'colour ')):
            for name, figures in result[group].items():
                print(f'  {prefix}{name}: {figures["rows"]} rows, hit '
                      f'{figures["hit"]:.3f}, chance {figures["chance"]:.3f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(result, per_row=scored), f, indent=2)
        print(f'figures written to {args.out}')
    return result


if __name__ == '__main__':
    main()
