"""What one submission of the web demo (``tools/web_demo.py``) does,
without the page: run :class:`RefAVSInferencer` on a video, its audio and
expressions, reporting progress, and collect the files the page shows.

>>> runner = DemoRunner(ProgressInferencer(CONFIG, weights=CKPT),
...                     work_dir='work_dirs/web_demo')
>>> result = runner.run('clip.mp4', ['the red square', 'what sounds first'])
>>> result.overlay, result.contact_sheet, result.masks_zip

Errors of the input (a file that cannot be read, no audio, an empty
expression) are the inferencer's own: :data:`INPUT_ERRORS` lists their
types, which the page shows with their message, the server's folders
left out (:func:`public_message`).

Uploads are checked on the server (:func:`check_upload`: the types the page
accepts, a size limit), saved under a name of safe characters
(:func:`safe_upload_name`) and kept in a bounded number: the oldest are
deleted (``keep_uploads``), as the oldest runs are (``keep_runs``).
"""
import json
import mimetypes
import os
import os.path as osp
import re
import shutil
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..datasets.errors import MediaError, RefAVSDataError
from ..datasets.metadata import read_metadata
from .checkpoint import CheckpointError
from .inferencer import RefAVSInferencer

#: The exceptions of bad input: their message is shown as it is.
INPUT_ERRORS = (RefAVSDataError, CheckpointError, FileNotFoundError,
                ValueError)

#: ``progress(fraction, description)``.
ProgressCallback = Callable[[float, str], None]

#: File extensions the page takes, per uploader (besides any file whose
#: type, guessed from its name, is ``video/*`` or ``audio/*``).
VIDEO_EXTENSIONS = ('.mp4', '.mkv', '.webm', '.mov', '.avi', '.m4v', '.mpg',
                    '.mpeg', '.flv', '.ts', '.3gp', '.ogv', '.wmv')
AUDIO_EXTENSIONS = ('.wav', '.flac', '.mp3', '.m4a', '.aac', '.ogg', '.oga',
                    '.opus', '.aif', '.aiff', '.wma')
UPLOAD_KINDS = {'video': ('video/', VIDEO_EXTENSIONS),
                'audio': ('audio/', AUDIO_EXTENSIONS + VIDEO_EXTENSIONS)}


class UploadRefused(ValueError):
    """An upload the page does not take (type, size, name)."""


def safe_upload_name(name: str | None) -> str:
    """The base name of an uploaded file, of letters, digits, ``.``,
    ``-`` and ``_`` only (others, spaces included, become ``_``), without
    leading dots, at most 100 characters (its extension kept); ``upload``
    when nothing is left (``..``, ``/``, an empty name)."""
    base = re.split(r'[\\/]', name or '')[-1].strip()
    base = re.sub(r'[^\w.-]', '_', base, flags=re.ASCII).lstrip('.')
    if not base:
        return 'upload'
    stem, ext = osp.splitext(base)
    return stem[:100 - len(ext[:16])] + ext[:16] if stem else base[:100]


def check_upload(name: str, kind: str, size: int | None = None,
                 max_bytes: int | None = None) -> None:
    """Refuse an upload the page does not take: for ``kind`` ``'video'``
    a video type, for ``'audio'`` an audio or video type (by its name's
    extension), and at most ``max_bytes``.

    Raises:
        UploadRefused: saying which rule, naming the file.
    """
    prefix, extensions = UPLOAD_KINDS[kind]
    shown = safe_upload_name(name)
    guessed = mimetypes.guess_type(shown)[0] or ''
    ext = osp.splitext(shown)[1].lower()
    if not (ext in extensions or guessed.startswith(prefix)
            or (kind == 'audio' and guessed.startswith('video/'))):
        accepted = 'a video' if kind == 'video' else 'an audio or video'
        raise UploadRefused(
            f'{shown}: not {accepted} file ({", ".join(extensions[:6])}, '
            '...)')
    if size is not None and max_bytes is not None and size > max_bytes:
        raise UploadRefused(f'{shown}: {size / 1e6:.1f} MB, over the limit '
                            f'of {max_bytes / 1e6:g} MB')


class _TooLarge(Exception):
    """Raised inside :class:`UploadSizeLimit` when a body passes the
    limit."""


class UploadSizeLimit:
    """ASGI middleware that holds the upload limit on the server: a request
    to an upload route (NiceGUI's ``/_nicegui/client/<client>/upload/<id>``)
    whose body is over ``max_bytes`` (plus ``framing`` bytes for the
    multipart headers) is answered 413, by its ``Content-Length`` before
    any of it is read, or once the bytes received pass the limit; nothing
    of it is saved. The page's uploader refuses such files in the browser
    already; this holds for any client.

    Args:
        app: the ASGI app.
        max_bytes (int): the largest file accepted.
        pattern (str): regular expression of the upload routes' paths.
        framing (int): room for the multipart headers around the file.
    """

    def __init__(self, app, max_bytes: int,
                 pattern: str = r'/_nicegui/client/[^/]+/upload/[^/]+',
                 framing: int = 64 * 1024) -> None:
        self.app, self.max_bytes = app, int(max_bytes)
        self.pattern = re.compile(pattern)
        self.limit = self.max_bytes + framing

    async def __call__(self, scope, receive, send) -> None:
        if scope['type'] != 'http' or not self.pattern.fullmatch(
                scope.get('path', '')):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get('headers') or []).get(b'content-length', b'')
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(send)
            return
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message['type'] == 'http.request':
                received += len(message.get('body', b''))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = (f'upload refused: over the limit of {self.max_bytes / 1e6:g}'
                ' MB (--max-upload-mb)\n').encode()
        await send(dict(type='http.response.start', status=413, headers=[
            (b'content-type', b'text/plain; charset=utf-8'),
            (b'content-length', str(len(body)).encode()),
            (b'connection', b'close')]))
        await send(dict(type='http.response.body', body=body))


def public_message(error: BaseException | str) -> str:
    """An error's message for the page: each absolute path (the server's
    work dir, its data root, ...) cut to its base name (uploads are saved
    under names without spaces, so a path ends at a space)."""
    message = str(error)
    return re.sub(r'(?<![\w.])/(?:[^\s/:\'"(),]+/)+([^\s/:\'"(),]+)',
                  r'\1', message)


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
    """The files of one run and what to say about it.

    ``legend``: per expression ``index``, ``text``, ``colour`` (``#rrggbb``)
    and ``found``, for a legend beside the overlay video (the one drawn in
    its frames is under the player's controls); ``warnings``: what is
    degraded about the input.
    """
    out_dir: str
    overlay: str
    contact_sheet: str
    masks_zip: str
    summary: str
    seconds: float
    legend: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def read_legend(summary_path: str) -> list[dict]:
    """The expressions of a run's ``predictions.json``, each with its
    colour as ``#rrggbb``."""
    with open(summary_path) as f:
        summary = json.load(f)
    return [dict(index=e['index'], text=e['text'], found=e['found'],
                 colour='#{:02x}{:02x}{:02x}'.format(*e['colour']))
            for e in summary['expressions']]


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
    object is found; then the warnings about degraded input."""
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
    lines += [f'warning: {public_message(w)}' for w in result['warnings']]
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

    The disk it uses is bounded: ``keep_runs`` runs and ``keep_uploads``
    uploads (each at most the page's upload limit) are kept, the oldest
    deleted.

    Args:
        inferencer (ProgressInferencer): the loaded model.
        work_dir (str): where runs and uploads go.
        keep_runs (int): runs kept on disk; older ones are deleted.
        keep_uploads (int): uploaded files kept; older ones are deleted.
    """

    def __init__(self, inferencer: ProgressInferencer, work_dir: str,
                 keep_runs: int = 20, keep_uploads: int = 20) -> None:
        self.inferencer = inferencer
        self.work_dir = osp.abspath(work_dir)
        self.runs_dir = osp.join(self.work_dir, 'runs')
        self.uploads_dir = osp.join(self.work_dir, 'uploads')
        self.keep_runs = keep_runs
        self.keep_uploads = keep_uploads
        self._lock = threading.Lock()
        os.makedirs(self.runs_dir, exist_ok=True)
        os.makedirs(self.uploads_dir, exist_ok=True)

    def upload_path(self, name: str) -> str:
        """A fresh path for an uploaded file, in a folder of its own under
        ``uploads/`` (named in time order), that keeps its base name made
        safe (:func:`safe_upload_name`), so that messages about it name the
        user's file. The oldest uploads beyond ``keep_uploads`` are
        deleted."""
        folder = osp.join(self.uploads_dir,
                          f'{run_name()}-{uuid.uuid4().hex[:6]}')
        os.makedirs(folder)
        self._prune_folder(self.uploads_dir, self.keep_uploads)
        return osp.join(folder, safe_upload_name(name))

    @staticmethod
    def _prune_folder(folder: str, keep: int) -> None:
        names = sorted(os.listdir(folder))
        for name in names[:max(0, len(names) - keep)]:
            shutil.rmtree(osp.join(folder, name), ignore_errors=True)

    def _prune(self) -> None:
        self._prune_folder(self.runs_dir, self.keep_runs)

    def run(self, video: str, texts: Sequence[str], audio: str | None = None,
            progress: ProgressCallback | None = None) -> RunResult:
        """Segment what each expression refers to in ``video``.

        Raises:
            The inferencer's errors (:data:`INPUT_ERRORS` for bad input).
        """
        report = progress or (lambda fraction, text: None)
        for path in (video, audio):
            if isinstance(path, str) and not osp.exists(path) and \
                    osp.dirname(osp.dirname(path)) == self.uploads_dir:
                raise MediaError(path, 'this upload was deleted to free '
                                 f'space (the page keeps the last '
                                 f'{self.keep_uploads}): upload it again')
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
                             seconds=time.perf_counter() - start,
                             legend=read_legend(outputs['summary']),
                             warnings=[public_message(w)
                                       for w in result['warnings']])
        finally:
            self._lock.release()


__all__ = ['INPUT_ERRORS', 'DemoRunner', 'ProgressInferencer', 'RunResult',
           'UploadRefused', 'UploadSizeLimit', 'check_upload', 'list_clips',
           'parse_expressions', 'public_message', 'safe_upload_name',
           'zip_masks']
