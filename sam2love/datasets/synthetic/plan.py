"""Clip planning: split, kind, twin and duplicate flags of every clip."""
from dataclasses import dataclass

import numpy as np

from .categories import SPLIT_SHARES, SPLITS


@dataclass
class ClipPlan:
    """What one clip will be, decided before any scene is drawn."""

    index: int
    split: str
    kind: str  # 'ordinary', 'null_m' or 'null_c'
    twin: int | None = None  # index of the clip sharing its scene
    duplicate: bool = False  # holds two objects of one category

    def vid(self, seed: int, num_frames: int) -> str:
        return f'syn{seed}-{self.index:05d}_0_{num_frames * 1000}'

    def name(self, seed: int, num_frames: int) -> str:
        vid = self.vid(seed, num_frames)
        return vid if self.kind == 'ordinary' else f'{self.kind}-{vid}'


def split_counts(num_clips: int) -> dict:
    """Clips per split: the release's shares, at least one each from 5."""
    if num_clips < len(SPLITS):
        order = ('train', 'test_u', 'test_s', 'val', 'test_n')
        return {s: int(s in order[:num_clips]) for s in SPLITS}
    counts = {s: max(1, int(round(share * num_clips)))
              for s, share in SPLIT_SHARES.items()}
    counts['train'] = num_clips - sum(counts.values())
    return {s: counts[s] for s in SPLITS}


def _plan_clips(rng: np.random.Generator, num_clips: int, null_prob: float,
                twin_prob: float, duplicate_prob: float) -> list:
    """Split, kind, twin and duplicate flags of every clip."""
    labels = [s for s, n in split_counts(num_clips).items() for _ in range(n)]
    labels = [labels[i] for i in rng.permutation(num_clips)]
    plans = [ClipPlan(index, split, 'ordinary')
             for index, split in enumerate(labels)]
    for split in SPLITS:  # null clips: all of test_n, a share of train / val
        members = [p for p in plans if p.split == split]
        if split == 'test_n':
            nulls = members
        elif split in ('train', 'val'):
            count = int(round(null_prob * len(members)))
            # the first train / val clip stays ordinary
            nulls = [members[1:][i] for i in
                     rng.permutation(max(0, len(members) - 1))[:count]]
        else:
            nulls = []
        for p in nulls:
            p.kind = ('null_m', 'null_c')[int(rng.integers(2))]
    ordinary = {s: [p for p in plans if p.kind == 'ordinary' and p.split == s]
                for s in SPLITS}
    for clips in ordinary.values():  # pair neighbours of a split as twins
        i = 0
        while i + 1 < len(clips):
            if rng.random() < twin_prob:
                clips[i].twin = clips[i + 1].index
                clips[i + 1].twin = clips[i].index
                i += 2
            else:
                i += 1
    train = ordinary['train']
    if len(train) >= 2 and not any(p.twin is not None for p in plans):
        train[0].twin, train[1].twin = train[1].index, train[0].index
    for p in plans:
        if p.kind != 'ordinary':
            continue
        if p.twin is not None and p.twin < p.index:
            p.duplicate = plans[p.twin].duplicate  # twins share one scene
        else:
            p.duplicate = bool(rng.random() < duplicate_prob)
    if train and not any(p.duplicate for p in plans):
        single = [p for p in train if p.twin is None] or train[:1]
        single[-1].duplicate = True
        if single[-1].twin is not None:
            plans[single[-1].twin].duplicate = True
    return plans
