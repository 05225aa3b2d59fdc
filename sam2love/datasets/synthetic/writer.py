"""Writing the data set: media, masks, ``metadata.csv``, ``synthetic_info.json``,
the synthetic-only extras (:mod:`.extras`) and the summary
(:func:`make_synthetic_refavs`)."""
import csv
import json
import multiprocessing
import os
import os.path as osp
import shutil
import time

import numpy as np
import soundfile
from PIL import Image

from .audio import synthesize_audio
from .categories import CATEGORIES, EXPRESSION_KINDS, SPLITS, UNSEEN_CATEGORIES
from .clips import ClipContent, generate_group
from .extras import EXTRAS_DIR, write_all_objects_mask
from .plan import ClipPlan, _plan_clips
from .render import render_frames

JPEG_QUALITY = 90


def _write_clip(out_dir: str, content: ClipContent, seed: int, cfg: dict,
                rng: np.random.Generator) -> tuple:
    """Write frames, audio and masks of one clip, and its every-object
    frame-0 mask (:func:`~.extras.write_all_objects_mask`).

    Returns:
        tuple: metadata rows (list of dict) and info (per-uid, per-clip).
    """
    plan, scene = content.plan, content.scene
    num_frames, sample_rate = cfg['num_frames'], cfg['sample_rate']
    vid, name = plan.vid(seed, num_frames), plan.name(seed, num_frames)
    media = osp.join(out_dir, 'media', name)
    os.makedirs(osp.join(media, 'frames'), exist_ok=True)

    sounding = content.schedule > 0
    cues = sounding & (rng.random(sounding.shape) < cfg['activity_cue'])
    for t, frame in enumerate(render_frames(scene, content.masks, cues)):
        Image.fromarray(frame).save(osp.join(media, 'frames', f'{t}.jpg'),
                                    quality=JPEG_QUALITY)
    heard, heard_schedule = content.audio_sources or (scene.categories,
                                                      content.schedule)
    audio = synthesize_audio(heard, heard_schedule, sample_rate, rng)
    soundfile.write(osp.join(media, 'audio.wav'), audio, sample_rate,
                    subtype='PCM_16')

    is_null = plan.kind != 'ordinary'
    for fid in sorted({e.fid for e in content.expressions}):
        folder = osp.join(out_dir, 'gt_mask', name, f'fid_{fid}')
        os.makedirs(folder, exist_ok=True)
        for t in range(num_frames):
            mask = np.zeros(content.masks.shape[2:], np.uint8) if is_null \
                else content.masks[fid, t].astype(np.uint8) * 255
            Image.fromarray(mask).save(osp.join(folder, f'{t:05d}.png'))
    write_all_objects_mask(out_dir, name, content.masks[:, 0])

    rows, row_info = [], {}
    counts = {}
    ordered = sorted(content.expressions,
                     key=lambda e: ('null' if is_null else
                                    scene.categories[e.fid], e.fid))
    for e in ordered:
        category = 'null' if is_null else scene.categories[e.fid]
        counts[category] = counts.get(category, 0) + 1
        uid = f'{name}_{category}_{counts[category]}'
        rows.append(dict(vid=vid, uid=uid, split=plan.split, fid=e.fid,
                         exp=e.text))
        row_info[uid] = dict(kind=e.kind, fid=e.fid,
                             referent=None if is_null else category)
        if is_null:
            row_info[uid]['null_type'] = content.null_type
    twin = None if plan.twin is None else ClipPlan(
        plan.twin, plan.split, 'ordinary').name(seed, num_frames)
    clip_info = dict(
        vid=vid, split=plan.split, type=plan.kind, null_type=content.null_type,
        size=[scene.width, scene.height], categories=scene.categories,
        schedule=_rounded(content.schedule), twin=twin,
        events=scene.events,
        heard=list(content.audio_sources[0]) if content.audio_sources
        else None,
        heard_schedule=_rounded(content.audio_sources[1])
        if content.audio_sources else None)
    return rows, row_info, {name: clip_info}


def _rounded(gains: np.ndarray) -> list:
    """Gains as nested lists of floats with 3 decimals (for JSON)."""
    return np.round(gains.astype(np.float64), 3).tolist()


def _prepare_out_dir(out_dir: str, overwrite: bool) -> None:
    if osp.isdir(out_dir) and os.listdir(out_dir):
        if not overwrite:
            raise FileExistsError(
                f'{out_dir} is not empty; pass overwrite=True (--overwrite) '
                'to replace the synthetic data set in it')
        for sub in ('media', 'gt_mask', EXTRAS_DIR):
            shutil.rmtree(osp.join(out_dir, sub), ignore_errors=True)
        for fname in ('metadata.csv', 'synthetic_info.json'):
            if osp.exists(osp.join(out_dir, fname)):
                os.remove(osp.join(out_dir, fname))
    os.makedirs(out_dir, exist_ok=True)


def _default_other_sizes(frame_size: tuple) -> tuple:
    """Two more frame sizes: a square one (0.8 w) and a larger one (1.2x)."""
    w, h = frame_size

    def round8(v):
        return max(8, int(round(v / 8)) * 8)

    return ((round8(0.8 * w), round8(0.8 * w)),
            (round8(1.2 * w), round8(1.2 * h)))


def _groups(plans: list) -> list:
    """Clips generated together: singles and twin pairs, by first index."""
    groups = []
    for p in plans:
        if p.twin is None:
            groups.append([p])
        elif p.twin > p.index:
            groups.append([p, plans[p.twin]])
    return groups


def _write_group(job: tuple) -> list:
    """Generate and write one group of :func:`_groups`.

    Args:
        job (tuple): ``(out_dir, seed, group, cfg)``.

    Returns:
        list: ``(index, rows, row_info, clip_info)`` per clip.
    """
    out_dir, seed, group, cfg = job
    written = []
    for content in generate_group(seed, group, cfg):
        write_rng = np.random.default_rng([seed, 2, content.plan.index])
        written.append((content.plan.index,
                        *_write_clip(out_dir, content, seed, cfg, write_rng)))
    return written


def make_synthetic_refavs(out_dir: str,
                          num_clips: int = 400,
                          seed: int = 0,
                          num_frames: int = 10,
                          frame_size: tuple = (160, 120),
                          sample_rate: int = 16000,
                          activity_cue: float = 0.5,
                          other_frame_sizes: tuple | None = None,
                          other_size_prob: float = 0.2,
                          null_prob: float = 0.04,
                          twin_prob: float = 0.1,
                          duplicate_prob: float = 0.2,
                          exit_prob: float = 0.25,
                          occlusion_prob: float = 0.25,
                          same_shape_prob: float = 0.3,
                          speed_range: tuple = (0.02, 0.06),
                          train_rows: tuple | None = None,
                          overwrite: bool = False,
                          progress: bool = False,
                          nproc: int = 1) -> dict:
    """Write a synthetic Ref-AVS data set in the release layout.

    The output is a function of the arguments only: the same seed gives
    byte-identical ``metadata.csv``, frames, masks, audio and info file.
    Beside the release layout it writes ``synthetic_info.json`` and, per
    clip, ``synthetic_extras/all_objects/<name>/00000.png``: every object's
    visible mask on frame 0 (:mod:`.extras`; the "every object" baseline).

    Args:
        out_dir (str): root to write (must be empty or missing, unless
            ``overwrite``; then only the generator's own entries are
            replaced).
        num_clips (int): clips; from 5 every split gets at least one.
        seed (int): non-negative seed; also part of every ``vid``.
        num_frames (int): T frames (one per second) and T seconds of audio.
        frame_size (tuple): (width, height) of most clips.
        sample_rate (int): audio rate (mono, 16-bit PCM).
        activity_cue (float): probability that a sounding object gets a
            faint ripple ring in the frame of that second.
        other_frame_sizes (tuple | None): other (width, height) used with
            probability ``other_size_prob``; default 0.8 w square and 1.2x
            (128x128 and 192x144 for 160x120).
        null_prob (float): share of train / val clips that are null clips.
        twin_prob (float): chance that two clips of a split share a scene
            and differ in their sound.
        duplicate_prob (float): chance of two same-category objects.
        exit_prob / occlusion_prob (float): chance of an object leaving the
            frame for a while / passing behind another.
        same_shape_prob (float): chance of two objects of one shape.
        speed_range (tuple): object speed in frame widths per second.
        train_rows (tuple | None): (low, high) expressions per ordinary
            train clip, as many as the clip has up to ``high`` (the
            candidates limit it); None: 2-5 as the release (and every
            other split).
        progress (bool): show an ``mmengine`` progress bar.
        nproc (int): processes writing clips. Every clip draws from its own
            seeded generator, so the output does not depend on it.

    Returns:
        dict: ``out_dir``, ``clips``, ``rows``, ``clips_per_split``,
        ``rows_per_split``, ``null_rows_per_split``, ``seconds`` (of media,
        clips x T) and ``wall_seconds``.
    """
    start = time.perf_counter()
    if seed < 0:
        raise ValueError('seed must be non-negative')
    if nproc < 1:
        raise ValueError(f'nproc must be >= 1, got {nproc}')
    for name, p in (('null_prob', null_prob), ('twin_prob', twin_prob),
                    ('duplicate_prob', duplicate_prob)):
        if not 0 <= p <= 1:
            raise ValueError(f'{name} must be in [0, 1], got {p}')
    _prepare_out_dir(out_dir, overwrite)
    if other_frame_sizes is None:
        other_frame_sizes = _default_other_sizes(frame_size)
    cfg = dict(
        num_frames=num_frames, frame_size=tuple(frame_size),
        other_frame_sizes=tuple(tuple(s) for s in other_frame_sizes),
        other_size_prob=other_size_prob, sample_rate=sample_rate,
        activity_cue=activity_cue,
        train_rows=tuple(train_rows) if train_rows else None,
        scene=dict(exit_prob=exit_prob, occlusion_prob=occlusion_prob,
                   same_shape_prob=same_shape_prob,
                   speed_range=tuple(speed_range)))
    plans = _plan_clips(np.random.default_rng([seed, 0]), num_clips,
                        null_prob, twin_prob, duplicate_prob)

    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(num_clips)
    rows_of, info_rows, info_clips = {}, {}, {}
    jobs = [(out_dir, seed, group, cfg) for group in _groups(plans)]
    # fork where there is one: a spawned worker would import the package
    # again (seconds)
    context = multiprocessing.get_context(
        'fork' if 'fork' in multiprocessing.get_all_start_methods() else None)
    pool = context.Pool(nproc) if nproc > 1 else None
    try:
        written = pool.imap(_write_group, jobs) if pool \
            else map(_write_group, jobs)
        for group in written:
            for index, rows, row_info, clip_info in group:
                rows_of[index] = rows
                info_rows.update(row_info)
                info_clips.update(clip_info)
                if bar is not None:
                    bar.update()
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    rows = [r for index in sorted(rows_of) for r in rows_of[index]]
    _write_metadata(osp.join(out_dir, 'metadata.csv'), rows)

    params = dict(cfg, seed=seed, num_clips=num_clips,
                  null_prob=null_prob, twin_prob=twin_prob,
                  duplicate_prob=duplicate_prob)
    info = dict(
        generator='sam2love.datasets.synthetic', version=1, params=params,
        expression_kinds=EXPRESSION_KINDS,
        unseen_categories=list(UNSEEN_CATEGORIES),
        categories={name: dict(colour=c.colour, shape=c.shape,
                               pitch_hz=c.pitch_hz, timbre=c.timbre,
                               rhythm_hz=c.rhythm_hz,
                               seen=name not in UNSEEN_CATEGORIES)
                    for name, c in CATEGORIES.items()},
        extras=dict(all_objects=dict(
            path='synthetic_extras/all_objects/<name>/00000.png',
            what="union of every object's visible mask on frame 0, 0 / 255, "
            'at the frame size (every clip, null clips included)')),
        clips=info_clips, rows=info_rows)
    with open(osp.join(out_dir, 'synthetic_info.json'), 'w') as f:
        json.dump(info, f, indent=1, sort_keys=True)
    if bar is not None:
        print()
    return _summary(out_dir, plans, rows, num_frames,
                    time.perf_counter() - start)


def _write_metadata(path: str, rows: list) -> None:
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=['vid', 'uid', 'split', 'fid',
                                               'exp'], lineterminator='\n')
        writer.writeheader()
        writer.writerows(rows)


def _summary(out_dir: str, plans: list, rows: list, num_frames: int,
             wall_seconds: float) -> dict:
    clips_per_split = {s: sum(p.split == s for p in plans) for s in SPLITS}
    rows_per_split = {s: sum(r['split'] == s for r in rows) for s in SPLITS}
    null_rows = {s: sum(r['split'] == s and r['uid'].startswith('null_')
                        for r in rows) for s in SPLITS}
    return dict(out_dir=out_dir, clips=len(plans), rows=len(rows),
                clips_per_split=clips_per_split,
                rows_per_split=rows_per_split, null_rows_per_split=null_rows,
                seconds=len(plans) * num_frames,
                wall_seconds=round(wall_seconds, 3))
