"""Can a check see on screen the seconds in which the sound is heard?
(audio-visual synchrony, learnt from the sound alone)

    python tools/analysis_tools/sync_probe.py CONFIG CHECKPOINT
        [--fit-split train] [--split val test_s test_u test_n]
        [--input rgb|sam2] [--epochs 8] [--seed 0] [--out FILE.json]

The presence checks cannot tell a mismatched sound (what is heard is made
by nothing on screen: the release's ``null_c-`` clips, test_n's
mismatched-audio rows) from an ordinary one: naming which object makes
which sound is learnt from the pairs train shows and does not carry over
to test_u's unseen pairs (docs/presence.md). Synchrony asks less: is
something on screen *active* in the seconds the sound is loud? It needs
no category and no annotation:

- **Loud seconds**: the RMS of the clip's waveform in each of its T
  seconds; a second is loud above ``--loud-floor`` and above
  ``--loud-rel`` times the clip's loudest.
- **Activity**: a small CNN on each frame (``rgb``: the frame as SAM2
  reads it, pooled to 64 x 64; ``sam2``: SAM2's stride-4 features, unit
  norm), its largest response over the frame, fitted on ``--fit-split``'s
  frames to say whether their own clip's sound is loud in that second
  (the sound labels the frames; an active object is on screen only in
  some of them).
- **Sync**: a clip (its frames with its sound) scores the largest
  activity over its loud seconds (``max``; ``mean``: their mean); 0
  where no second is loud.

For the rows that ask for a sound (``null_negatives.SOUND_WORDS``), the
ROC AUC of each split's ordinary rows against test_n's mismatched-audio
and silent-scene rows (ordinary above), and the share of them found at
the threshold that finds 1 / 2 / 5 % of the ordinary rows; per split,
the frame AUC of loud against quiet seconds. Null types come from the
synthetic set's ``synthetic_info.json`` (other data: one group ``null``).

``--out`` writes ``{"tool": "sync_probe", "config", "checkpoint",
"input", "frames": {split: auc}, "sync": {"max" | "mean": {split:
{"ordinary_rows", <null group>: {"rows", "auc", "found_absent"}}}}}``.
"""
import argparse
import json
import os.path as osp

import torch
import torch.nn.functional as F
from mmengine.config import DictAction
from mmseg.registry import MODELS
from torch import nn

import sam2love  # noqa: F401  (registers the components)
from sam2love.apis.checkpoint import load_weights_strict
from sam2love.datasets.metadata import clip_name
from sam2love.evaluation.kinds import null_types
from sam2love.models.sam2.features import encode_frames
from sam2love.utils import load_config
from sam2love.utils.analysis import (
    asks_for_sound,
    found_absent,
    preprocessed_batches,
    roc_auc,
)

#: side of the frames the ``rgb`` input pools to
RGB_SIZE = 64
SCORINGS = ('max', 'mean')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--fit-split', default='train')
    parser.add_argument('--split', nargs='+',
                        default=['val', 'test_s', 'test_u', 'test_n'])
    parser.add_argument('--input', choices=('rgb', 'sam2'), default='rgb')
    parser.add_argument('--loud-floor', type=float, default=0.01)
    parser.add_argument('--loud-rel', type=float, default=0.1)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the figures as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def loud_seconds(audio: torch.Tensor, seconds: int, floor: float,
                 rel: float) -> torch.Tensor:
    """(L,) waveform -> (seconds,) bool: the seconds whose RMS is above
    ``floor`` and above ``rel`` times the loudest second's."""
    rms = torch.stack([part.float().pow(2).mean().sqrt() for part in
                       torch.tensor_split(audio, seconds)])
    return (rms > floor) & (rms > rel * rms.max())



class Activity(nn.Module):
    """(N, C, h, w) frames -> (N,) logits: is something active on screen
    (the largest response of a small CNN over the frame)."""

    def __init__(self, channels: int, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1).amax(1)


@torch.no_grad()
def frame_inputs(model, frames: torch.Tensor, kind: str) -> torch.Tensor:
    """(T, 3, H, W) normalised frames -> (T, C, h, w) the activity net's
    input (half precision, to hold every clip)."""
    head = model.decode_head
    fitted = head.fit_frames(frames)
    if kind == 'rgb':
        return F.adaptive_avg_pool2d(fitted.float(), RGB_SIZE).half()
    level = encode_frames(head.sam, fitted)['backbone_fpn'][0]
    return F.normalize(level.float(), dim=1).half()


@torch.no_grad()
def collect(model, dataset_cfg, split: str, args, types: dict
            ) -> tuple[list, dict]:
    """Rows of ``split`` (``uid``, ``clip``, ``split``, ``group``:
    ordinary or the null type, ``sound``: whether the text asks for a
    sound) and each clip's ``x`` (:func:`frame_inputs`) and ``loud``
    (:func:`loud_seconds`)."""
    rows, clips = [], {}
    for inputs, samples, _ in preprocessed_batches(
            model, dataset_cfg, split, args.batch_size):
        for frames, audio, sample in zip(inputs['frames'], inputs['audio'],
                                         samples):
            clip = clip_name(sample.uid)
            if clip not in clips:
                clips[clip] = dict(
                    x=frame_inputs(model, frames, args.input),
                    loud=loud_seconds(audio, len(frames), args.loud_floor,
                                      args.loud_rel))
            present = bool(sample.gt_eval_masks.data.any())
            rows.append(dict(uid=sample.uid, clip=clip, split=split,
                             group='ordinary' if present
                             else types.get(sample.uid, 'null'),
                             sound=asks_for_sound(sample.text)))
    return rows, clips


def fit_activity(clips: list, epochs: int, batch_size: int = 64
                 ) -> Activity:
    """An :class:`Activity` fitted on the clips' frames to say whether
    their own sound is loud in that second (mirrored at random)."""
    x = torch.cat([c['x'] for c in clips])
    y = torch.cat([c['loud'] for c in clips]).float()
    if not 0 < y.mean() < 1:
        raise ValueError('sync_probe: the fit split needs loud and quiet '
                         f'seconds; {int(y.sum())} of {len(y)} are loud')
    net = Activity(x.size(1))
    optim = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            batch = x[idx].float()
            if torch.rand(()) < 0.5:
                batch = batch.flip(3)
            loss = F.binary_cross_entropy_with_logits(net(batch), y[idx])
            optim.zero_grad()
            loss.backward()
            optim.step()
    return net.eval()


def sync_score(activity: torch.Tensor, loud: torch.Tensor, how: str
               ) -> float:
    """(T,) activity probabilities and (T,) loud seconds -> the clip's
    sync: the largest (``max``) or mean (``mean``) activity over its loud
    seconds, 0 where none is loud."""
    if not loud.any():
        return 0.0
    on = activity[loud]
    return float(on.amax() if how == 'max' else on.mean())



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
        out[split] = dict(ordinary_rows=len(ordinary))
        for group in nulls:
            out[split][group] = dict(
                rows=len(groups[group]),
                auc=roc_auc(ordinary, groups[group]),
                found_absent=found_absent(ordinary, groups[group]))
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
    data = cfg.test_dataloader.dataset
    _, fit_clips = collect(model, data, args.fit_split, args, types)
    rows, clips = [], {}
    for split in args.split:
        split_rows, split_clips = collect(model, data, split, args, types)
        rows += split_rows
        clips.update(split_clips)
    net = fit_activity(list(fit_clips.values()), args.epochs)
    with torch.no_grad():
        activity = {name: net(c['x'].float()).sigmoid()
                    for name, c in clips.items()}
    frames = {}
    for split in args.split:
        names = {r['clip'] for r in rows if r['split'] == split}
        act = torch.cat([activity[n] for n in sorted(names)])
        loud = torch.cat([clips[n]['loud'] for n in sorted(names)])
        frames[split] = roc_auc(act[loud].numpy(), act[~loud].numpy())
    sync = {how: sync_figures(rows, {n: sync_score(activity[n],
                                                   c['loud'], how)
                                     for n, c in clips.items()},
                              args.split)
            for how in SCORINGS}
    figures = dict(tool='sync_probe', config=args.config,
                   checkpoint=args.checkpoint, input=args.input,
                   frames=frames, sync=sync)
    print(f'frames, loud against quiet seconds: {frames}')
    for how, per_split in sync.items():
        for split, groups in per_split.items():
            parts = [f"{g} AUC {v['auc']:.3f}, found at 2 % "
                     f"{v['found_absent']['0.02']:.2f}"
                     for g, v in groups.items() if g != 'ordinary_rows']
            print(f"sync {how}, {split} ({groups['ordinary_rows']} "
                  f"sound rows): {'; '.join(parts)}")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(figures, f, indent=1)
    return figures


if __name__ == '__main__':
    main()
