"""Drive the web demo (``tools/web_demo.py``) in a real browser: headless
Chromium through Playwright. Used by its test and to measure it:

    python -m sam2love.apis.web_browser --config CONFIG --checkpoint CKPT \\
        --video clip.mp4 --text "the red square" --text "..." \\
        [--screenshot docs/web_demo.png] [--chromium /usr/bin/chromium]

starts the server on a free local port, uploads the video, enters the
expressions, submits and prints the time from the click to the overlay
video and the contact sheet in the page (JSON). It needs the ``web`` extra
and a Chromium (Debian: ``apt-get install chromium``); Playwright's own
browser download is never used.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: Flags for a headless Chromium on a machine without outside network.
CHROMIUM_ARGS = ('--headless', '--no-sandbox', '--disable-gpu',
                 '--disable-quic', '--no-first-run',
                 '--disable-background-networking',
                 '--disable-component-update', '--disable-sync')
LOCAL_HOSTS = ('127.0.0.1', 'localhost', '::1')


def find_chromium(path: str | None = None) -> str | None:
    """The Chromium binary: ``path``, ``$CHROMIUM`` or one on PATH."""
    for candidate in (path, os.environ.get('CHROMIUM'), 'chromium',
                      'chromium-browser'):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    return None


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class WebDemoServer:
    """``tools/web_demo.py`` in a subprocess on a free local port.

    Args:
        args (list[str]): its arguments (``--config``, ``--checkpoint``,
            ...) but ``--port`` / ``--host``.
        log (str): file for its output.
        timeout (float): seconds to wait for the page to answer.
    """

    def __init__(self, args: list[str], log: str,
                 timeout: float = 120.0) -> None:
        self.args, self.log, self.timeout = list(args), log, timeout
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}/'
        self.process = None

    def __enter__(self) -> 'WebDemoServer':
        env = dict(os.environ, HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1')
        env.setdefault('OMP_NUM_THREADS', '1')
        # NiceGUI takes a process with this variable for its own test mode
        env.pop('PYTEST_CURRENT_TEST', None)
        with open(self.log, 'w') as log:
            self.process = subprocess.Popen(
                [sys.executable, osp.join(ROOT, 'tools', 'web_demo.py'),
                 *self.args, '--host', '127.0.0.1', '--port', str(self.port)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f'the web demo exited with code '
                                   f'{self.process.returncode}:\n'
                                   f'{self.output()[-3000:]}')
            try:
                with urllib.request.urlopen(self.url, timeout=5) as page:
                    if page.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        self.__exit__(None, None, None)
        raise TimeoutError(f'the web demo did not answer within '
                           f'{self.timeout:g} s:\n{self.output()[-3000:]}')

    def output(self) -> str:
        with open(self.log, errors='replace') as f:
            return f.read()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class DemoPage:
    """The demo page in a Playwright page, by its elements' classes.

    ``requests`` lists every URL the page asked for, so that a check can
    tell the page needs nothing from outside the server.
    """

    def __init__(self, page, url: str) -> None:
        self.page, self.url = page, url
        self.requests: list[str] = []
        self.attempt = '0'  # the page's count of submissions
        page.on('request', lambda request: self.requests.append(request.url))
        page.goto(url)
        page.locator('.sam2love-submit').wait_for()

    def outside_requests(self) -> list[str]:
        """Requests to hosts other than this machine's."""
        return [u for u in self.requests
                if urlparse(u).scheme in ('http', 'https', 'ws', 'wss')
                and urlparse(u).hostname not in LOCAL_HOSTS]

    def _upload(self, uploader: str, label: str, path: str,
                timeout: float) -> None:
        """Give ``path`` to an uploader; wait for the page to name it in
        ``label`` (its ``data-upload`` count changes with every upload, the
        same file twice included)."""
        name = self.page.locator(label)
        before = name.get_attribute('data-upload')
        self.page.locator(f'{uploader} input[type=file]').set_input_files(path)
        self.page.wait_for_function(
            '''([sel, before]) => { const l = document.querySelector(sel);
                 return l && l.dataset.upload !== undefined
                        && l.dataset.upload !== before; }''',
            arg=[label, before], timeout=timeout * 1000)
        name.filter(has_text=osp.basename(path)).wait_for(
            timeout=timeout * 1000)

    def upload_video(self, path: str, timeout: float = 30) -> None:
        self._upload('.sam2love-video-upload', '.sam2love-video-name', path,
                     timeout)

    def upload_audio(self, path: str, timeout: float = 30) -> None:
        self._upload('.sam2love-audio-upload', '.sam2love-audio-name', path,
                     timeout)

    def set_expressions(self, texts: list[str]) -> None:
        box = self.page.locator('.sam2love-expressions textarea')
        box.fill('\n'.join(texts))

    def submit(self) -> float:
        """Click the button and wait for the page to count the
        submission; returns the click's time (perf_counter)."""
        counter = self.page.locator('.sam2love-attempt')
        before = counter.text_content()
        self.page.locator('.sam2love-submit').click()
        clicked = time.perf_counter()
        self.page.wait_for_function(
            '''(before) => document.querySelector('.sam2love-attempt')
                 .textContent !== before''', arg=before)
        self.attempt = counter.text_content()
        return clicked

    def choose_clip(self, name: str) -> None:
        """Switch to the data root's test clips and pick ``name``."""
        self.page.locator('.sam2love-source').get_by_text('Test clip').click()
        self.page.locator('.sam2love-clip').click()
        self.page.get_by_role('option', name=name, exact=True).click()
        self.page.wait_for_function(
            '''(name) => { const s = document.querySelector('.sam2love-clip');
                 const i = s && s.querySelector('input');
                 return s && (s.innerText.includes(name)
                              || (i && i.value === name)); }''', arg=name)

    def wait_result(self, timeout: float = 300) -> dict:
        """Wait for the result of the latest submission: the overlay
        video playable (its duration known) and the contact sheet decoded;
        raise if the page shows an error for it instead."""
        ms = timeout * 1000
        outcome = self.page.wait_for_function(
            '''(attempt) => {
                 const e = document.querySelector('.sam2love-error');
                 if (e && e.offsetParent !== null && e.innerText
                     && e.dataset.attempt === attempt) return 'error';
                 const r = document.querySelector('.sam2love-run');
                 return r && r.dataset.attempt === attempt ? 'ok' : false; }''',
            arg=self.attempt, timeout=ms).json_value()
        if outcome == 'error':
            raise RuntimeError('the page shows an error instead of a '
                               'result: ' + self.page.locator(
                                   '.sam2love-error').inner_text())
        video = self.page.locator('.sam2love-overlay video, '
                                  'video.sam2love-overlay').first
        video.wait_for(timeout=ms)
        self.page.wait_for_function(
            '''() => { const v = document.querySelector(
                   '.sam2love-overlay video, video.sam2love-overlay');
                 return v && v.readyState >= 1 && v.duration > 0; }''',
            timeout=ms)
        sheet = self.page.locator('.sam2love-sheet img').first
        sheet.wait_for(timeout=ms)
        self.page.wait_for_function(
            '''() => { const i = document.querySelector('.sam2love-sheet img');
                 return i && i.complete && i.naturalWidth > 0; }''',
            timeout=ms)
        return dict(
            run=self.page.locator('.sam2love-run').inner_text(),
            video_duration=video.evaluate('v => v.duration'),
            sheet_size=sheet.evaluate('i => [i.naturalWidth, i.naturalHeight]'),
            summary=self.page.locator('.sam2love-summary').inner_text())

    def wait_error(self, containing: str = '', timeout: float = 120) -> str:
        """The message shown for bad input (one that contains
        ``containing``)."""
        error = self.page.locator(
            f'.sam2love-error[data-attempt="{self.attempt}"]').filter(
            has_text=containing)
        error.wait_for(state='visible', timeout=timeout * 1000)
        return error.inner_text()

    def download_masks(self, folder: str) -> str:
        with self.page.expect_download() as info:
            self.page.locator('.sam2love-download').click()
        path = osp.join(folder, info.value.suggested_filename)
        info.value.save_as(path)
        return path


def launch_chromium(playwright, chromium: str):
    """Headless Chromium (the system's binary) with a fresh profile."""
    profile = tempfile.mkdtemp(prefix='sam2love-chromium-')
    return playwright.chromium.launch_persistent_context(
        profile, executable_path=chromium, headless=True,
        args=list(CHROMIUM_ARGS), viewport=dict(width=1400, height=900),
        accept_downloads=True)


def save_small_png(path: str, colours: int = 256) -> None:
    """Rewrite a screenshot with a palette of ``colours`` (a third of
    the size; the page has few colours but for the video and the sheet)."""
    from PIL import Image
    with Image.open(path) as image:
        small = image.convert('RGB').quantize(colours)
    small.save(path, optimize=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', required=True)
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--video', required=True, help='video to upload')
    parser.add_argument('--text', action='append', required=True)
    parser.add_argument('--repeat', type=int, default=1,
                        help='submit this many times (the figures of each)')
    parser.add_argument('--screenshot', help='PNG of the page after the run')
    parser.add_argument('--chromium', help='Chromium binary')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--work-dir', help="the server's --work-dir "
                        '(default: a temporary folder)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print('error: no Chromium found (apt-get install chromium)',
              file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright
    tmp = tempfile.mkdtemp(prefix='sam2love-web-')
    server_args = ['--config', args.config, '--checkpoint', args.checkpoint,
                   '--device', args.device,
                   '--work-dir', args.work_dir or osp.join(tmp, 'work')]
    started = time.perf_counter()
    with WebDemoServer(server_args, osp.join(tmp, 'server.log')) as server, \
            sync_playwright() as playwright:
        ready = time.perf_counter() - started
        context = launch_chromium(playwright, chromium)
        page = DemoPage(context.new_page(), server.url)
        page.upload_video(args.video)
        page.set_expressions(args.text)
        seconds, result = [], None
        for _ in range(args.repeat):
            clicked = page.submit()
            result = page.wait_result()
            seconds.append(round(time.perf_counter() - clicked, 2))
        if args.screenshot:
            page.page.mouse.move(0, 0)  # no hover highlight
            page.page.wait_for_timeout(1000)  # the progress bar's animation
            page.page.screenshot(path=args.screenshot, full_page=True)
            save_small_png(args.screenshot)
        outside = page.outside_requests()
        context.close()
    print(json.dumps(dict(server_start_s=round(ready, 1),
                          submit_to_result_s=seconds,
                          outside_requests=outside, **result), indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
