"""Can a check see on screen the seconds in which the sound is heard?
(audio-visual synchrony, learnt from the sound alone)

    python tools/analysis_tools/sync_probe.py CONFIG CHECKPOINT
        [--fit-split train] [--split val test_s test_u test_n]
        [--steps 600] [--loud-floor 0.01] [--loud-rel 0.1] [--seed 0]
        [--out FILE.json]

The presence checks cannot tell a mismatched sound (what is heard is made
by nothing on screen: the release's ``null_c-`` clips, test_n's
mismatched-audio rows) from an ordinary one: naming which object makes
which sound is learnt from the pairs train shows and does not carry over
to test_u's unseen pairs (docs/presence.md). Synchrony asks less: is
something on screen *active* in the seconds the sound is loud? It needs
no category and no annotation. This tool fits ``sound_check``'s network
(:class:`~sam2love.models.decode_heads.sound_on_screen.SoundOnScreen`,
its defaults but the loudness rule) offline, as stage 4 trains it:
``--steps`` batches of 8 of ``--fit-split``'s clips, each frame's target
the loudness of its clip's own sound in that second, loud and quiet
seconds weighing half each. A
clip (its frames with its sound) scores its sync: the largest activity
over its loud seconds, 0 where none is loud.

For the rows that ask for a sound (``null_negatives.SOUND_WORDS``), the
ROC AUC of each split's ordinary rows against every null group's
(test_n's mismatched-audio and silent-scene rows; ordinary above), the
share of them found at the threshold that finds 1 / 2 / 5 % of the
ordinary rows, and under 0.5 (``sound_check``'s threshold); per split,
the frame AUC of loud against quiet seconds. Null types come from the
synthetic set's ``synthetic_info.json`` (other data: one group ``null``).
The CONFIG / CHECKPOINT give the data and its preprocessing.

``--out`` writes ``{"tool": "sync_probe", "config", "checkpoint",
"frames": {split: auc}, "sync": {split: {"ordinary_rows",
"ordinary_under_05", <null group>: {"rows", "auc", "found_absent",
"under_05"}}}}``.
"""
import argparse
import json
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import DictAction
from mmseg.registry import MODELS

import sam2love  # noqa: F401  (registers the components)
from sam2love.apis.checkpoint import load_weights_strict
from sam2love.datasets.metadata import clip_name
from sam2love.datasets.null_negatives import asks_for_sound
from sam2love.evaluation.kinds import null_types
from sam2love.models.decode_heads.sound_on_screen import (
    SoundOnScreen,
    balanced_bce,
    sync_scores,
)
from sam2love.utils import load_config
from sam2love.utils.analysis import (
    found_absent,
    preprocessed_batches,
    roc_auc,
)

#: clips per step, as stage 4's batches
CLIPS_PER_STEP = 8


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--fit-split', default='train')
    parser.add_argument('--split', nargs='+',
                        default=['val', 'test_s', 'test_u', 'test_n'])
    parser.add_argument('--loud-floor', type=float, default=0.01)
    parser.add_argument('--loud-rel', type=float, default=0.1)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--steps', type=int, default=600)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the figures as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


@torch.no_grad()
def collect(model, check: SoundOnScreen, dataset_cfg, split: str,
            batch_size: int, types: dict) -> tuple[list, dict]:
    """Rows of ``split`` (``uid``, ``clip``, ``split``, ``group``:
    ordinary or the null type, ``sound``: whether the text asks for a
    sound) and each clip's ``x``, its (T, 3, s, s) frames pooled as the
    check pools them (half precision, to hold every clip), and ``loud``,
    its (T,) loud seconds."""
    rows, clips = [], {}
    for inputs, samples, _ in preprocessed_batches(
            model, dataset_cfg, split, batch_size):
        loud = check.loud(inputs['audio'], inputs['frames'].size(1))
        for frames, clip_loud, sample in zip(inputs['frames'], loud,
                                             samples):
            clip = clip_name(sample.uid)
            if clip not in clips:
                clips[clip] = dict(x=F.adaptive_avg_pool2d(
                    frames.float(), check.size).half(), loud=clip_loud)
            present = bool(sample.gt_eval_masks.data.any())
            rows.append(dict(uid=sample.uid, clip=clip, split=split,
                             group='ordinary' if present
                             else types.get(sample.uid, 'null'),
                             sound=asks_for_sound(sample.text)))
    return rows, clips


def fit_activity(check: SoundOnScreen, clips: list, steps: int,
                 clips_per_step: int = CLIPS_PER_STEP) -> SoundOnScreen:
    """``check`` fitted on the clips' frames (Adam, 1e-3, as stage 4) to
    say whether their own sound is loud in that second."""
    x = torch.stack([c['x'] for c in clips])  # (N, T, 3, s, s)
    y = torch.stack([c['loud'] for c in clips]).float()  # (N, T)
    if not 0 < y.mean() < 1:
        raise ValueError('sync_probe: the fit split needs loud and quiet '
                         f'seconds; {int(y.sum())} of {y.numel()} are loud')
    optim = torch.optim.Adam(check.parameters(), 1e-3)
    check.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (clips_per_step, ))
        loss = balanced_bce(check.activity(x[idx].float()), y[idx])
        optim.zero_grad()
        loss.backward()
        optim.step()
    return check.eval()


def under(scores, threshold: float = 0.5) -> float:
    """Share of ``scores`` under ``sound_check``'s threshold."""
    return float(np.mean(np.asarray(scores) < threshold))


def sync_figures(rows: list, scores: dict, splits: list) -> dict:
    """Per split: its ordinary sound-asking rows against every null
    group's sound-asking rows (any split)."""
    groups = {}
    for r in rows:
        if r['sound']:
            key = r['split'] if r['group'] == 'ordinary' else r['group']
            groups.setdefault(key, []).append(scores[r['clip']])
    nulls = sorted(set(groups) - set(splits))
    out = {}
    for split in splits:
        ordinary = groups.get(split, [])
        if not ordinary:
            continue
        out[split] = dict(ordinary_rows=len(ordinary),
                          ordinary_under_05=under(ordinary))
        for group in nulls:
            out[split][group] = dict(
                rows=len(groups[group]),
                auc=roc_auc(ordinary, groups[group]),
                found_absent=found_absent(ordinary, groups[group]),
                under_05=under(groups[group]))
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    cfg = load_config(args.config, args.cfg_options)
    root = cfg.test_dataloader.dataset.data_root
    types = null_types(root) \
        if osp.exists(osp.join(root, 'synthetic_info.json')) else {}
    model = MODELS.build(cfg.model)
    load_weights_strict(model, args.checkpoint, args.config)
    model.eval()
    check = SoundOnScreen(loud_floor=args.loud_floor, loud_rel=args.loud_rel)
    data = cfg.test_dataloader.dataset
    _, fit_clips = collect(model, check, data, args.fit_split,
                           args.batch_size, types)
    rows, clips = [], {}
    for split in args.split:
        split_rows, split_clips = collect(model, check, data, split,
                                          args.batch_size, types)
        rows += split_rows
        clips.update(split_clips)
    fit_activity(check, list(fit_clips.values()), args.steps)
    with torch.no_grad():
        activity = {name: check.activity(c['x'][None].float())[0].sigmoid()
                    for name, c in clips.items()}
    frames = {}
    for split in args.split:
        names = sorted({r['clip'] for r in rows if r['split'] == split})
        act = torch.cat([activity[n] for n in names])
        loud = torch.cat([clips[n]['loud'] for n in names])
        frames[split] = roc_auc(act[loud].numpy(), act[~loud].numpy())
    scores = {n: float(sync_scores(activity[n][None], c['loud'][None]))
              for n, c in clips.items()}
    sync = sync_figures(rows, scores, args.split)
    figures = dict(tool='sync_probe', config=args.config,
                   checkpoint=args.checkpoint, frames=frames, sync=sync)
    print(f'frames, loud against quiet seconds: {frames}')
    for split, groups in sync.items():
        parts = [f"{g} AUC {v['auc']:.3f}, found at 2 % "
                 f"{v['found_absent']['0.02']:.2f}, under 0.5 "
                 f"{v['under_05']:.2f}"
                 for g, v in groups.items() if isinstance(v, dict)]
        print(f"sync, {split} ({groups['ordinary_rows']} sound rows, "
              f"{groups['ordinary_under_05']:.2f} under 0.5): "
              f"{'; '.join(parts)}")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(figures, f, indent=1)
    return figures


if __name__ == '__main__':
    main()
