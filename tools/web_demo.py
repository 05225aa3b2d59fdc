"""A web page for SAM2-LOVE: give a video and what to segment, watch the
result.

    python tools/web_demo.py --config CONFIG --checkpoint CKPT \\
        [--port 7860] [--host 127.0.0.1] [--device cpu] \\
        [--data-root data/refavs_synthetic] [--split test_s] \\
        [--work-dir work_dirs/web_demo] [--cfg-options KEY=VALUE ...]

then open http://127.0.0.1:7860. The page takes an uploaded video (any
container PyAV reads) or one of the data root's test clips, an optional
audio file (default: the video's own sound) and one or more expressions,
one per line; it runs :class:`~sam2love.apis.RefAVSInferencer` and shows
the overlay video, the contact sheet and a zip of the masks to download.
Bad input is shown in the page with the inferencer's own message (the
server's folders left out). The server holds the page's limits itself:
uploads over ``--max-upload-mb`` are refused (413) before they are stored,
files of a type the page does not take are not kept, and only the last
``--keep-uploads`` uploads and ``--keep-runs`` runs stay on disk.

Needs the ``web`` extra (NiceGUI): ``SAM2LOVE_EXTRAS=web bash
tools/setup_env.sh``. Everything the page loads is served by this process
(no CDN, no telemetry); runs are kept in ``--work-dir``.
"""
import argparse
import logging
import os
import os.path as osp
import sys
import traceback

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
logger = logging.getLogger('sam2love.web_demo')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', required=True, help='model config')
    parser.add_argument('--checkpoint', required=True,
                        help='checkpoint of that config')
    parser.add_argument('--port', type=int, default=7860, help='HTTP port')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to listen on (0.0.0.0: every one)')
    parser.add_argument('--device', default=None,
                        help='e.g. cpu, cuda:0 (default: CUDA if available)')
    parser.add_argument('--data-root',
                        default=osp.join(ROOT, 'data', 'refavs_synthetic'),
                        help='Ref-AVS tree whose clips the page offers '
                        '(skipped when missing)')
    parser.add_argument('--split', default='test_s',
                        help='split of the data root to offer')
    parser.add_argument('--work-dir',
                        default=osp.join(ROOT, 'work_dirs', 'web_demo'),
                        help='where uploads and the runs\' files go')
    parser.add_argument('--max-upload-mb', type=float, default=500,
                        help='largest upload accepted (MB), by the page and '
                        'by the server')
    parser.add_argument('--keep-uploads', type=int, default=20,
                        help='uploaded files kept on disk (older ones are '
                        'deleted)')
    parser.add_argument('--keep-runs', type=int, default=20,
                        help='runs kept on disk (older ones are deleted)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, '
                        'xxx=yyy format')
    return parser.parse_args(argv)


def load_runner(args):
    """The model, loaded once, behind a :class:`DemoRunner`."""
    from mmengine.config import Config

    from sam2love.apis.web_runs import DemoRunner, ProgressInferencer
    model = args.config
    if args.cfg_options:
        model = Config.fromfile(args.config)
        model.merge_from_dict(args.cfg_options)
    inferencer = ProgressInferencer(model, weights=args.checkpoint,
                                    device=args.device, show_progress=False)
    return DemoRunner(inferencer, args.work_dir, keep_runs=args.keep_runs,
                      keep_uploads=args.keep_uploads)


def offered_clips(args) -> dict[str, list[str]]:
    """``{clip name: expressions}`` of the data root's split, or none."""
    from sam2love.apis.web_runs import list_clips
    from sam2love.datasets import RefAVSDataError
    if not args.data_root or not osp.isfile(
            osp.join(args.data_root, 'metadata.csv')):
        return {}
    try:
        clips = list_clips(args.data_root, args.split)
    except RefAVSDataError as e:
        logger.warning('no test clips offered: %s', e)
        return {}
    return {osp.basename(k): v for k, v in clips.items()}


def build_page(args, runner, clips: dict[str, list[str]]) -> None:
    """Register the page at ``/``: one independent state per browser tab."""
    from nicegui import events, run, ui

    from sam2love.apis.web_runs import (
        INPUT_ERRORS,
        UploadRefused,
        check_upload,
        parse_expressions,
        public_message,
        safe_upload_name,
    )

    config_name = osp.basename(args.config)
    ckpt_name = osp.basename(args.checkpoint)
    max_bytes = int(args.max_upload_mb * 1e6)

    @ui.page('/')
    def index():
        state = dict(video=None, audio=None, progress=(0.0, ''),
                     running=False, attempt=0, uploads=0)

        ui.label('SAM2-LOVE: referring audio-visual segmentation').classes(
            'text-2xl font-bold')
        ui.label(f'Model: {config_name}, {ckpt_name}. Give a video with '
                 'sound and sentences naming objects; every sentence gets '
                 'its own mask in every sampled frame.').classes(
            'text-gray-600')

        with ui.row().classes('w-full no-wrap items-start gap-6'):
            # long file names and messages wrap inside the form's column
            # (no overflow under the results)
            with ui.column().classes('w-96 shrink-0').style(
                    'overflow-wrap: anywhere'):
                sources = ['upload'] + (['clip'] if clips else [])
                source = ui.toggle(
                    {'upload': 'Upload a video', 'clip': 'Test clip'}
                    if clips else {'upload': 'Upload a video'},
                    value='upload').classes('sam2love-source')
                source.set_visibility(len(sources) > 1)

                async def keep_upload(e: events.UploadEventArguments,
                                      key: str, label) -> None:
                    """Check the file (type, size: a direct POST skips the
                    browser's checks) and save it; clear the uploader's
                    list, so that the same file can be given again later
                    (the uploader skips a file already listed); the label
                    names it."""
                    e.sender.reset()
                    try:
                        check_upload(e.file.name, key, e.file.size(),
                                     max_bytes)
                        path = runner.upload_path(e.file.name)
                        await e.file.save(path)
                    except UploadRefused as refused:
                        show_error(f'{key} file refused: {refused}')
                        return
                    except OSError as failed:  # disk full, ...
                        logger.error('upload %r not saved: %s', e.file.name,
                                     failed)
                        show_error(f'{safe_upload_name(e.file.name)}: could '
                                   f'not be saved ({failed.strerror})')
                        return
                    state[key] = path
                    state['uploads'] += 1
                    label.set_text(f'{key}: {osp.basename(path)}')
                    label.props(f'data-upload={state["uploads"]}')

                def rejected(kind: str) -> None:
                    show_error(f'{kind} file refused: over '
                               f'{args.max_upload_mb:g} MB (--max-upload-mb)'
                               f' or not a {kind} type')

                async def on_video(e: events.UploadEventArguments):
                    await keep_upload(e, 'video', video_name)

                async def on_audio(e: events.UploadEventArguments):
                    await keep_upload(e, 'audio', audio_name)

                def clear_audio():
                    state['audio'] = None
                    audio_name.set_text('audio: the video\'s own sound')

                with ui.column().classes('w-full').bind_visibility_from(
                        source, 'value', value='upload'):
                    ui.upload(label='Video (mp4, mkv, webm, mov, ...)',
                              auto_upload=True, on_upload=on_video,
                              max_file_size=max_bytes,
                              on_rejected=lambda: rejected('video')).props(
                        'accept="video/*,.mkv" flat bordered').classes(
                        'w-full sam2love-video-upload')
                    video_name = ui.label('video: none yet').classes(
                        'sam2love-video-name')
                if clips:
                    def on_clip(e):
                        texts = clips.get(e.value) or []
                        expressions.set_value('\n'.join(texts[:2]))

                    with ui.column().classes('w-full').bind_visibility_from(
                            source, 'value', value='clip'):
                        clip_select = ui.select(
                            list(clips), label=f'{args.split} clip',
                            with_input=True, on_change=on_clip).classes(
                            'w-full sam2love-clip')
                ui.upload(label='Audio file (optional)', auto_upload=True,
                          on_upload=on_audio, max_file_size=max_bytes,
                          on_rejected=lambda: rejected('audio')).props(
                    'accept="audio/*,video/*" flat bordered').classes(
                    'w-full sam2love-audio-upload')
                with ui.row().classes('items-center'):
                    audio_name = ui.label('audio: the video\'s own sound'
                                          ).classes('sam2love-audio-name')
                    ui.button('use the video\'s sound', on_click=clear_audio
                              ).props('flat dense size=sm').classes(
                        'sam2love-audio-reset')
                expressions = ui.textarea(
                    'Expressions, one per line',
                    placeholder='the red square\nthe object that sounds '
                    'first').props('outlined autogrow').classes(
                    'w-full sam2love-expressions')
                submit = ui.button('Segment').classes('sam2love-submit')
                progress = ui.linear_progress(value=0, show_value=False
                                              ).classes('sam2love-progress')
                stage = ui.label('').classes('text-sm sam2love-stage')
                error = ui.label('').classes(
                    'w-full text-red-700 whitespace-pre-wrap sam2love-error')
                error.set_visibility(False)
                # submissions so far: tells a run's error from an earlier one
                attempt = ui.label('0').classes('hidden sam2love-attempt')

            results = ui.column().classes('grow sam2love-results')
        notices = ui.element('div')

        def report(fraction: float, text: str) -> None:
            state['progress'] = (fraction, text)  # read by the timer below

        def refresh_progress():
            if state['running']:
                fraction, text = state['progress']
                progress.set_value(fraction)
                stage.set_text(text)

        ui.timer(0.25, refresh_progress)

        def show_error(message: str) -> None:
            """The message, without the server's folders, under the form;
            the results of an earlier run are cleared (they are not this
            input's); one notice at a time, at the bottom (not over the
            title)."""
            message = public_message(message)
            error.props(f'data-attempt={state["attempt"]}')
            error.set_text(message)
            error.set_visibility(True)
            stage.set_text('')
            progress.set_value(0)
            results.clear()
            notices.clear()  # the previous notice goes
            with notices:
                ui.notification(message.splitlines()[0][:200],
                                type='negative', position='bottom-right',
                                timeout=8).classes('sam2love-notice')

        async def segment():
            if state['running']:
                return
            state['attempt'] += 1
            this_attempt = state['attempt']
            attempt.set_text(str(this_attempt))
            error.set_visibility(False)
            if source.value == 'clip':
                if not clip_select.value:
                    show_error('choose a test clip')
                    return
                video = osp.join(args.data_root, 'media', clip_select.value)
            elif state['video'] is None:
                show_error('upload a video first')
                return
            else:
                video = state['video']
            texts = parse_expressions(expressions.value)
            state.update(running=True, progress=(0.0, 'starting'))
            submit.disable()
            failure = None
            try:
                result = await run.io_bound(runner.run, video, texts,
                                            state['audio'], report)
            except INPUT_ERRORS as e:
                failure = str(e)
            except Exception as e:  # keep serving; the log has the trace
                logger.error('run failed:\n%s', traceback.format_exc())
                failure = f'internal error: {type(e).__name__}: {e}'
            finally:
                state['running'] = False
                submit.enable()
            if failure is not None:  # not running: the bar stays at 0
                show_error(failure)
                return
            progress.set_value(1.0)
            stage.set_text(f'done in {result.seconds:.1f} s')
            results.clear()
            notices.clear()
            with results:
                ui.label('Overlay video').classes('text-lg font-bold')
                ui.video(result.overlay).classes('w-full max-w-3xl '
                                                 'sam2love-overlay')
                # the legend drawn in the frames is under the player's
                # controls: the same one, beside the player
                with ui.row().classes('gap-4 sam2love-legend'):
                    for item in result.legend:
                        with ui.row().classes('items-center gap-1 no-wrap'):
                            ui.element('div').classes('w-4 h-4').style(
                                f'background-color: {item["colour"]}')
                            ui.label(f'{item["index"]}. {item["text"]}' + (
                                '' if item['found'] else ' (not found)'))
                ui.label('Contact sheet').classes('text-lg font-bold')
                ui.image(result.contact_sheet).props('fit=contain').classes(
                    'w-full max-w-3xl sam2love-sheet')
                ui.button('Download the masks (zip)', icon='download',
                          on_click=lambda path=result.masks_zip:
                          ui.download.file(path, 'masks.zip')).classes(
                    'sam2love-download')
                ui.label(result.summary).classes(
                    'whitespace-pre-wrap font-mono text-sm sam2love-summary')
                ui.label(f'run {osp.basename(result.out_dir)}').classes(
                    'text-xs text-gray-500 sam2love-run').props(
                    f'data-attempt={this_attempt}')

        submit.on_click(segment)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    try:
        from nicegui import ui
    except ImportError:
        print('error: the web demo needs NiceGUI: SAM2LOVE_EXTRAS=web bash '
              'tools/setup_env.sh', file=sys.stderr)
        return 2
    from nicegui import app

    from sam2love.apis.web_runs import INPUT_ERRORS, UploadSizeLimit
    try:
        runner = load_runner(args)
    except INPUT_ERRORS as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    clips = offered_clips(args)
    app.add_middleware(UploadSizeLimit,
                       max_bytes=int(args.max_upload_mb * 1e6))
    build_page(args, runner, clips)
    print(f'web demo: http://{args.host}:{args.port} ({len(clips)} '
          f'{args.split} clips offered)', flush=True)
    ui.run(host=args.host, port=args.port, title='SAM2-LOVE demo',
           reload=False, show=False, show_welcome_message=False,
           uvicorn_logging_level='warning')
    return 0


if __name__ == '__main__':
    sys.exit(main())
