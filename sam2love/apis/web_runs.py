"""What one submission of the web demo (``tools/web_demo.py``) does,
without the page: run :class:`RefAVSInferencer` on a video, its audio and
expressions, reporting progress, and collect the files the page shows.

>>> runner = DemoRunner(ProgressInferencer(CONFIG, weights=CKPT),
...                     work_dir='work_dirs/web_demo')
>>> result = runner.run('clip.mp4', ['the red square', 'what sounds first'])
>>> result.overlay, result.contact_sheet, result.masks_zip

Errors of the input (a file that cannot be read, no audio, an empty
expression) are the inferencer's own: :data:`INPUT_ERRORS` lists their
types, which the page shows with their message unchanged.
"""
import os
import os.path as osp
import shutil
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..datasets.errors import RefAVSDataError
from ..datasets.metadata import read_metadata
from .checkpoint import CheckpointError
from .inferencer import RefAVSInferencer

#: The exceptions of bad input: their message is shown as it is.
INPUT_ERRORS = (RefAVSDataError, CheckpointError, FileNotFoundError,
                ValueError)

#: ``progress(fraction, description)``.
ProgressCallback = Callable[[float, str], None]


def parse_expressions(text: str | None) -> list[str]:
    """Expressions typed one per line.

    Blank text gives none and blank lines between expressions are kept, so
    that the inferencer's own check names them
    (:func:`~sam2love.apis.media.check_texts`); trailing spaces and empty
    lines at both ends are dropped.
    """
    text = (text or '').strip('\r\n')
    if not text.strip():
        return []
    return [line.strip() for line in text.strip().splitlines()]


def list_clips(data_root: str, split: str = 'test_s') -> dict[str, list[str]]:
    """Clip folders of a Ref-AVS tree's split and their expressions, in
    metadata order: ``{folder: [expression, ...]}`` (folders that exist)."""
    clips: dict[str, list[str]] = {}
    for row in read_metadata(osp.join(data_root, 'metadata.csv')):
        folder = osp.join(data_root, 'media', row.name)
        if row.split == split and osp.isdir(folder):
            clips.setdefault(folder, []).append(row.exp)
    return clips


class ProgressInferencer(RefAVSInferencer):
    """A :class:`RefAVSInferencer` that reports how far a call is.

    ``progress`` (a :data:`ProgressCallback`, or None) is called when the
    media are decoded, after each batch of expressions and when the
    outputs are written; fractions grow from 0 to 1.
    """

    progress: ProgressCallback | None = None

    def _report(self, fraction: float, description: str) -> None:
        if self.progress is not None:
            self.progress(min(max(fraction, 0.0), 1.0), description)

    def preprocess(self, media, texts, *args, **kwargs):
        self._texts_done, self._num_texts = 0, max(1, len(texts))
        self._report(0.1, f'decoded {len(media.video.sampled_frames)} '
                     'frames; segmenting')
        yield from super().preprocess(media, texts, *args, **kwargs)

    def forward(self, inputs, *args, **kwargs):
        preds = super().forward(inputs, *args, **kwargs)
        self._texts_done = min(self._num_texts,
                               self._texts_done + max(1, len(preds)))
        self._report(0.1 + 0.7 * self._texts_done / self._num_texts,
                     f'segmented {self._texts_done} of {self._num_texts} '
                     'expressions')
        return preds

    def visualize(self, *args, **kwargs):
        self._report(0.85, 'drawing the overlay video and the contact sheet')
        return super().visualize(*args, **kwargs)


@dataclass
class RunResult:
    """The files of one run and what to say about it."""
    out_dir: str
    overlay: str
    contact_sheet: str
    masks_zip: str
    summary: str
    seconds: float


def zip_masks(out_dir: str, outputs: dict) -> str:
    """``masks.zip`` of the run: the mask PNGs (``outputs['masks']``: one
    folder per expression) and ``predictions.json``."""
    files = [osp.join(folder, name) for folder in outputs['masks']
             for name in sorted(os.listdir(folder))]
    path = osp.join(out_dir, 'masks.zip')
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as archive:
        for file in [*files, outputs['summary']]:
            archive.write(file, osp.relpath(file, out_dir))
    return path


def describe(result: dict, video) -> str:
    """The input, then one line per expression: in how many frames the
    object is found."""
    times = result['frame_times']
    name = osp.basename(osp.normpath(video)) if isinstance(video, str) \
        else 'frames in memory'
    audio = str(result['audio_source'])
    audio = 'its own sound' if isinstance(video, str) and osp.normpath(
        audio) == osp.normpath(video) else osp.basename(audio)
    lines = [f'{name}: {len(times)} frames ({result["clip_seconds"]:g} s '
             f'clip), audio: {audio}']
    for k, pred in enumerate(result['predictions'], 1):
        found = sum(bool(m.any()) for m in pred['masks'])
        lines.append(f'{k}. {pred["text"]!r}: object in {found} of '
                     f'{len(times)} frames')
    return '\n'.join(lines)


def run_name() -> str:
    """``20261201-125154-123456789``: local time to the nanosecond, so
    that names sort in the order of the runs (they are one at a time)."""
    now = time.time_ns()
    return time.strftime('%Y%m%d-%H%M%S', time.localtime(now // 10**9)) + \
        f'-{now % 10**9:09d}'


class DemoRunner:
    """Runs submissions one at a time (the model is shared) and writes each
    run's files to ``work_dir/runs/<id>/``.

    Args:
        inferencer (ProgressInferencer): the loaded model.
        work_dir (str): where runs and uploads go.
        keep_runs (int): runs kept on disk; older ones are deleted.
    """

    def __init__(self, inferencer: ProgressInferencer, work_dir: str,
                 keep_runs: int = 20) -> None:
        self.inferencer = inferencer
        self.work_dir = osp.abspath(work_dir)
        self.runs_dir = osp.join(self.work_dir, 'runs')
        self.uploads_dir = osp.join(self.work_dir, 'uploads')
        self.keep_runs = keep_runs
        self._lock = threading.Lock()
        os.makedirs(self.runs_dir, exist_ok=True)
        os.makedirs(self.uploads_dir, exist_ok=True)

    def upload_path(self, name: str) -> str:
        """A fresh path for an uploaded file that keeps its base name, so
        that messages about it name the user's file."""
        folder = osp.join(self.uploads_dir, uuid.uuid4().hex[:12])
        os.makedirs(folder)
        return osp.join(folder, osp.basename(name) or 'upload')

    def _prune(self) -> None:
        runs = sorted(os.listdir(self.runs_dir))
        for name in runs[:max(0, len(runs) - self.keep_runs)]:
            shutil.rmtree(osp.join(self.runs_dir, name), ignore_errors=True)

    def run(self, video: str, texts: Sequence[str], audio: str | None = None,
            progress: ProgressCallback | None = None) -> RunResult:
        """Segment what each expression refers to in ``video``.

        Raises:
            The inferencer's errors (:data:`INPUT_ERRORS` for bad input).
        """
        report = progress or (lambda fraction, text: None)
        if not self._lock.acquire(blocking=False):
            report(0.0, 'waiting for the run of another user')
            self._lock.acquire()
        try:
            start = time.perf_counter()
            report(0.02, 'decoding the video and its sound')
            out_dir = osp.join(self.runs_dir, run_name())
            self.inferencer.progress = report
            try:
                result = self.inferencer(video, list(texts), audio=audio,
                                         out_dir=out_dir)
            finally:
                self.inferencer.progress = None
            outputs = result['visualization']['outputs']
            masks_zip = zip_masks(out_dir, outputs)
            self._prune()
            report(1.0, 'done')
            return RunResult(out_dir=out_dir, overlay=outputs['overlay'],
                             contact_sheet=outputs['contact_sheet'],
                             masks_zip=masks_zip,
                             summary=describe(result, video),
                             seconds=time.perf_counter() - start)
        finally:
            self._lock.release()


__all__ = ['INPUT_ERRORS', 'DemoRunner', 'ProgressInferencer', 'RunResult',
           'list_clips', 'parse_expressions', 'zip_masks']
