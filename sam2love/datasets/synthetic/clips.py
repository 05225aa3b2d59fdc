"""Clip contents: a scene, its schedule and expressions; twin and null clips."""
from dataclasses import dataclass

import numpy as np

from .audio import sample_schedule
from .categories import CATEGORIES, SEEN_CATEGORIES
from .expressions import candidate_expressions, null_expressions, select_expressions
from .plan import ClipPlan
from .scene import Scene, sample_scene, visible_masks


@dataclass
class ClipContent:
    """A generated clip before it is written."""

    plan: ClipPlan
    scene: Scene
    schedule: np.ndarray  # (n, T) gains of the visible objects
    masks: np.ndarray  # (n, T, H, W)
    expressions: list
    null_type: str | None = None
    audio_sources: tuple = ()  # (categories, schedule) heard, if not scene


def _num_rows(rng, low=2, high=5) -> int:
    return int(rng.integers(low, high + 1))


def _clip_rows(rng, plan: ClipPlan, cfg: dict) -> int:
    """Rows of an ordinary clip: 2-5 as in the release, or the
    ``train_rows`` range for train clips."""
    low, high = (2, 5)
    if plan.split == 'train' and cfg.get('train_rows'):
        low, high = cfg['train_rows']
    return _num_rows(rng, low, high)


def _frame_size(rng, frame_size: tuple, other_sizes: tuple,
                other_size_prob: float) -> tuple:
    if other_sizes and rng.random() < other_size_prob:
        return tuple(other_sizes[int(rng.integers(len(other_sizes)))])
    return tuple(frame_size)


def _scene_with_expressions(rng, plan: ClipPlan, size: tuple, cfg: dict,
                            attempts: int = 40) -> tuple:
    """A scene and schedule whose candidates allow >= 2 rows (one audio).

    For a ``duplicate`` plan, exactly one of the two look-alikes sounds.
    """
    best = None
    for _ in range(attempts):
        scene = sample_scene(rng, plan.split, size, cfg['num_frames'],
                             plan.duplicate, **cfg['scene'])
        masks = visible_masks(scene)
        lookalikes = _lookalikes(scene.categories)
        prefer = tuple(lookalikes[i] for i in rng.permutation(len(lookalikes)))
        schedule = sample_schedule(rng, len(scene.objects),
                                   cfg['num_frames'], prefer)
        found = candidate_expressions(scene, schedule, masks, plan.split)
        one_lookalike_sounds = not plan.duplicate or sum(
            bool(schedule[i].any()) for i in lookalikes) == 1
        score = (one_lookalike_sounds, len(found) >= 2,
                 any(e.kind != 'vision' for e in found), len(found))
        if best is None or score > best[0]:
            best = (score, scene, masks, schedule, found)
        if score[:3] == (True, True, True):
            break
    return best[1:]


def _lookalikes(categories: list) -> list:
    """Indices of objects that share their category with another."""
    return [i for i, c in enumerate(categories) if categories.count(c) > 1]


def _twin_schedule(rng, schedule: np.ndarray, scene: Scene, masks,
                   split: str, num_frames: int, attempts: int = 20) -> tuple:
    """Another sound schedule for a twin clip of the same scene.

    Returns:
        tuple: the (n, T) schedule, its candidate expressions, and a text
        (as the first clip's and the twin's :class:`Expression`) whose
        referent the new schedule changes, or ``None, None``.
    """
    n = len(scene.objects)
    first = {e.text: e for e in candidate_expressions(scene, schedule, masks,
                                                      split)}
    fallback = None
    for k in range(attempts):
        if k < attempts // 2:  # hand the sound roles to other objects
            other = schedule[rng.permutation(n)]
        else:
            other = sample_schedule(rng, n, num_frames)
        if np.array_equal(other, schedule):
            continue
        second = candidate_expressions(scene, other, masks, split)
        flipped = [e for e in second if e.kind != 'vision'
                   and e.text in first and first[e.text].fid != e.fid]
        if flipped:
            shared = flipped[int(rng.integers(len(flipped)))]
            return other, second, first[shared.text], shared
        fallback = fallback or (other, second, None, None)
    if fallback is None:
        other = schedule[::-1].copy()
        fallback = (other, candidate_expressions(scene, other, masks, split),
                    None, None)
    return fallback


def generate_group(seed: int, plans: list, cfg: dict) -> list:
    """Contents of one clip, or of two twin clips sharing one scene.

    Every random draw comes from ``default_rng([seed, 1, first index])``,
    so a group's contents depend only on the seed and its position.
    """
    rng = np.random.default_rng([seed, 1, plans[0].index])
    size = _frame_size(rng, cfg['frame_size'], cfg['other_frame_sizes'],
                       cfg['other_size_prob'])
    plan = plans[0]
    num_frames = cfg['num_frames']
    if plan.kind != 'ordinary':
        return [_null_clip(rng, plan, size, cfg)]
    scene, masks, schedule, found = _scene_with_expressions(rng, plan, size,
                                                            cfg)
    if len(plans) == 1:
        rows = select_expressions(rng, found, _clip_rows(rng, plan, cfg))
        return [ClipContent(plan, scene, schedule, masks, rows)]
    other, found_b, shared_a, shared_b = _twin_schedule(
        rng, schedule, scene, masks, plan.split, num_frames)
    forced_a = (shared_a, ) if shared_a else ()
    forced_b = (shared_b, ) if shared_b else ()
    rows_a = select_expressions(rng, found, _clip_rows(rng, plans[0], cfg),
                                forced_a)
    rows_b = select_expressions(rng, found_b, _clip_rows(rng, plans[1], cfg),
                                forced_b)
    return [ClipContent(plans[0], scene, schedule, masks, rows_a),
            ClipContent(plans[1], scene, other, masks, rows_b)]


def _null_clip(rng, plan: ClipPlan, size: tuple, cfg: dict) -> ClipContent:
    """A ``null_m`` or ``null_c`` clip: expressions that match nothing."""
    num_frames = cfg['num_frames']
    scene = sample_scene(rng, plan.split, size, num_frames, False,
                         **cfg['scene'])
    masks = visible_masks(scene)
    n = len(scene.objects)
    sources = ()
    if plan.kind == 'null_c':
        null_type = 'mismatched-audio'
        schedule = np.zeros((n, num_frames), np.float32)  # visible: silent
        pool = list(CATEGORIES) if plan.split == 'test_u' \
            else list(SEEN_CATEGORIES)
        pool = [c for c in pool if c not in scene.categories]
        k = int(rng.integers(1, 4))
        heard = [pool[i] for i in rng.permutation(len(pool))[:k]]
        sources = (heard, sample_schedule(rng, k, num_frames))
    elif rng.random() < 0.5:
        null_type = 'silent-scene'
        schedule = np.zeros((n, num_frames), np.float32)
    else:
        null_type = 'absent-referent'
        schedule = sample_schedule(rng, n, num_frames)
    rows = null_expressions(rng, null_type, scene.categories, plan.split,
                            _num_rows(rng, 2, 4))
    return ClipContent(plan, scene, schedule, masks, rows, null_type, sources)
