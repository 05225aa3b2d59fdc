"""Can frame 0's objects be listed and named well enough to tell that an
expression's referent is absent? (synthetic data)

    python tools/analysis_tools/scene_probe.py CONFIG CHECKPOINT
        [--fit-split train] [--split test_s test_u test_n]
        [--epochs 40] [--seed 0] [--out FILE.json] [--cfg-options ...]

The ``'verify'`` presence check reads the one object SAM2 keeps on frame
0; on an ordinary row whose kept object misses the referent it sees what
it sees on an absent referent (``presence_scores.py``'s ``kept_object``).
A check of the whole frame asks instead: is any object on screen what the
expression names? This tool measures the three steps of that question on
a trained SAM2-LOVE, frozen:

- **Listing**: every stride-16 cell of frame 0, its unit feature at the
  token's norm, prompts the decoder alone (the form the demo's decoder is
  taught to read: ``loss_align``'s teacher, ``token_pointer``); each
  decoded object with a positive object score and more than 2 cells of
  the mask is listed. *Recall*: the share of the ordinary rows whose
  referent a listed object covers at IoU >= 0.3 / 0.5.
- **Naming**: a colour from the unit mean of SAM2's features under the
  object (linear), a shape from the object's silhouette cropped to its
  box (a small CNN: the features hardly tell shapes,
  ``prototype_probe.py``), fitted on ``--fit-split``'s referents (their
  ground-truth masks, and the listed objects that cover them at IoU >=
  0.5; the uid's category); *accuracy* on the scored rows' ground-truth
  masks.
- **Matching**: a row that names a colour or a shape (words of the
  category names) scores the largest product, over the listed objects,
  of the probabilities of its named words. The ROC AUC of the ordinary
  rows against the absent-referent ones, and the share of those found
  absent at the threshold that finds 1 / 2 / 5 % of the ordinary rows
  absent.
- **Hearing**: for an expression that asks for a sound (a word of
  ``SOUND_WORDS``, none of ``SILENCE_WORDS``), is any listed object what
  the clip's sound is made by? An MLP on the clip's sound (the mean and
  the maximum over its seconds of the audio encoder's features,
  standardised) and an object's named colour and shape probabilities
  gives the probability that the object's category is heard; it is
  fitted on ``--fit-split``'s referents (ground-truth masks) with their
  own clip's sound and with two other clips' (``synthetic_info.json``
  says what is heard). A row scores the largest over the listed objects:
  the ROC AUCs of the ordinary rows asking for a sound against the
  mismatched-audio and the silent-scene ones.

It needs the synthetic set's categories (``synthetic_info.json``).
``--out`` writes ``{"tool": "scene_probe", "config", "checkpoint",
"objects_per_clip", "recall": {"0.3", "0.5"}, "naming": {"colour",
"shape"}, "absent_referent": {"rows", "ordinary_rows", "auc",
"found_absent": {"0.01", "0.02", "0.05"}}, "sound": {"ordinary_rows",
"mismatched-audio" | "silent-scene": {"rows", "auc", "found_absent"}}}``.
"""
import argparse
import json
import os.path as osp
import re

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import DictAction
from mmseg.registry import MODELS
from torch import nn

import sam2love  # noqa: F401  (registers the components)
from sam2love.apis.checkpoint import load_weights_strict
from sam2love.datasets.metadata import clip_name
from sam2love.datasets.null_negatives import asks_for_sound
from sam2love.evaluation.kinds import null_types
from sam2love.models.decode_heads.scene_presence import (
    box_crops,
    list_frame0_objects,
    region_features,
)
from sam2love.models.losses.mask_candidates import mask_iou
from sam2love.models.sam2.features import encode_frames
from sam2love.utils import load_config
from sam2love.utils.analysis import (
    found_absent,
    preprocessed_batches,
    roc_auc,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--fit-split', default='train')
    parser.add_argument('--split', nargs='+',
                        default=['test_s', 'test_u', 'test_n'])
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--epochs', type=int, default=40)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the figures as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


@torch.no_grad()
def list_objects(model, frame0: torch.Tensor) -> dict:
    """Every object the decoder gives from frame 0's cells
    (:func:`~sam2love.models.decode_heads.scene_presence.
    list_frame0_objects`).

    Args:
        frame0 (Tensor): (3, H, W) a normalised frame.

    Returns:
        dict: ``masks`` (N, h, w) probabilities of the listed objects,
        ``cells`` (C, h', w') frame 0's stride-16 features.
    """
    head = model.decode_head
    backbone_out = encode_frames(head.sam, head.fit_frames(frame0[None]))
    objects = list_frame0_objects(head, backbone_out)
    return dict(masks=objects['masks'][0][objects['listed'][0]],
                cells=backbone_out['vision_features'][0].float())


@torch.no_grad()
def collect(model, dataset_cfg, split: str, batch_size: int,
            types: dict) -> tuple[list, dict]:
    """Rows of ``split`` (``uid``, ``text``, ``clip``, ``group``: ordinary
    or the null type; ``referent``: frame 0's (h, w) bool mask at the
    decoder's size, ordinary rows) and each clip's listed objects (and
    ``sound``: (2 Da, ) the mean and the maximum of its audio features
    over the seconds)."""
    rows, scenes = [], {}
    for inputs, samples, texts in preprocessed_batches(
            model, dataset_cfg, split, batch_size):
        audio = model.backbone(inputs, texts)['audio'].float()  # (B, N, Da)
        sounds = torch.cat([audio.mean(1), audio.amax(1)], -1)
        for frames, sound, sample in zip(inputs['frames'], sounds, samples):
            clip = clip_name(sample.uid)
            if clip not in scenes:
                scenes[clip] = dict(list_objects(model, frames[0]),
                                    sound=sound)
            masks = scenes[clip]['masks']
            gt = sample.gt_eval_masks.data[0]
            row = dict(uid=sample.uid, text=sample.text, clip=clip)
            if gt.any():
                row['referent'] = F.interpolate(  # (0, h, w) if none listed
                    gt[None, None].float(), size=masks.shape[-2:],
                    mode='area')[0, 0] >= 0.5
                row['group'] = 'ordinary'
            else:
                row['group'] = types.get(sample.uid, 'null')
            rows.append(row)
    return rows, scenes


class Namer(nn.Module):
    """Colour from the features under an object (linear), shape from its
    cropped silhouette (small CNN): (N, C), (N, 1, 32, 32) -> logits."""

    def __init__(self, channels: int, colours: int, shapes: int) -> None:
        super().__init__()
        self.colour = nn.Linear(channels, colours)
        self.shape = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, shapes))

    def forward(self, region: torch.Tensor, crops: torch.Tensor) -> tuple:
        return self.colour(region) / 0.1, self.shape(crops)


def training_objects(rows: list, scenes: dict) -> tuple[list, list]:
    """The masks to name each referent from, as ``(mask, clip)`` pairs,
    and their categories: its ground truth, and the listed object
    covering it at IoU >= 0.5."""
    masks, labels = [], []
    for row in rows:
        if row['group'] != 'ordinary':
            continue
        category = row['uid'].rsplit('_', 2)[1]
        candidates = [row['referent'].float()]
        listed = scenes[row['clip']]['masks']
        if len(listed):
            iou = mask_iou(listed > 0.5, row['referent'])
            if iou.max() >= 0.5:
                candidates.append(listed[iou.argmax()])
        for mask in candidates:
            masks.append((mask, row['clip']))
            labels.append(category)
    return masks, labels


def fit_namer(masks: list, labels: list, scenes: dict, parts: dict,
              colours: list, shapes: list, epochs: int) -> Namer:
    probs = torch.stack([m for m, _ in masks])
    cells = torch.stack([scenes[c]['cells'] for _, c in masks])
    region = region_features(probs[:, None], cells)[:, 0]
    crops = box_crops(probs)
    colour = torch.tensor([colours.index(parts[c][0]) for c in labels])
    shape = torch.tensor([shapes.index(parts[c][1]) for c in labels])
    namer = Namer(region.size(1), len(colours), len(shapes))
    opt = torch.optim.AdamW(namer.parameters(), 2e-3, weight_decay=1e-2)
    for _ in range(epochs):
        order = torch.randperm(len(labels))
        for start in range(0, len(order), 32):
            i = order[start:start + 32]
            # a shape is a shape at any quarter turn and mirrored
            c = torch.rot90(crops[i], int(torch.randint(4, ())), (2, 3))
            if torch.rand(()) < 0.5:
                c = c.flip(3)
            colour_logits, shape_logits = namer(region[i], c)
            loss = F.cross_entropy(colour_logits, colour[i]) + \
                F.cross_entropy(shape_logits, shape[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return namer.eval()


def named_words(text: str, colours: list, shapes: list) -> tuple:
    words = re.findall('[a-z]+', text.lower())
    return ([colours.index(w) for w in words if w in colours],
            [shapes.index(w) for w in words if w in shapes])


def scene_score(names: torch.Tensor, colour_ids, shape_ids,
                num_colours: int) -> float:
    """max over a clip's listed objects, (N, colours + shapes) named
    probabilities (:func:`object_names`), of the product of the named
    words' probabilities (0 when nothing is listed)."""
    if not len(names):
        return 0.0
    colour, shape = names[:, :num_colours], names[:, num_colours:]
    return float((colour[:, colour_ids].prod(1)
                  * shape[:, shape_ids].prod(1)).max())


def heard_categories(clip: dict) -> set:
    """The categories a clip of ``synthetic_info.json`` is heard making
    (its ``heard`` sources when its sound is not its scene's)."""
    if clip.get('heard'):
        return set(clip['heard'])
    return {c for c, loud in zip(clip['categories'], clip['schedule'])
            if max(loud) > 0}


class Hearer(nn.Module):
    """P(an object's category is heard): (N, 2 Da) standardised sounds,
    (N, colours + shapes) named probabilities -> (N, ) logits."""

    def __init__(self, sound_dim: int, names: int, width: int = 64) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(sound_dim + names, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))

    def forward(self, sound: torch.Tensor, names: torch.Tensor
                ) -> torch.Tensor:
        return self.mlp(torch.cat([sound, names], -1))[:, 0]


@torch.no_grad()
def object_names(namer: Namer, masks: torch.Tensor, cells: torch.Tensor
                 ) -> torch.Tensor:
    """(N, h, w) masks on (C, h', w') features -> (N, colours + shapes)
    named probabilities."""
    if not len(masks):
        return masks.new_zeros(0, namer.colour.out_features
                               + namer.shape[-1].out_features)
    colour, shape = namer(region_features(masks[None], cells[None])[0],
                          box_crops(masks))
    return torch.cat([colour.softmax(1), shape.softmax(1)], -1)


def fit_hearer(rows: list, scenes: dict, namer: Namer, clips: dict,
               epochs: int, others: int = 2) -> tuple:
    """The :class:`Hearer` and the sounds' standardisation (mean, std),
    fitted on each referent of ``rows`` with its own clip's sound and
    ``others`` random other clips' sounds."""
    referents = {}
    for row in rows:
        if row['group'] == 'ordinary':
            key = (row['clip'], row['uid'].rsplit('_', 1)[0])
            referents.setdefault(key, row)
    names, categories, clip_ids = [], [], []
    for (clip, _), row in referents.items():
        names.append(object_names(namer, row['referent'].float()[None],
                                  scenes[clip]['cells'])[0])
        categories.append(row['uid'].rsplit('_', 2)[1])
        clip_ids.append(clip)
    sound_clips = sorted({c for c in clip_ids})
    sounds = torch.stack([scenes[c]['sound'] for c in sound_clips])
    mean, std = sounds.mean(0), sounds.std(0) + 1e-6
    heard = [heard_categories(clips[c]) for c in sound_clips]
    pairs = []
    for i, (clip, category) in enumerate(zip(clip_ids, categories)):
        own = sound_clips.index(clip)
        for j in [own] + torch.randint(len(sound_clips), (others,)).tolist():
            pairs.append((i, j, float(category in heard[j])))
    obj, snd, label = (torch.tensor(x) for x in zip(*pairs))
    names, sounds = torch.stack(names), (sounds - mean) / std
    hearer = Hearer(sounds.size(1), names.size(1))
    opt = torch.optim.AdamW(hearer.parameters(), 2e-3, weight_decay=1e-2)
    weight = torch.where(label > 0, (label == 0).sum() / label.sum().clamp(
        min=1), 1.0)
    for _ in range(epochs):
        order = torch.randperm(len(label))
        for start in range(0, len(order), 64):
            i = order[start:start + 64]
            loss = F.binary_cross_entropy_with_logits(
                hearer(sounds[snd[i]], names[obj[i]]), label[i],
                weight=weight[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return hearer.eval(), mean, std


@torch.no_grad()
def sound_score(hearer: Hearer, names: torch.Tensor, sound: torch.Tensor,
                mean, std) -> float:
    """max over a clip's listed objects, (N, colours + shapes) named
    probabilities, of P(its category is heard in the clip's (2 Da, )
    sound) (0 when nothing is listed)."""
    if not len(names):
        return 0.0
    sound = ((sound - mean) / std)[None].expand(len(names), -1)
    return float(hearer(sound, names).sigmoid().max())


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    cfg = load_config(args.config, args.cfg_options)
    root = cfg.test_dataloader.dataset.data_root
    info = osp.join(root, 'synthetic_info.json')
    if not osp.exists(info):
        raise FileNotFoundError(f'{info}: missing; scene_probe.py names '
                                "objects by the synthetic set's colours "
                                'and shapes')
    with open(info) as f:
        info = json.load(f)
    parts = {c: (v['colour'], v['shape'])
             for c, v in info['categories'].items()}
    colours = sorted({c for c, _ in parts.values()})
    shapes = sorted({s for _, s in parts.values()})
    model = MODELS.build(cfg.model)
    load_weights_strict(model, args.checkpoint, args.config)
    model.eval()
    types = null_types(root)
    data = cfg.test_dataloader.dataset
    fit_rows, scenes = collect(model, data, args.fit_split, args.batch_size,
                               types)
    if not any(r['group'] == 'ordinary' for r in fit_rows):
        raise ValueError(f'{args.fit_split!r} of {root} has no row with a '
                         'referent in frame 0 to fit the namer on')
    rows = []
    for split in args.split:
        split_rows, split_scenes = collect(model, data, split,
                                           args.batch_size, types)
        rows += split_rows
        scenes.update(split_scenes)
    namer = fit_namer(*training_objects(fit_rows, scenes), scenes, parts,
                      colours, shapes, args.epochs)
    for scene in scenes.values():  # each listed object named once
        scene['names'] = object_names(namer, scene['masks'], scene['cells'])

    ordinary = [r for r in rows if r['group'] == 'ordinary']
    best = [float(mask_iou(scenes[r['clip']]['masks'] > 0.5,
                           r['referent']).max())
            if len(scenes[r['clip']]['masks']) else 0.0 for r in ordinary]
    right = dict(colour=[], shape=[])
    for r in ordinary:
        names = object_names(namer, r['referent'].float()[None],
                             scenes[r['clip']]['cells'])[0]
        colour, shape = parts[r['uid'].rsplit('_', 2)[1]]
        right['colour'].append(
            colours[int(names[:len(colours)].argmax())] == colour)
        right['shape'].append(
            shapes[int(names[len(colours):].argmax())] == shape)
    scores = dict(ordinary=[], absent=[])
    for r in rows:
        ids = named_words(r['text'], colours, shapes)
        if r['group'] in ('ordinary', 'absent-referent') and any(ids):
            key = 'ordinary' if r['group'] == 'ordinary' else 'absent'
            scores[key].append(scene_score(scenes[r['clip']]['names'], *ids,
                                           len(colours)))
    absent = dict(rows=len(scores['absent']),
                  ordinary_rows=len(scores['ordinary']),
                  auc=roc_auc(scores['ordinary'], scores['absent']),
                  found_absent=found_absent(scores['ordinary'],
                                            scores['absent'])
                  if scores['ordinary'] and scores['absent'] else None)
    hearer, mean, std = fit_hearer(fit_rows, scenes, namer, info['clips'],
                                   args.epochs)
    heard = {}
    for r in rows:
        if asks_for_sound(r['text']):
            scene = scenes[r['clip']]
            heard.setdefault(r['group'], []).append(sound_score(
                hearer, scene['names'], scene['sound'], mean, std))
    sound = dict(ordinary_rows=len(heard.get('ordinary', [])))
    for group in ('mismatched-audio', 'silent-scene'):
        if heard.get(group) and heard.get('ordinary'):
            sound[group] = dict(
                rows=len(heard[group]),
                auc=roc_auc(heard['ordinary'], heard[group]),
                found_absent=found_absent(heard['ordinary'], heard[group]))
    figures = dict(
        tool='scene_probe', config=args.config, checkpoint=args.checkpoint,
        objects_per_clip=float(np.mean([len(s['masks'])
                                        for s in scenes.values()])),
        recall={str(t): float(np.mean(np.asarray(best) >= t))
                for t in (0.3, 0.5)},
        naming={k: float(np.mean(v)) for k, v in right.items()},
        absent_referent=absent, sound=sound)
    print(f"listed {figures['objects_per_clip']:.1f} objects per clip; "
          f"referents covered at IoU >= 0.3 / 0.5: "
          f"{figures['recall']['0.3']:.3f} / {figures['recall']['0.5']:.3f}")
    print(f"named on the ground-truth masks: colour "
          f"{figures['naming']['colour']:.3f}, shape "
          f"{figures['naming']['shape']:.3f}")
    auc = absent['auc']
    print(f"absent-referent rows {absent['rows']} against "
          f"{absent['ordinary_rows']} ordinary ones naming a colour or a "
          f"shape: AUC {'-' if auc is None else f'{auc:.3f}'}; found absent "
          f"at 1 / 2 / 5 % of the ordinary rows: "
          + ('-' if absent['found_absent'] is None else ' / '.join(
              f'{v:.2f}' for v in absent['found_absent'].values())))
    for group in ('mismatched-audio', 'silent-scene'):
        if group in sound:
            g = sound[group]
            print(f"{group} rows {g['rows']} against {sound['ordinary_rows']}"
                  f" ordinary ones asking for a sound: AUC {g['auc']:.3f}; "
                  'found absent at 1 / 2 / 5 % of the ordinary rows: '
                  + ' / '.join(f'{v:.2f}' for v in g['found_absent'].values()))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(figures, f, indent=2)
        print(f'figures written to {args.out}')
    return figures


if __name__ == '__main__':
    main()
