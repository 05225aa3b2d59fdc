"""tools/web_demo.py: the page in headless Chromium, and its runs
(sam2love/apis/web_runs.py) in-process.

The browser tests start the server on a free local port with the tiny
model of the inference tests and drive Debian's Chromium through
Playwright; they skip, saying why, without the ``web`` extra or without a
Chromium (``apt-get install chromium``; ``.ci/run`` installs it).
"""
import importlib.util
import json
import os.path as osp
import zipfile

import numpy as np
import pytest
from inference_helpers import (
    CONFIG,
    build_tiny_model,
    clip_dir_of,
    load_script,
    make_tiny_tree,
    save_checkpoint,
    tiny_dataset,
)
from PIL import Image

from sam2love.apis.web_browser import find_chromium
from sam2love.apis.web_runs import (
    DemoRunner,
    ProgressInferencer,
    list_clips,
    parse_expressions,
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
    tmp = tmp_path_factory.mktemp('web_demo')
    root = make_tiny_tree(str(tmp / 'tree'))
    clip_dir = clip_dir_of(tiny_dataset(root, 'test_s')[0])
    mp4 = str(tmp / 'clip.mp4')
    to_video = load_script('tools', 'clip_to_video.py')
    assert to_video.main([clip_dir, mp4]) == 0
    texts = [e['exp'] for e in to_video.clip_expressions(clip_dir)]
    ckpt = save_checkpoint(build_tiny_model(), str(tmp / 'tiny.pth'))
    return dict(tmp=tmp, root=root, clip_dir=clip_dir, mp4=mp4, ckpt=ckpt,
                texts=texts)


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
            '--work-dir', str(demo['tmp'] / 'server')]
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
    # a test clip of the data root, its expressions filled in by the page
    page.choose_clip(osp.basename(demo['clip_dir']))
    filled = page.page.locator('.sam2love-expressions textarea').input_value()
    assert filled.splitlines() == texts
    page.submit()
    result = page.wait_result(timeout=120)
    assert osp.basename(demo['clip_dir']) in result['summary']
    # everything the page loaded came from the server
    assert page.outside_requests() == []
