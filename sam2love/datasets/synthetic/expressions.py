"""Referring expressions computed from a scene and its sound schedule,
and the null expressions that match nothing."""
from dataclasses import dataclass

import numpy as np

from .categories import CATEGORIES, SEEN_CATEGORIES, SHAPES, UNSEEN_CATEGORIES
from .scene import Scene


@dataclass(frozen=True)
class Expression:
    """A referring expression and the object it refers to."""

    text: str
    kind: str  # one of EXPRESSION_KINDS
    fid: int  # index of the referent in the clip


def _unique(indices) -> int | None:
    indices = list(indices)
    return indices[0] if len(indices) == 1 else None


def _always_beyond(positions: np.ndarray, i: int, others: list, axis: int,
                   sign: int, margin: np.ndarray) -> bool:
    """Is object ``i`` beyond all ``others`` along ``axis`` in every frame?"""
    return all(np.all(sign * (positions[j, :, axis] - positions[i, :, axis])
                      > margin[i] + margin[j]) for j in others)


def _extreme_object(positions: np.ndarray, members: list, axis: int,
                    sign: int, margin: np.ndarray) -> int | None:
    """The member that is always furthest towards -sign along ``axis``."""
    hits = [i for i in members
            if _always_beyond(positions, i, [j for j in members if j != i],
                              axis, sign, margin)]
    return _unique(hits)


def _audio_expressions(schedule: np.ndarray, categories: list) -> list:
    n, num_seconds = schedule.shape
    on = schedule > 0
    sounding = [i for i in range(n) if on[i].any()]
    silent = [i for i in range(n) if not on[i].any()]
    onset = {i: int(np.argmax(on[i])) for i in sounding}
    out = []
    if len(sounding) == 1:
        out.append(('The object making a sound.', sounding[0]))
    if sounding and len(silent) == 1:
        out.append(('The silent object.', silent[0]))
    always = [i for i in range(n) if on[i].all()]
    if n >= 2 and len(always) == 1:
        out.append(('The object that keeps making sound at all times.',
                    always[0]))
    if len(sounding) >= 2:
        by_onset = sorted(sounding, key=lambda i: onset[i])
        times = [onset[i] for i in by_onset] + [num_seconds]
        if times[0] < times[1]:
            out.append(('The first object to make a sound.', by_onset[0]))
        if times[0] < times[1] < times[2]:
            out.append(('The object that starts making a sound second.',
                        by_onset[1]))
        if times[-3] < times[-2]:
            out.append(('The last object to make a sound.', by_onset[-1]))
        loudness = sorted(sounding, key=lambda i: -schedule[i].max())
        if schedule[loudness[0]].max() >= 1.6 * schedule[loudness[1]].max():
            out.append(('The object making the loudest sound.', loudness[0]))
        pitch = {i: CATEGORIES[categories[i]].pitch_hz for i in sounding}
        by_pitch = sorted(sounding, key=lambda i: pitch[i])
        word = ('higher', 'lower') if len(sounding) == 2 else ('highest',
                                                                'lowest')
        if pitch[by_pitch[-1]] > pitch[by_pitch[-2]]:
            out.append((f'The object with the {word[0]}-pitched sound.',
                        by_pitch[-1]))
        if pitch[by_pitch[0]] < pitch[by_pitch[1]]:
            out.append((f'The object with the {word[1]}-pitched sound.',
                        by_pitch[0]))
    return [Expression(text, 'audio', i) for text, i in out]


def _vision_expressions(categories: list, positions: np.ndarray,
                        margin: np.ndarray) -> list:
    n = len(categories)
    out = []
    for name in sorted(set(categories)):
        if categories.count(name) == 1:
            out.append((f'The {CATEGORIES[name].text}.',
                        categories.index(name)))
    for attr in ('shape', 'colour'):
        values = [getattr(CATEGORIES[c], attr) for c in categories]
        for v in sorted(set(values)):
            if values.count(v) == 1 and len(set(categories)) > 1:
                text = f'The {v}.' if attr == 'shape' else f'The {v} object.'
                out.append((text, values.index(v)))
    everyone = list(range(n))
    for text, axis, sign in (('The object on the left.', 0, 1),
                             ('The object on the right.', 0, -1),
                             ('The object at the top.', 1, 1),
                             ('The object at the bottom.', 1, -1)):
        i = _extreme_object(positions, everyone, axis, sign, margin)
        if i is not None:
            out.append((text, i))
    return [Expression(text, 'vision', i) for text, i in out]


def _mixed_expressions(schedule: np.ndarray, categories: list,
                       positions: np.ndarray, margin: np.ndarray) -> list:
    n = len(categories)
    on = schedule.any(axis=1)
    out = []
    groups = {}
    for i, c in enumerate(categories):
        cat = CATEGORIES[c]
        groups.setdefault(('shape', cat.shape), []).append(i)
        groups.setdefault(('colour', cat.colour), []).append(i)
        groups.setdefault(('category', cat.text), []).append(i)
    for (attr, value), members in sorted(groups.items()):
        if len(members) < 2:
            continue
        noun = f'{value} object' if attr == 'colour' else value
        loud = _unique(i for i in members if on[i])
        if loud is not None:
            out.append((f'The sounding {noun}.', loud))
        quiet = _unique(i for i in members if not on[i])
        if quiet is not None and on[members].any():
            out.append((f'The silent {noun}.', quiet))
    sounding = [i for i in range(n) if on[i]]
    if len(sounding) >= 2:
        for text, sign in (('The sounding object on the left.', 1),
                           ('The sounding object on the right.', -1)):
            i = _extreme_object(positions, sounding, 0, sign, margin)
            if i is not None:
                out.append((text, i))
    return [Expression(text, 'mixed', i) for text, i in out]


def _temporal_expressions(schedule: np.ndarray, categories: list) -> list:
    on = schedule > 0
    n, num_seconds = on.shape
    sounding = [i for i in range(n) if on[i].any()]
    onset = {i: int(np.argmax(on[i])) for i in sounding}
    out = []
    for x in sounding:
        if categories.count(categories[x]) != 1:
            continue
        name = CATEGORIES[categories[x]].text
        seconds = np.flatnonzero(on[x])
        end = int(seconds[-1]) + 1
        contiguous = len(seconds) == end - seconds[0]
        others = [i for i in sounding if i != x]
        if contiguous and end < num_seconds:
            after = _unique(i for i in others if onset[i] >= end)
            if after is not None:
                out.append((f'The object that makes a sound after the '
                            f'{name} stops.', after))
        before = _unique(i for i in others if onset[i] < onset[x])
        if before is not None:
            out.append((f'The object making a sound before the {name}.',
                        before))
    return [Expression(text, 'temporal', i) for text, i in out]


def candidate_expressions(scene: Scene, schedule: np.ndarray,
                          masks: np.ndarray, split: str) -> list:
    """Every expression with a unique, visible referent in the clip.

    Args:
        schedule (np.ndarray): (n, T) per-second gains of the objects.
        masks (np.ndarray): (n, T, H, W) visible pixels.

    Returns:
        list[Expression]: in a fixed order; in ``test_u`` only those whose
        referent is an unseen category.
    """
    categories = scene.categories
    positions = np.stack([o.positions for o in scene.objects])  # (n, T, 2)
    margin = np.array([0.5 * o.radius for o in scene.objects])
    found = (_audio_expressions(schedule, categories)
             + _vision_expressions(categories, positions, margin)
             + _mixed_expressions(schedule, categories, positions, margin)
             + _temporal_expressions(schedule, categories))
    visible = masks.any(axis=(1, 2, 3))
    found = [e for e in found if visible[e.fid]]
    if split == 'test_u':
        found = [e for e in found if categories[e.fid] in UNSEEN_CATEGORIES]
    seen, unique = set(), []
    for e in found:  # one referent per text
        if e.text not in seen:
            seen.add(e.text)
            unique.append(e)
    return unique


def select_expressions(rng: np.random.Generator, candidates: list,
                       num_rows: int, forced: tuple = ()) -> list:
    """Pick ``num_rows`` expressions, spreading over kinds and referents."""
    chosen = list(forced)
    pool = [candidates[i] for i in rng.permutation(len(candidates))
            if candidates[i] not in chosen]
    while pool and len(chosen) < num_rows:
        kinds = {e.kind for e in chosen}
        fids = {e.fid for e in chosen}
        best = max(pool, key=lambda e: (e.kind not in kinds, e.fid not in fids))
        chosen.append(best)
        pool.remove(best)
    return chosen


NULL_AUDIO_TEXTS = (
    'The object making a sound.', 'The first object to make a sound.',
    'The object making the loudest sound.',
    'The object that keeps making sound at all times.',
    'The last object to make a sound.',
    'The object with the higher-pitched sound.')


def null_expressions(rng: np.random.Generator, null_type: str,
                     categories: list, split: str, num_rows: int) -> list:
    """Texts that match nothing in the clip (referent fid 0, empty masks).

    ``silent-scene`` (nothing sounds) and ``mismatched-audio`` (the sound
    belongs to other objects) ask about sounding objects;
    ``absent-referent`` names a category or shape that is not there.
    """
    if null_type == 'absent-referent':
        pool = list(CATEGORIES) if split == 'test_u' else list(SEEN_CATEGORIES)
        shapes = {CATEGORIES[c].shape for c in categories}
        texts = [f'The {CATEGORIES[c].text}.' for c in pool
                 if c not in categories]
        texts += [f'The sounding {s}.' for s in SHAPES if s not in shapes]
    else:
        texts = list(NULL_AUDIO_TEXTS)
    picks = rng.permutation(len(texts))[:num_rows]
    return [Expression(texts[i], 'null', 0) for i in sorted(picks)]
