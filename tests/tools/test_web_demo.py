"""tools/web_demo.py: the page in headless Chromium, and its runs
(sam2love/apis/web_runs.py) in-process.

The browser tests start the server on a free local port with the tiny
model of the inference tests and drive Debian's Chromium through
Playwright; they skip, saying why, without the ``web`` extra or without a
Chromium (``apt-get install chromium``; ``.ci/run`` installs it).
"""
import importlib.util
import json
import os
import os.path as osp
import zipfile

import numpy as np
import pytest
from inference_helpers import CONFIG, tiny_clip_video
from PIL import Image

from sam2love.apis.web_browser import find_chromium
from sam2love.apis.web_runs import (
    DemoRunner,
    ProgressInferencer,
    UploadRefused,
    UploadSizeLimit,
    check_upload,
    list_clips,
    parse_expressions,
    public_message,
    safe_upload_name,
)
from sam2love.datasets import MediaError
from sam2love.datasets.video import write_video

T = 4  # frames (seconds) of the tiny preset's clips
MISSING_WEB = [name for name in ('nicegui', 'playwright')
               if importlib.util.find_spec(name) is None]
CHROMIUM = find_chromium()
needs_browser = pytest.mark.skipif(
    bool(MISSING_WEB) or CHROMIUM is None,
    reason=(f'the web extra is not installed ({", ".join(MISSING_WEB)} '
            'missing: SAM2LOVE_EXTRAS=web bash tools/setup_env.sh)'
            if MISSING_WEB else
            'no Chromium on PATH (apt-get install chromium; .ci/run does)'))


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """A tiny synthetic tree, one of its test_s clips as an mp4 with sound,
    its expressions, and a random checkpoint of the tiny model."""
    return tiny_clip_video(tmp_path_factory.mktemp('web_demo'), 'test_s')


# ---------------------------------------------------------------- in-process
def test_parse_expressions_keeps_inner_blank_lines_for_the_check():
    assert parse_expressions('') == [] and parse_expressions(' \n\n') == []
    assert parse_expressions('the red square\n the cat \n\n') == [
        'the red square', 'the cat']
    assert parse_expressions('a\n  \nb') == ['a', '', 'b']


def test_list_clips_gives_the_split_folders_and_expressions(demo):
    clips = list_clips(demo['root'], 'test_s')
    assert demo['clip_dir'] in clips
    assert clips[demo['clip_dir']] == demo['texts']
    assert all(osp.isdir(folder) for folder in clips)


@pytest.fixture(scope='module')
def runner(demo):
    inferencer = ProgressInferencer(CONFIG, weights=demo['ckpt'],
                                    device='cpu', show_progress=False)
    return DemoRunner(inferencer, str(demo['tmp'] / 'work'), keep_runs=2)


def test_runner_reports_progress_and_collects_the_files(demo, runner):
    calls = []
    texts = demo['texts'][:2]
    result = runner.run(demo['mp4'], texts,
                        progress=lambda f, text: calls.append((f, text)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any('segmented 2 of 2 expressions' in text for _, text in calls)
    assert osp.isfile(result.overlay) and osp.isfile(result.contact_sheet)
    with zipfile.ZipFile(result.masks_zip) as archive:
        names = set(archive.namelist())
        summary = json.loads(archive.read('predictions.json'))
    assert {f'masks/expression_{k}/{i:05d}.png'
            for k in (1, 2) for i in range(T)} <= names
    assert [e['text'] for e in summary['expressions']] == texts
    assert result.summary.splitlines()[1].startswith(f'1. {texts[0]!r}')
    for _ in range(2):  # only keep_runs runs stay on disk
        runner.run(demo['clip_dir'], texts[:1])
    assert not osp.exists(result.out_dir)


@pytest.mark.parametrize('name,safe', [
    ('..', 'upload'), ('.', 'upload'), ('', 'upload'), (None, 'upload'),
    ('../../etc/passwd', 'passwd'), ('C:\\Users\\me\\clip.mp4', 'clip.mp4'),
    ('.hidden.mp4', 'hidden.mp4'), ('my clip (1).mp4', 'my_clip__1_.mp4'),
    ('x' * 300 + '.mp4', 'x' * 96 + '.mp4'), ('vidéo.mp4', 'vid_o.mp4')])
def test_upload_names_are_made_safe(name, safe):
    assert safe_upload_name(name) == safe


def test_uploads_stay_in_their_folder_and_are_bounded(tmp_path, demo):
    runner = DemoRunner(None, str(tmp_path / 'work'), keep_uploads=3)
    paths = []
    for name in ('..', '../../escape.mp4', 'a.mp4', 'b.mp4', 'c.mp4'):
        path = runner.upload_path(name)
        assert osp.dirname(osp.dirname(path)) == runner.uploads_dir
        with open(path, 'wb') as f:  # no IsADirectoryError for '..'
            f.write(b'x')
        paths.append(path)
    assert osp.basename(paths[0]) == 'upload'
    assert osp.basename(paths[1]) == 'escape.mp4'
    kept = sorted(os.listdir(runner.uploads_dir))
    assert len(kept) == 3  # the oldest are deleted
    assert [osp.exists(p) for p in paths] == [False, False, True, True, True]
    # a tab that still names a deleted upload is told to upload it again
    with pytest.raises(MediaError, match='this upload was deleted to free '
                       r'space \(the page keeps the last 3\): upload it '
                       'again'):
        runner.run(paths[0], ['the red square'])


@pytest.mark.parametrize('name,kind,size,refused', [
    ('clip.mp4', 'video', 10, None), ('clip.MKV', 'video', 10, None),
    ('notes.txt', 'video', 10, 'notes.txt: not a video file'),
    ('sound.wav', 'video', 10, 'sound.wav: not a video file'),
    ('sound.wav', 'audio', 10, None), ('clip.mp4', 'audio', 10, None),
    ('..', 'audio', 10, 'upload: not an audio or video file'),
    ('clip.mp4', 'video', 3_000_000,
     r'clip.mp4: 3.0 MB, over the limit of 1 MB'),
])
def test_uploads_of_other_types_or_sizes_are_refused(name, kind, size,
                                                     refused):
    if refused is None:
        check_upload(name, kind, size, 1_000_000)
    else:
        with pytest.raises(UploadRefused, match=refused):
            check_upload(name, kind, size, 1_000_000)


def test_messages_for_the_page_leave_the_server_folders_out(tmp_path):
    path = str(tmp_path / 'work' / 'uploads' / '2026-ab' / 'broken.mp4')
    error = MediaError(path, "cannot open the video (Invalid data found "
                       f"when processing input: '{path}')")
    message = public_message(error)
    assert message == ("broken.mp4: cannot open the video (Invalid data "
                       "found when processing input: 'broken.mp4')")
    assert public_message('give at least one expression') == \
        'give at least one expression'


def asgi_post(app, body: bytes, path: str, length: bool = True) -> tuple:
    """POST ``body`` (in 64 KiB messages) to an ASGI app; returns the
    status and how many bytes the app read."""
    import asyncio
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)] or [b'']
    messages = [dict(type='http.request', body=c, more_body=i + 1 < len(
        chunks)) for i, c in enumerate(chunks)]
    sent = []

    async def receive():
        return messages.pop(0) if messages else dict(
            type='http.disconnect')

    async def send(message):
        sent.append(message)

    headers = [(b'content-length', str(len(body)).encode())] if length \
        else []
    scope = dict(type='http', method='POST', path=path, headers=headers)
    asyncio.run(app(scope, receive, send))
    return sent[0]['status']


def test_the_server_refuses_uploads_over_the_limit():
    """``--max-upload-mb`` on the server: 413 before a byte is read when
    the length is declared, once the limit is passed when it is not;
    other routes and smaller bodies pass."""
    read = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            read.append(len(message.get('body', b'')))
            if not message.get('more_body'):
                break
        await send(dict(type='http.response.start', status=200, headers=[]))
        await send(dict(type='http.response.body', body=b'ok'))

    limited = UploadSizeLimit(app, max_bytes=1_000_000)
    route = '/_nicegui/client/abc/upload/12'
    big = b'x' * 3_000_000
    assert asgi_post(limited, big, route) == 413 and read == []
    assert asgi_post(limited, big, route, length=False) == 413
    assert 1_000_000 < sum(read) <= 1_000_000 + 64 * 1024 + 65536
    read.clear()
    assert asgi_post(limited, b'x' * 900_000, route) == 200
    assert sum(read) == 900_000
    assert asgi_post(limited, big, '/_nicegui/other') == 200


def test_runner_passes_the_inferencers_errors_on(runner):
    with pytest.raises(MediaError, match='no audio track'):
        runner.run(np.zeros((T, 8, 8, 3), np.uint8), ['the red square'])
    with pytest.raises(ValueError, match='give at least one expression'):
        runner.run(np.zeros((T, 8, 8, 3), np.uint8), [])
    assert runner._lock.acquire(blocking=False)  # released after errors
    runner._lock.release()


# ------------------------------------------------------------------ browser
@pytest.fixture(scope='module')
def browser_page(demo):
    """The server on a free port and the page open in headless Chromium."""
    from playwright.sync_api import sync_playwright

    from sam2love.apis.web_browser import (
        DemoPage,
        WebDemoServer,
        launch_chromium,
    )
    args = ['--config', CONFIG, '--checkpoint', demo['ckpt'],
            '--device', 'cpu', '--data-root', demo['root'],
            '--work-dir', str(demo['tmp'] / 'server'),
            '--max-upload-mb', '1']
    with WebDemoServer(args, str(demo['tmp'] / 'server.log')) as server, \
            sync_playwright() as playwright:
        context = launch_chromium(playwright, CHROMIUM)
        page = DemoPage(context.new_page(), server.url)
        yield dict(server=server, page=page, context=context)
        context.close()


@needs_browser
def test_page_shows_bad_input_with_the_inferencers_message(demo,
                                                           browser_page):
    """An unreadable file, an empty expression, a video without sound:
    each shown with the inferencer's words; then an audio file fixes it."""
    page = browser_page['page']
    broken = demo['tmp'] / 'broken.mp4'
    broken.write_bytes(b'this is not a video' * 10)
    page.upload_video(str(broken))
    page.set_expressions(['the red square'])
    page.submit()
    message = page.wait_error(containing='cannot open the video')
    assert message.split(':')[0].endswith('broken.mp4')
    # an empty expression between two: the inferencer's own words
    page.upload_video(demo['mp4'])
    page.set_expressions([demo['texts'][0], '', demo['texts'][1]])
    page.submit()
    assert page.wait_error(containing='is empty').startswith(
        "expression 1 is empty ('')")
    # a video without sound: refused until an audio file is given
    frames = [np.asarray(Image.open(osp.join(demo['clip_dir'], 'frames',
                                             f'{i}.jpg'))) for i in range(T)]
    silent = str(demo['tmp'] / 'silent.mp4')
    write_video(silent, frames, fps=1.0)
    page.upload_video(silent)
    page.set_expressions(demo['texts'][:1])
    page.submit()
    message = page.wait_error(containing='no audio track')
    assert message.split(':')[0].endswith('silent.mp4')
    page.upload_audio(osp.join(demo['clip_dir'], 'audio.wav'))
    page.submit()
    result = page.wait_result(timeout=120)
    assert 'silent.mp4' in result['summary'] and 'audio: audio.wav' in \
        result['summary']
    assert browser_page['server'].alive()
    page.page.locator('.sam2love-audio-reset').click()  # back to the video's
    page.page.get_by_text("audio: the video's own sound").wait_for()
    # a long message (a long file name) wraps inside the form's column;
    # the server's folders are left out; one notice at a time
    long_name = demo['tmp'] / ('a' * 90 + '.mp4')
    long_name.write_bytes(b'not a video either' * 10)
    page.upload_video(str(long_name))
    page.submit()
    message = page.wait_error(containing='cannot open the video')
    assert message.startswith('a' * 90 + '.mp4: cannot open the video')
    assert str(demo['tmp']) not in message and '/uploads/' not in message
    for label in ('.sam2love-error', '.sam2love-video-name'):
        fits = page.page.evaluate('''(sel) => {
            const e = document.querySelector(sel);
            const r = document.querySelector('.sam2love-results');
            const b = e.getBoundingClientRect();
            return e.scrollWidth <= e.clientWidth + 1
                && b.right <= r.getBoundingClientRect().left; }''', label)
        assert fits, f'{label} runs under the results column'
    page.page.wait_for_function(
        "() => document.querySelectorAll('.q-notification').length === 1")


def upload_url(page, uploader: str) -> str:
    """Where the page's uploader posts its files (NiceGUI's route of this
    tab and element)."""
    client = page.page.evaluate('window.clientId')
    element = page.page.locator(uploader).get_attribute('id').lstrip('c')
    return f'{page.url}_nicegui/client/{client}/upload/{element}'


@needs_browser
def test_the_server_holds_the_upload_limits(demo, browser_page):
    """Direct POSTs to the uploader's route (no browser checks): over
    --max-upload-mb (1 MB here) refused with 413 (or the connection closed
    under the upload), a type the page does not
    take or a name '..' not kept, each said in the page; nothing lands in
    uploads/ and the server log has no traceback."""
    page = browser_page['page']
    uploads = demo['tmp'] / 'server' / 'uploads'
    before = sorted(os.listdir(uploads))
    url = upload_url(page, '.sam2love-video-upload')

    def post(name: str, size: int) -> int:
        return page.page.request.post(url, multipart=dict(file=dict(
            name=name, mimeType='video/mp4', buffer=b'x' * size))).status

    from playwright.sync_api import Error as PlaywrightError
    try:
        assert post('big.mp4', 3_000_000) == 413
    except PlaywrightError as err:
        # refused before the whole body was sent: the server closes the
        # connection under the upload (seen on a loaded machine)
        assert 'EPIPE' in err.message or 'ECONNRESET' in err.message, err
    assert post('notes.txt', 1000) == 200
    assert page.wait_error(containing='notes.txt').startswith(
        'video file refused: notes.txt: not a video file')
    assert post('..', 1000) == 200
    assert page.wait_error(containing='upload:').startswith(
        'video file refused: upload: not a video file')
    assert sorted(os.listdir(uploads)) == before
    log = browser_page['server'].output()
    assert 'Traceback' not in log and 'IsADirectoryError' not in log


@needs_browser
def test_page_segments_an_uploaded_mp4_for_two_expressions(demo,
                                                           browser_page,
                                                           tmp_path):
    page = browser_page['page']
    texts = demo['texts'][:2]
    page.upload_video(demo['mp4'])
    page.set_expressions(texts)
    page.submit()
    result = page.wait_result(timeout=120)
    assert result['video_duration'] == pytest.approx(T, abs=0.5)
    width, height = result['sheet_size']
    assert width > T * 64 and height > 48
    assert all(repr(text) in result['summary'] for text in texts)
    assert 'done in' in page.page.locator('.sam2love-stage').inner_text()
    assert not page.page.locator('.sam2love-error').is_visible()
    with zipfile.ZipFile(page.download_masks(str(tmp_path))) as archive:
        summary = json.loads(archive.read('predictions.json'))
        assert 'masks/expression_2/00000.png' in archive.namelist()
    assert [e['text'] for e in summary['expressions']] == texts
    # the legend, beside the player (the one in the frames is under its
    # controls)
    legend = page.page.locator('.sam2love-legend').inner_text()
    assert all(f'{k}. {text}' in legend for k, text in enumerate(texts, 1))
    # a new error clears the result: it is not this input's
    page.set_expressions([])
    page.submit()
    page.wait_error(containing='give at least one expression')
    assert page.page.locator('.sam2love-run').count() == 0
    assert page.page.locator('.sam2love-overlay').count() == 0
    page.set_expressions(texts)
    # a test clip of the data root, its expressions filled in by the page
    page.choose_clip(osp.basename(demo['clip_dir']))
    filled = page.page.locator('.sam2love-expressions textarea').input_value()
    assert filled.splitlines() == texts
    page.submit()
    result = page.wait_result(timeout=120)
    assert osp.basename(demo['clip_dir']) in result['summary']
    # everything the page loaded came from the server
    assert page.outside_requests() == []
