"""Segment what sentences refer to in a video with sound (SAM2-LOVE demo).

    python tools/demo.py VIDEO --text "the red square" [--text "..."] \\
        --config CONFIG --checkpoint CKPT [--out DIR] [--audio WAV] \\
        [--device cpu] [--propagate | --stream [--end E]] [--start S] \\
        [--fps F] [--masks-format png|rle|none] [--no-overlay] \\
        [--opacity A] [--sheet-colours N] [--batch-size B] [--no-progress]

VIDEO is a video file (any container / codec PyAV reads: mp4, mkv, webm,
mov, avi, ...), a Ref-AVS clip folder (``frames/`` + ``audio.wav``) or a
folder of frames. The sound is the video's own track unless ``--audio`` is
given. The model sees ``num_frames`` frames at its clip rate (10 frames,
one a second, for Ref-AVS) from ``--start`` on; ``--propagate`` also tracks
the objects through every decoded frame of that window; ``--stream`` tracks
them through every frame to the video's end (or ``--end``), decoding,
tracking and writing frame by frame in memory that does not grow with the
video. All expressions share one pass of the encoders (``--batch-size``
splits them).

Writes to ``--out`` (default ``demo_out``):

    overlay.mp4                     masks of every expression in its own
                                    colour, with a legend, and the sound
    contact_sheet.png               the sampled frames with overlays
    masks/expression_<k>/00000.png  0/255 masks at the frame size
    predictions.json                expressions, colours, frame times,
                                    warnings about degraded input

The config, the expressions, the video and its sound are checked before
the model is loaded, so that bad input fails in seconds with the file
named; a degraded input (a video shorter than the model's clip, sound
padded with silence) is said (``warning: ...``) and recorded.
"""
import argparse
import os
import sys
import time

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('video', help='video file, clip folder or folder '
                        'of frames')
    parser.add_argument('--text', action='append', required=True,
                        help='a referring expression (repeat for several)')
    parser.add_argument('--config', required=True, help='model config')
    parser.add_argument('--checkpoint', required=True,
                        help='checkpoint of that config')
    parser.add_argument('--out', default='demo_out', help='output folder')
    parser.add_argument('--audio', help='audio file to use instead of the '
                        "video's own track")
    parser.add_argument('--device', default=None,
                        help='e.g. cpu, cuda:0 (default: CUDA if available)')
    parser.add_argument('--propagate', action='store_true',
                        help='track through every decoded frame, not only '
                        'the sampled ones')
    parser.add_argument('--stream', action='store_true',
                        help='track through every frame to the end of the '
                        'video (or --end), in bounded memory')
    parser.add_argument('--end', type=float, default=None,
                        help='with --stream: stop at this time (s)')
    parser.add_argument('--masks-format', choices=('png', 'rle', 'none'),
                        default='png', help='with --stream: per-frame '
                        'masks as PNGs, RLE lines (masks.jsonl) or none')
    parser.add_argument('--no-overlay', action='store_true',
                        help='with --stream: do not write overlay.mp4')
    parser.add_argument('--start', type=float, default=0.0,
                        help='where the clip starts in the video (s)')
    parser.add_argument('--fps', type=float, default=None,
                        help='frame rate of a folder of frames (default: '
                        'the frames are already at the clip rate)')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='mask opacity in the drawings')
    parser.add_argument('--sheet-colours', type=int, default=None,
                        help='save the contact sheet with a palette of this '
                        'many colours (e.g. 256: a third of the size)')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='expressions per pass (default: all in one)')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bars')
    return parser.parse_args(argv)


def describe_runs(indices: list[int], times: list[float]) -> str:
    """``': 0-3, 5 s'``: the times of runs of consecutive frames."""
    runs, first = [], None
    for j, i in enumerate(indices):
        first = i if first is None else first
        if j + 1 == len(indices) or indices[j + 1] != i + 1:
            runs.append(f'{times[first]:g}' if first == i
                        else f'{times[first]:g}-{times[i]:g}')
            first = None
    return f': {", ".join(runs)} s' if runs else ''


def check_inputs(args) -> None:
    """Read the config, the expressions, the video and its sound before the
    model is built (a bad input fails in seconds, not after the model
    load); raise the inferencer's own errors."""
    from mmengine.config import Config

    from sam2love.apis.checks import check_texts, check_window
    from sam2love.apis.inferencer import clip_settings
    from sam2love.apis.media import load_clip_media
    check_texts(args.text)
    check_window(args.start, args.end)
    if not os.path.isfile(args.config):
        raise FileNotFoundError(f'config {args.config} does not exist')
    num_frames, seconds_per_frame = clip_settings(Config.fromfile(args.config))
    load_clip_media(args.video, args.audio, num_frames=num_frames,
                    seconds_per_frame=seconds_per_frame, start=args.start,
                    video_fps=args.fps)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    from sam2love.apis import CheckpointError, RefAVSInferencer
    from sam2love.datasets import RefAVSDataError
    if args.stream and args.propagate:
        print('error: --stream and --propagate do not combine',
              file=sys.stderr)
        return 2
    if args.end is not None and not args.stream:
        print('error: --end is used only with --stream', file=sys.stderr)
        return 2
    extra = dict(stream=True, end=args.end, masks_format=args.masks_format,
                 overlay=not args.no_overlay) if args.stream else {}
    try:
        check_inputs(args)
        inferencer = RefAVSInferencer(
            args.config, weights=args.checkpoint, device=args.device,
            show_progress=not args.no_progress)
        result = inferencer(
            args.video, args.text, audio=args.audio, start=args.start,
            propagate=args.propagate, video_fps=args.fps,
            batch_size=args.batch_size, out_dir=args.out,
            opacity=args.opacity, sheet_colours=args.sheet_colours, **extra)
    except (RefAVSDataError, CheckpointError, FileNotFoundError,
            ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    outputs = result['visualization']['outputs']
    times = result['frame_times']
    print(f'{len(times)} frame{"s" if len(times) != 1 else ""} '
          f'({result["clip_seconds"]:g} s clip, audio from '
          f'{result["audio_source"]})')
    for warning in result['warnings']:
        print(f'warning: {warning}')
    for k, pred in enumerate(result['predictions'], 1):
        found = pred.get('frames_with_object')
        if found is None:
            found = [i for i, m in enumerate(pred['masks']) if m.any()]
        if not found:  # the legend says "not found" too
            print(f'  {k}. {pred["text"]!r}: not found (no frame has it)')
            continue
        print(f'  {k}. {pred["text"]!r}: object in {len(found)} of '
              f'{len(times)} frames{describe_runs(found, times)}')
    masks = outputs['masks']
    print(f'overlay video: {outputs["overlay"]}')
    print(f'contact sheet: {outputs["contact_sheet"]}')
    if isinstance(masks, list):
        print(f'mask PNGs:     {os.path.dirname(masks[0])}/')
    elif masks:
        print(f'mask RLEs:     {masks}')
    print(f'summary:       {outputs["summary"]}')
    print(f'wall time: {time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
