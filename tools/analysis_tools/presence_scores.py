"""How well does a trained model tell null rows from ordinary ones?

    python tools/analysis_tools/presence_scores.py CONFIG CHECKPOINT
        [--split test_s test_u test_n] [--batch-size 16]
        [--thresholds 0.1 0.3 0.5 0.7 0.9] [--max-ordinary-loss 0.02]
        [--max-threshold 0.5] [--separate-silence] [--miss-iou 0.3]
        [--names-max-ordinary-loss 0.02] [--names-threshold T]
        [--out FILE.json] [--cfg-options ...]

For every row of the splits it computes the clip's presence probability,
the one ``SAM2PromptHead.predict_clip`` compares with
``presence.threshold`` (the token MLP's, the token's alignment with frame
0, or SAM2's object score on frame 0 with ``source='object_score'`` or
without the switch), on frame 0 only (no
tracking, so a whole test split takes seconds). Rows are grouped as
*ordinary* (non-empty masks) and, on synthetic data, by null type
(``synthetic_info.json``; ``null`` elsewhere). It prints per group the
mean probability and, for the null groups, the ROC AUC against the
ordinary rows (1: a threshold separates them; 0.5: chance), and for each
threshold the share of each group found absent (their masks would be
emptied). The null rows' share is what brings S down; the ordinary rows'
share is J&F lost.

``--max-ordinary-loss M`` also calibrates ``presence.threshold``: the
largest threshold, up to ``--max-threshold`` (0.5: the boundary of the
presence BCE, whose null rows are weighed to balance the ordinary ones),
that finds at most a share M of the ordinary rows absent (run it on
``--split val``, then test with ``--cfg-options
model.decode_head.presence.threshold=T``). The cap matters when the
ordinary rows' probabilities saturate near 1: their M-quantile then sits
at 0.9997, where a few test rows fall below it by a hair.

``--separate-silence`` calibrates it against silence instead, for a
model whose names check (below) takes the absent referents, so that the
head's threshold has only to tell whether the sound asked for is there:
the ordinary rows that ask for a sound are scored again with silence in
place of their audio (group ``made-silent``) and the threshold is the one
that best separates them from the ordinary rows (the largest share of
made-silent rows found absent less the share of ordinary rows; then,
among the thresholds that find the same ordinary rows and at most one
ordinary row's share fewer made-silent ones, the widest gap in log
probability), at the geometric mean of the two probabilities around it,
up to ``--max-threshold``. A quantile of the
ordinary rows alone sits too high there (stage 3's 2 % found 10 % of the
quick start's test_u rows absent, docs/presence.md) or too low where the
sound check silences a few val clips wrongly.

With ``name_check.head_rows='sound-asking'`` the head's check judges only
the rows that ask for a sound (``SAM2LOVE.head_spared``): the other rows
count as kept by it in every share found absent and in the calibrations
(their probabilities still enter the means and AUCs).

It also measures the object frame 0 keeps on the ordinary rows (the mask
SAM2 decodes from the token, :func:`~sam2love.models.decode_heads.presence.
chosen_mask`, against the referent's frame-0 mask at the evaluation size):
its mean IoU, and the share of rows whose kept object misses the referent
(IoU below ``--miss-iou``) with the frame-0 J they hold. A check that reads
only the kept object (``'verify'``) sees those rows as it sees an absent
referent (the object kept is not the one named): emptying them costs
their J, so that share bounds what such a check can reject within a J&F
budget (docs/presence.md).

With ``SAM2LOVE(name_check=...)`` it also scores each row by the names
check (is what the expression names on screen, ``names_presence``):
``"names"`` (the same figures, its probabilities) and, with
``--names-max-ordinary-loss MN``, ``"names_calibrated"``: its threshold
found as above with no ceiling (test with ``--cfg-options
model.name_check.threshold=TN``); or, with ``--names-separate-absent``,
the threshold that best separates (as ``--separate-silence``, no
ceiling) the ordinary rows from their clips scored with every lent
expression naming nothing the clip shows
(``NullNegativeSampler(match='object')``; the names check's group
``made-absent``), ``{"rule": "separate-absent", ...}``: a check that
scores nearly every ordinary row 1.0 leaves a quantile of them on
noise. ``"combined"`` is then the share of
each group found absent by either check: the head's under its threshold
(the calibrated one, else the config's) or the names check under its own
(the calibrated one, else ``--names-threshold``, else the config's), as
the model decides.

``--out`` writes ``{"tool": "presence_scores", "config", "checkpoint",
"splits", "groups": {name: {"count", "mean", "auc"}}, "thresholds": {t:
{name: share found absent}}, "kept_object": {"count", "mean_iou",
"miss_iou", "missed_share", "missed_j"}}`` (``missed_j`` in points of
frame-0 J of all ordinary rows) and, when calibrating, ``"calibrated":
{"max_ordinary_loss": M, "max_threshold": C, "threshold": T,
"found_absent": {name: share}}`` (with ``--separate-silence``:
``{"rule": "separate-silence", "max_threshold", "threshold",
"separation", "found_absent"}``, ``separation`` the share of made-silent
rows found absent less the ordinary rows').
"""
import argparse
import json
import os.path as osp
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import DictAction
from mmseg.registry import MODELS

import sam2love  # noqa: F401  (registers the components)
from sam2love.apis.checkpoint import load_weights_strict
from sam2love.datasets import read_metadata
from sam2love.datasets.null_negatives import NullNegativeSampler
from sam2love.evaluation.kinds import has_expression_kinds, null_types
from sam2love.models.decode_heads.presence import chosen_mask
from sam2love.models.losses.mask_candidates import mask_iou
from sam2love.utils import load_config
from sam2love.utils.analysis import preprocessed_batches, roc_auc

ORDINARY = 'ordinary'
MADE_SILENT = 'made-silent'
MADE_ABSENT = 'made-absent'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Presence probabilities of null and ordinary rows')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', nargs='+',
                        default=['test_s', 'test_u', 'test_n'])
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--thresholds', type=float, nargs='+',
                        default=[0.1, 0.3, 0.5, 0.7, 0.9])
    parser.add_argument('--max-ordinary-loss', type=float,
                        help='calibrate the threshold: at most this share '
                        'of ordinary rows found absent')
    parser.add_argument('--max-threshold', type=float, default=0.5,
                        help='the calibrated threshold is at most this')
    parser.add_argument('--separate-silence', action='store_true',
                        help='calibrate the threshold that best separates '
                        'the ordinary rows from those asking for a sound '
                        'scored with silence')
    parser.add_argument('--miss-iou', type=float, default=0.3,
                        help='a kept frame-0 object below this IoU with '
                        'the referent misses it')
    parser.add_argument('--names-max-ordinary-loss', type=float,
                        help="calibrate name_check's threshold: at most "
                        'this share of ordinary rows found absent by it')
    parser.add_argument('--names-separate-absent', action='store_true',
                        help="calibrate name_check's threshold that best "
                        'separates the ordinary rows from their clips '
                        'scored with lent expressions naming nothing they '
                        'show')
    parser.add_argument('--names-threshold', type=float,
                        help="name_check's threshold for the combined "
                        "figures (default: the config's)")
    parser.add_argument('--out', help='write the figures as JSON here')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


@torch.no_grad()
def frame0_presence(model, inputs: dict, texts: list) -> tuple:
    """Each row's probability that its referent is in its clip, (B, ),
    and frame 0's kept mask, (B, h, w) logits."""
    head = model.decode_head
    prompt = model.extract_feat(inputs, texts)
    out = head.forward_frame0(prompt, inputs['frames'][:, 0])
    scores = out['object_score_logits'][:, 0]
    mask = chosen_mask(out)
    clip = head.clip_presence(prompt, scores, out['backbone_out'], mask)
    return (scores.float().sigmoid() if clip is None else clip), mask


def head_spared(model, texts: list) -> torch.Tensor | None:
    """(B, ) bool: the rows the head's check does not judge
    (``SAM2LOVE.head_spared``; None: every row)."""
    spare = getattr(model, 'head_spared', None)
    return None if spare is None else spare(texts)


@torch.no_grad()
def names_presence(model, inputs: dict, texts: list) -> torch.Tensor | None:
    """(B, ) the names check's probabilities (None without one)."""
    look = getattr(model, 'names_presence', None)
    return None if look is None else look(inputs, texts)


def names_figures(model, scores: dict, names: dict, figures: dict,
                  args, judged: dict | None = None) -> dict:
    """``names``, ``names_calibrated`` and ``combined`` of ``--out``."""
    out = {}
    threshold = args.names_threshold
    if threshold is None:
        threshold = model.name_check['threshold']
    if args.names_max_ordinary_loss is not None:
        out['names_calibrated'] = calibrate(
            names, args.names_max_ordinary_loss, ceiling=1.0)
        threshold = out['names_calibrated']['threshold']
    if args.names_separate_absent:
        c = dict(rule='separate-absent', **separate(
            names[ORDINARY], names[MADE_ABSENT], ceiling=1.0))
        c['found_absent'] = shares_found(names, c['threshold'])
        out['names_calibrated'] = c
        threshold = c['threshold']
    out['names'] = summarise(names, [threshold])
    head = figures.get('calibrated', {}).get(
        'threshold', (model.decode_head.presence or {}).get('threshold', 0.0))
    out['combined'] = dict(
        threshold=head, names_threshold=threshold,
        found_absent={group: float(np.mean(
            head_finds(scores, judged, group, head)
            | (np.asarray(names[group]) < threshold))) for group in scores})
    return out


def head_finds(scores: dict, judged: dict | None, group: str,
               threshold: float) -> np.ndarray:
    """(n,) bool: the rows of ``group`` the head's check finds absent,
    under ``threshold`` and among those it judges (``judged``: group ->
    bools, ``SAM2LOVE.head_spared``'s complement; None: every row)."""
    under = np.asarray(scores[group]) < threshold
    return under if judged is None else under & np.asarray(
        judged[group], dtype=bool)


def shares_found(scores: dict, threshold: float,
                 judged: dict | None = None) -> dict:
    """group -> share of its rows the head's check finds absent."""
    return {name: float(np.mean(head_finds(scores, judged, name, threshold)))
            for name in scores}


def made_silent(model, inputs: dict, samples, texts: list, asks_for_sound,
                found, scores: dict, names: dict, judged: dict) -> None:
    """Score the batch's ordinary rows that ask for a sound again with
    silence in place of their audio, into the ``made-silent`` groups
    (``found``: the batch's names check, which does not hear)."""
    asks = torch.tensor([bool(asks_for_sound(t)) and bool(
        s.gt_eval_masks.data.any()) for s, t in zip(samples, texts)])
    if not asks.any():
        return
    silent = dict(inputs, silent_audio=asks.to(inputs['frames'].device))
    presence, _ = frame0_presence(model, silent, texts)
    scores[MADE_SILENT] += presence[asks.to(presence.device)].tolist()
    judged[MADE_SILENT] += [True] * int(asks.sum())  # each asks for a sound
    if found is not None:
        names[MADE_SILENT] += found[asks.to(found.device)].tolist()


def made_absent(model, inputs: dict, samples, lender, done: set,
                names: dict) -> None:
    """Score each new clip of the batch's ordinary rows with every lent
    expression naming nothing it shows (``lender``:
    ``NullNegativeSampler(match='object')``), into the names check's
    ``made-absent`` group."""
    for i, sample in enumerate(samples):
        clip = sample.metainfo['clip_name']
        if clip in done or not sample.gt_eval_masks.data.any():
            continue
        done.add(clip)
        texts = sorted({d.text for d in lender.absent_expressions(clip)})
        if texts:
            one = {k: v[i:i + 1] for k, v in inputs.items()}
            names[MADE_ABSENT] += names_presence(model, one, texts).tolist()


def clip_presence(model, inputs: dict, texts: list) -> torch.Tensor:
    """(B, ) probability that each row's referent is in its clip."""
    return frame0_presence(model, inputs, texts)[0]


def kept_iou(mask_logits: torch.Tensor, referent: torch.Tensor) -> float:
    """IoU of a kept frame-0 mask, (h, w) logits, with the referent's
    frame-0 mask, (H, W) bool with an object (resized as the predictions
    are)."""
    kept = F.interpolate(mask_logits[None, None].float(),
                         size=referent.shape[-2:], mode='bilinear',
                         align_corners=False)[0] > 0
    return float(mask_iou(kept, referent.bool()[None])[0])


def kept_object_figures(ious, miss_iou: float) -> dict:
    """``kept_object`` of ``--out`` from the ordinary rows' kept IoUs."""
    ious = np.asarray(ious, dtype=float)
    missed = ious < miss_iou
    return dict(count=len(ious), mean_iou=float(ious.mean()),
                miss_iou=miss_iou, missed_share=float(missed.mean()),
                missed_j=float(100 * ious[missed].sum() / len(ious)))


def summarise(scores: dict, thresholds, judged: dict | None = None) -> dict:
    """The figures of ``--out`` from group -> probabilities (the shares
    found absent among the rows ``judged``, :func:`head_finds`)."""
    ordinary = scores.get(ORDINARY, [])
    groups = {}
    for name, values in scores.items():
        groups[name] = dict(count=len(values), mean=float(np.mean(values)))
        if name != ORDINARY and ordinary:
            groups[name]['auc'] = roc_auc(ordinary, values)
    shares = {str(t): shares_found(scores, t, judged) for t in thresholds}
    return dict(groups=groups, thresholds=shares)


def calibrate(scores: dict, max_share: float, ceiling: float = 0.5,
              judged: dict | None = None) -> dict:
    """The largest threshold up to ``ceiling`` finding at most
    ``max_share`` of the ordinary rows absent (a row is absent when its
    probability is below the threshold; only the rows ``judged`` count),
    and the share of each group it finds absent."""
    if not 0 <= max_share < 1:
        raise ValueError(f'max ordinary loss must be in [0, 1), got {max_share}')
    ordinary = np.asarray(scores.get(ORDINARY, []))
    if judged is not None and len(ordinary):
        ordinary = ordinary[np.asarray(judged[ORDINARY], dtype=bool)]
    ordinary = np.sort(ordinary)
    if not len(ordinary):
        raise ValueError('no ordinary rows to calibrate the threshold on')
    threshold = min(float(ordinary[int(max_share * len(ordinary))]), ceiling)
    threshold = min(max(threshold, 1e-6), 1 - 1e-6)  # presence's (0, 1)
    return dict(max_ordinary_loss=max_share, max_threshold=ceiling,
                threshold=threshold,
                found_absent=shares_found(scores, threshold, judged))


def separate(ordinary, null, ceiling: float = 0.5) -> dict:
    """The threshold that best separates ``null`` probabilities (found
    absent under it) from ``ordinary`` ones: the largest share of null
    rows under it less the share of ordinary rows; then, among the
    thresholds that find the same ordinary rows and at most one ordinary
    row's share fewer null rows (a difference val cannot resolve), the
    widest gap in log probability, at the geometric mean of the two
    probabilities around it; at most ``ceiling``. (Without the second
    step one null row among hundreds can squeeze the threshold against
    the lowest ordinary row, where test's ordinary rows fall under it.)"""
    ordinary = np.asarray(ordinary, dtype=float)
    null = np.asarray(null, dtype=float)
    if not len(ordinary) or not len(null):
        raise ValueError('separating needs ordinary and null rows, got '
                         f'{len(ordinary)} and {len(null)}')
    values = np.unique(np.clip(np.concatenate([ordinary, null]), 1e-12, 1))
    gaps = [(float(np.mean(null <= low)), float(np.mean(ordinary <= low)),
             float(np.log(high / low)), float(np.sqrt(low * high)))
            for low, high in zip(values[:-1], values[1:])]
    threshold = float(values[0]) / 2  # finds none
    if gaps:
        best = max(gaps, key=lambda g: (g[0] - g[1], g[2]))
        if best[0] - best[1] > 0:
            near = [g for g in gaps if g[1] == best[1]
                    and g[0] >= best[0] - 1 / len(ordinary) - 1e-12]
            threshold = max(near, key=lambda g: g[2])[3]
    threshold = min(max(threshold, 1e-6), ceiling, 1 - 1e-6)
    return dict(max_threshold=ceiling, threshold=threshold,
                separation=float(np.mean(null < threshold)
                                 - np.mean(ordinary < threshold)))


def format_table(figures: dict) -> str:
    names = list(figures['groups'])
    lines = ['group            rows   mean p    AUC']
    for name in names:
        g = figures['groups'][name]
        auc = f"{g['auc']:.3f}" if 'auc' in g else '-'
        lines.append(f"{name:16s} {g['count']:5d}   {g['mean']:.3f}   {auc:>5s}")
    lines.append('found absent at threshold t (share of rows): '
                 + ', '.join(names))
    for t, shares in figures['thresholds'].items():
        lines.append(f'  t={t}: ' + '  '.join(f'{shares[n]:.2f}'
                                              for n in names))
    if 'kept_object' in figures:
        k = figures['kept_object']
        lines.append(
            f"frame 0's kept object on the ordinary rows: mean IoU "
            f"{k['mean_iou']:.3f} with the referent; {k['missed_share']:.0%} "
            f"miss it (IoU < {k['miss_iou']:g}), holding {k['missed_j']:.1f} "
            'points of frame-0 J')
    if 'calibrated' in figures:
        c = figures['calibrated']
        rule = (f"at most {c['max_ordinary_loss']:.0%} of ordinary rows "
                'absent' if 'max_ordinary_loss' in c else
                'the best separation of ordinary and made-silent rows: '
                f"{c['separation']:.2f}")
        lines.append(f"calibrated threshold {c['threshold']:.4g} ({rule}): "
                     + '  '.join(f'{c["found_absent"][n]:.2f}' for n in names))
    if 'names' in figures:
        lines.append('names check (is what the expression names on screen):')
        lines.append(format_table(figures['names']))
        if 'names_calibrated' in figures:
            c = figures['names_calibrated']
            rule = (f"at most {c['max_ordinary_loss']:.0%} of ordinary "
                    'rows absent' if 'max_ordinary_loss' in c else
                    'the best separation of ordinary and made-absent rows: '
                    f"{c['separation']:.2f}")
            lines.append(f"names check's calibrated threshold "
                         f"{c['threshold']:.4g} ({rule})")
        c = figures['combined']
        lines.append(
            f"either check (presence < {c['threshold']:.4g} or names < "
            f"{c['names_threshold']:.4g}), found absent: "
            + '  '.join(f'{c["found_absent"][n]:.2f}' for n in names))
    return '\n'.join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = MODELS.build(cfg.model)
    load_weights_strict(model, args.checkpoint, args.config)
    model.to(args.device).eval()
    dataset_cfg = cfg.test_dataloader.dataset
    root = dataset_cfg.data_root
    types = null_types(root) if has_expression_kinds(root) else {}
    if args.separate_silence or args.names_separate_absent:
        rows = read_metadata(osp.join(root, dataset_cfg.get(
            'ann_file', 'metadata.csv')))
    if args.separate_silence:
        if args.max_ordinary_loss is not None:
            raise SystemExit('presence_scores: --separate-silence and '
                             '--max-ordinary-loss are two rules; give one')
        asks_for_sound = NullNegativeSampler(rows, []).asks_for_sound
    if args.names_separate_absent:
        if args.names_max_ordinary_loss is not None:
            raise SystemExit('presence_scores: --names-separate-absent and '
                             '--names-max-ordinary-loss are two rules; '
                             'give one')
        if getattr(model, 'name_check', None) is None:
            raise SystemExit('presence_scores: --names-separate-absent '
                             'needs a model with a name_check')
        lender = NullNegativeSampler(rows, [
            r for r in rows if r.split in args.split and not r.is_null],
            'object')
        lent_to = set()
    scores = defaultdict(list)
    judged = defaultdict(list)
    names = defaultdict(list)
    ious = []
    for split in args.split:
        for inputs, samples, texts in preprocessed_batches(
                model, dataset_cfg, split, args.batch_size):
            inputs = {k: v.to(args.device) for k, v in inputs.items()}
            presence, masks = frame0_presence(model, inputs, texts)
            found = names_presence(model, inputs, texts)
            spared = head_spared(model, texts)
            for i, (sample, p, mask) in enumerate(zip(samples, presence,
                                                      masks)):
                referent = sample.gt_eval_masks.data
                if referent.any():
                    group = ORDINARY
                    ious.append(kept_iou(mask.cpu(), referent[0]))
                else:
                    group = types.get(sample.metainfo['uid'], 'null')
                scores[group].append(float(p))
                judged[group].append(spared is None or not bool(spared[i]))
                if found is not None:
                    names[group].append(float(found[i]))
            if args.separate_silence:
                made_silent(model, inputs, samples, texts, asks_for_sound,
                            found, scores, names, judged)
            if args.names_separate_absent:
                made_absent(model, inputs, samples, lender, lent_to, names)
    figures = dict(tool='presence_scores', config=args.config,
                   checkpoint=args.checkpoint, splits=args.split,
                   **summarise(scores, args.thresholds, judged))
    if ious:
        figures['kept_object'] = kept_object_figures(ious, args.miss_iou)
    if args.max_ordinary_loss is not None:
        figures['calibrated'] = calibrate(scores, args.max_ordinary_loss,
                                          args.max_threshold, judged)
    if args.separate_silence:
        ordinary = np.asarray(scores[ORDINARY])[np.asarray(
            judged[ORDINARY], dtype=bool)]
        c = dict(rule='separate-silence', **separate(
            ordinary, scores[MADE_SILENT], args.max_threshold))
        c['found_absent'] = shares_found(scores, c['threshold'], judged)
        figures['calibrated'] = c
    if names:
        figures.update(names_figures(model, scores, names, figures, args,
                                     judged))
    print(format_table(figures))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(figures, f, indent=2)
        print(f'figures written to {args.out}')
    return figures


if __name__ == '__main__':
    main()
