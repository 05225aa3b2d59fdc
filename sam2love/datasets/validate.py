"""Validating a whole Ref-AVS tree before training on it.

:func:`validate_refavs` reads every file the dataset would read, with the
same readers, and lists each problem (file and reason) instead of stopping
at the first. ``tools/check_refavs.py`` is its command line.
"""
import os.path as osp
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from mmengine import fileio
from mmengine.utils import track_parallel_progress, track_progress

from .audio import load_clip_audio, wav_header_seconds
from .errors import RefAVSDataError
from .layout import clip_files, mask_files
from .media import check_file_count, load_frames, load_mask
from .metadata import SPLITS, read_metadata
from .transforms import FRAME_PATTERN, MASK_PATTERN


@dataclass
class ClipReport:
    """What checking one clip folder (and its referred masks) found."""

    name: str
    problems: list[RefAVSDataError] = field(default_factory=list)
    audio_fix: dict | None = None
    audio_path: str | None = None


@dataclass
class RefAVSReport:
    """What :func:`validate_refavs` found in a tree.

    Attributes:
        problems (list[RefAVSDataError]): every problem, file and reason.
        clips (int): clip folders referred to by the checked rows.
        rows_per_split (dict): expressions per split (null ones included).
        null_rows_per_split (dict): null expressions per split.
        audio (Counter): clips whose audio was ``resampled``, ``downmixed``,
            ``padded`` or ``trimmed`` to fit the clip.
        audio_fixes (list[tuple[str, str, tuple]]): each such file: its
            path, what was done to it, the kinds (keys of ``audio``).
    """

    problems: list[RefAVSDataError] = field(default_factory=list)
    clips: int = 0
    rows_per_split: dict = field(default_factory=dict)
    null_rows_per_split: dict = field(default_factory=dict)
    audio: Counter = field(default_factory=Counter)
    audio_fixes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        lines = [f'clips: {self.clips}']
        for split in SPLITS:
            if split in self.rows_per_split:
                lines.append(
                    f'  {split:7s} {self.rows_per_split[split]:6d} '
                    f'expressions ({self.null_rows_per_split[split]} null)')
        lines.append('audio: ' + ', '.join(
            f'{k} {self.audio[k]}'
            for k in ('resampled', 'downmixed', 'padded', 'trimmed')))
        lines.append(f'problems: {len(self.problems)}')
        return '\n'.join(lines)

    def audio_fix_lines(self, max_listed: int | None = None) -> list[str]:
        """``path: what was done`` for each track fitted to its clip, the
        padded ones (sound replaced by silence) first; at most
        ``max_listed`` of them (all with None)."""
        fixes = sorted(self.audio_fixes, key=lambda f: 'padded' not in f[2])
        shown = fixes if max_listed is None else fixes[:max_listed]
        lines = [f'{path}: {what}' for path, what, _ in shown]
        if len(fixes) > len(shown):
            lines.append(f'... and {len(fixes) - len(shown)} more')
        return lines


def _check_masks(paths: dict, is_null: bool, shape: tuple | None
                 ) -> list[RefAVSDataError]:
    folder = paths['mask_dir']
    if is_null and not fileio.isdir(folder):
        return []  # null rows refer to nothing; their masks may be absent
    problems = []
    try:
        check_file_count(folder, MASK_PATTERN, len(paths['mask_paths']),
                         'masks')
    except RefAVSDataError as e:
        problems.append(e)
        if e.reason == 'folder is missing':
            return problems
    for path in paths['mask_paths']:
        try:
            mask = load_mask(path)
        except RefAVSDataError as e:
            problems.append(e)
            continue
        if is_null and mask.any():
            problems.append(RefAVSDataError(
                path, 'mask of a null expression is not empty'))
        if shape is not None and mask.shape != shape:
            problems.append(RefAVSDataError(
                path, f'mask size {mask.shape[1]}x{mask.shape[0]} differs '
                f'from the frames ({shape[1]}x{shape[0]})'))
            shape = None  # report a size mismatch once per folder
    return problems


def check_clip(task: tuple) -> ClipReport:
    """Check one clip folder and the mask folders its rows refer to.

    Args:
        task (tuple): ``(data_root, name, objects, num_frames,
            clip_seconds, media_dir, mask_dir)`` where ``objects`` lists
            ``(fid, is_null)`` pairs.
    """
    (data_root, name, objects, num_frames, clip_seconds, media_dir,
     mask_dir) = task
    report = ClipReport(name)
    files = clip_files(data_root, name, num_frames, media_dir)
    shape = None
    try:
        check_file_count(files['frame_dir'], FRAME_PATTERN, num_frames,
                         'frames')
    except RefAVSDataError as e:
        report.problems.append(e)
    if fileio.isdir(files['frame_dir']):
        present = [p for p in files['frame_paths'] if fileio.exists(p)]
        missing = [p for p in files['frame_paths'] if p not in present]
        report.problems.extend(
            RefAVSDataError(p, 'frame is missing') for p in missing)
        try:
            shape = load_frames(present)[0].shape[:2] if present else None
        except RefAVSDataError as e:
            report.problems.append(e)
    report.audio_path = files['audio_path']
    try:
        _, fix = load_clip_audio(files['audio_path'], clip_seconds)
        report.audio_fix = fix.to_dict()
        declared = wav_header_seconds(files['audio_path'])
        if declared is not None and declared - fix.orig_seconds > 0.01:
            report.problems.append(RefAVSDataError(
                files['audio_path'], f'truncated: its header says '
                f'{declared:.2f} s, the file holds {fix.orig_seconds:.2f} s'))
    except RefAVSDataError as e:
        report.problems.append(e)
    for fid, is_null in objects:
        paths = mask_files(data_root, name, fid, num_frames, mask_dir)
        report.problems.extend(_check_masks(paths, is_null, shape))
    return report


def validate_refavs(data_root: str,
                    splits: tuple[str, ...] = SPLITS,
                    ann_file: str = 'metadata.csv',
                    num_frames: int = 10,
                    seconds_per_frame: float = 1.0,
                    media_dir: str = 'media',
                    mask_dir: str = 'gt_mask',
                    nproc: int = 1,
                    progress: bool = True) -> RefAVSReport:
    """Check every file of a Ref-AVS tree that ``splits`` refer to.

    Reports malformed metadata rows, missing or unreadable frames, wrong
    frame or mask counts, missing or undecodable audio, missing mask
    folders of non-null rows, unreadable masks, non-empty masks of null
    rows, and mask sizes that differ from the frames.

    Args:
        nproc (int): worker processes. Defaults to 1.
        progress (bool): show a progress bar over clips.
    """
    report = RefAVSReport()
    rows = read_metadata(osp.join(data_root, ann_file),
                         errors=report.problems)
    rows = [r for r in rows if r.split in splits]
    objects: dict[str, set] = defaultdict(set)
    for row in rows:
        objects[row.name].add((row.fid, row.is_null))
    split_counts = Counter(r.split for r in rows)
    null_counts = Counter(r.split for r in rows if r.is_null)
    report.rows_per_split = {s: split_counts[s] for s in splits}
    report.null_rows_per_split = {s: null_counts[s] for s in splits}
    report.clips = len(objects)

    tasks = [(data_root, name, sorted(objs), num_frames,
              num_frames * seconds_per_frame, media_dir, mask_dir)
             for name, objs in objects.items()]
    if progress and nproc > 1:
        clip_reports = track_parallel_progress(check_clip, tasks, nproc)
    elif progress:
        clip_reports = track_progress(check_clip, tasks)
    else:
        clip_reports = [check_clip(t) for t in tasks]
    for clip in clip_reports:
        report.problems.extend(clip.problems)
        if clip.audio_fix is not None:
            fix = clip.audio_fix
            kinds = tuple(key for key, hit in (
                ('resampled', fix['resampled']),
                ('downmixed', fix['downmixed']),
                ('padded', fix['padded_samples'] > 0),
                ('trimmed', fix['trimmed_samples'] > 0)) if hit)
            report.audio.update(kinds)
            if kinds:
                report.audio_fixes.append(
                    (clip.audio_path, describe_audio_fix(fix), kinds))
    return report


def describe_audio_fix(fix: dict, sample_rate: int = 16000) -> str:
    """``'44100 Hz, 2 channels, 8.50 s: resampled to 16000 Hz, downmixed,
    padded with 1.50 s of silence'``: what fitting a track did."""
    done = []
    if fix['resampled']:
        done.append(f'resampled to {sample_rate} Hz')
    if fix['downmixed']:
        done.append('downmixed to mono')
    if fix['padded_samples']:
        done.append(f'padded with {fix["padded_samples"] / sample_rate:.2f} '
                    's of silence')
    if fix['trimmed_samples']:
        done.append(f'{fix["trimmed_samples"] / sample_rate:.2f} s cut '
                    'off its end')
    return (f'{fix["orig_sample_rate"]} Hz, {fix["orig_channels"]} '
            f'channel(s), {fix["orig_seconds"]:.2f} s: {", ".join(done)}')


__all__ = ['validate_refavs', 'RefAVSReport', 'ClipReport', 'check_clip']
