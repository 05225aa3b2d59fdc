"""Inference benchmarks: stages against bare SAM2, K expressions, memory.

    python tools/analysis_tools/benchmark.py CONFIG [--size 256]
        [--frames 10] [--track-frames 30] [--repeat 2] [--amp] [--compile]
        [--expressions 1 4 16] [--memory-seconds 10 60 600
        [--memory-fps 5] [--memory-size 96] [--checkpoint CKPT]]
        [--out bench.json] [--device cpu] [--cfg-options ...]

**Stages** (always): a random clip (``--frames`` sampled frames, 16 kHz
audio of one second per frame, one expression) and ``--track-frames``
frames to track, at SAM2's input size ``--size``. SAM2-LOVE's path is
timed stage by stage: the tri-modal encoders, the fusion neck, SAM2 on
frame 0 (prompted by the token) and tracking per frame (the
``SAM2LOVE.track`` that the inferencer
uses). In the same run the same SAM2 tracks the same frames from a
frame-0 mask prompt ("bare SAM2", as ``SAM2VideoPredictor.add_new_mask``),
the two trackers fed each frame in turn so that a shared CPU's load
falls on both alike;
the overhead ratio is SAM2-LOVE's time over bare SAM2's for the tracked
frames, and the break-even length is how many frames make it <= 1.10.
Each figure is the minimum over ``--repeat`` runs after a short warm-up
pass.

**K expressions** (``--expressions``): K expressions in one pass (shared
encoders and image encoder, K objects tracked as a batch) against K times
one expression.

**Memory** (``--memory-seconds``): peak RSS of ``RefAVSInferencer`` on
synthetic videos of those lengths (``--memory-fps``, ``--memory-size``
px, with sound), each case in a fresh subprocess (its ``VmHWM``):
``stream=True`` (every frame to the end, masks and overlay written) and
the windowed path over the whole video (``propagate=True`` with the T
sampled frames spread over the video, so that its window is the whole
video: it holds every frame). Videos are made
in a temporary folder.

Everything printed is written as JSON with ``--out``.
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEXT = 'The object making the loudest sound.'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Inference benchmarks')
    parser.add_argument('config')
    parser.add_argument('--size', type=int, default=None,
                        help="SAM2's input size (default: the config's)")
    parser.add_argument('--frames', type=int, default=10,
                        help='sampled frames of the prompt window')
    parser.add_argument('--track-frames', type=int, default=30,
                        help='frames tracked (frame 0 included)')
    parser.add_argument('--repeat', type=int, default=2)
    parser.add_argument('--expressions', type=int, nargs='*', default=[],
                        help='K values of the K-expression benchmark')
    parser.add_argument('--memory-seconds', type=float, nargs='*',
                        default=[], help='video lengths of the memory '
                        'benchmark (s)')
    parser.add_argument('--memory-fps', type=float, default=5.0)
    parser.add_argument('--memory-size', type=int, default=96)
    parser.add_argument('--memory-windowed-max', type=float, default=60.0,
                        help='longest video of the windowed (non-streaming) '
                        'memory case (s)')
    parser.add_argument('--memory-modes', nargs='+',
                        choices=('stream', 'windowed'),
                        default=['stream', 'windowed'])
    parser.add_argument('--memory-timeout', type=float, default=1800,
                        help='seconds a memory case may take')
    parser.add_argument('--checkpoint', default=None,
                        help='weights for the memory benchmark')
    parser.add_argument('--skip-stages', action='store_true')
    parser.add_argument('--amp', action='store_true',
                        help='bfloat16 autocast')
    parser.add_argument('--compile', action='store_true',
                        help="torch.compile SAM2's image encoder (GPU)")
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--out', default=None, help='JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--memory-worker', nargs=3,
                        metavar=('VIDEO', 'MODE', 'OUT'),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def peak_rss_mb() -> float:
    """This process's peak resident set size (MiB): ``VmHWM`` of
    ``/proc/self/status`` where there is one (``ru_maxrss`` survives
    ``execve``, so a subprocess would inherit its parent's peak), else
    ``ru_maxrss``."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    """Wall time of a block, synchronising CUDA."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith('cuda')

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.start


# ---------------------------------------------------------------- model
def build_model(args):
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    import sam2love  # noqa: F401  (registers the components)
    from sam2love.utils import load_config
    cfg = load_config(args.config, args.cfg_options)
    if args.size:
        cfg.model.decode_head.image_size = args.size
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    # a random SAM2 scores every object ~0 and then outputs "no object";
    # a positive bias keeps the masks (and their cost) real
    obj = model.decode_head.sam.sam_mask_decoder.pred_obj_score_head
    with torch.no_grad():
        obj.layers[-1].bias.add_(20.0)
    model = model.to(args.device).eval()
    if args.compile:
        if not args.device.startswith('cuda'):
            print('--compile: on a CPU the compile time dominates; '
                  'compiling anyway')
        sam = model.decode_head.sam
        sam.image_encoder = torch.compile(sam.image_encoder)
    return model


def random_inputs(model, frames: int, tracked: int, device: str):
    """Normalised (1, T, 3, H, W) sampled frames, (1, L) audio, the
    (N, 3, S, S) frames to track and a frame-0 mask (1, 1, S, S)."""
    g = torch.Generator().manual_seed(0)
    size = model.decode_head.sam.image_size
    vision = model.backbone.vision_encoder
    vsize = getattr(getattr(vision, 'config', None), 'image_size', size)
    clip = torch.rand(1, frames, 3, vsize, vsize, generator=g)
    track = torch.rand(tracked, 3, size, size, generator=g)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    audio = 0.1 * torch.randn(1, frames * 16000, generator=g)
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4:size // 2, size // 4:size // 2] = 1
    return dict(frames=((clip - mean) / std).to(device),
                audio=audio.to(device),
                track=((track - mean) / std).to(device),
                mask=mask.to(device))


def autocast(args):
    if not args.amp:
        return torch.autocast(args.device.split(':')[0], enabled=False)
    return torch.autocast(args.device.split(':')[0], dtype=torch.bfloat16)


@torch.no_grad()
def prompt_pass(model, inputs, texts, args) -> tuple[torch.Tensor, dict]:
    """Encoders and fusion of K expressions: (K, 1, D) prompt, times (what
    ``SAM2LOVE.prompts`` runs, timed stage by stage)."""
    from sam2love.models.segmentors.sam2love import repeat_clip_features
    times = {}
    with autocast(args):
        with Timer(args.device) as t:
            clip = model.frozen_clip_features(inputs, sam2_levels=False)
            text = model.frozen_text_features(texts)
        times['encoders'] = t.seconds
        feats = dict(repeat_clip_features(clip, len(texts)), **text)
        with Timer(args.device) as t:
            prompt = model.extract_feat(feats, texts)
        times['fusion'] = t.seconds
    return prompt, times


@torch.no_grad()
def paired_pass(model, inputs, texts, args, bare: bool = True) -> dict:
    """SAM2-LOVE (encoders, fusion, token-prompted SAM2: ``SAM2LOVE.track``)
    and bare SAM2 (the same SAM2 from a frame-0 mask) on the same frames,
    pushed to the two trackers in turn, frame by frame, so that both see
    the same load of a shared CPU. Times in s."""
    from sam2love.models.sam2 import StreamingTracker
    head = model.decode_head
    prompt, times = prompt_pass(model, inputs, texts, args)
    frames, n = inputs['track'], len(inputs['track'])
    love = model.track(prompt, iter(frames), num_frames=n)
    steps = dict(love=lambda frame: next(love))
    if bare:
        tracker = StreamingTracker(
            head.sam, len(texts), n, head.memory_dtype,
            tracking_heads=head.tracking_decoder_heads(),
            frozen_encoder=head.image_encoder_frozen)
        mask = dict(mask_inputs=inputs['mask'].expand(len(texts), -1, -1, -1))
        steps['bare'] = lambda frame: tracker.push(
            head.fit_frames(frame[None]),
            frame0=mask if tracker.frame_idx == 0 else None)
    spent = {name: [] for name in steps}
    with autocast(args):
        for frame in frames:
            for name, step in steps.items():
                with Timer(args.device) as t:
                    step(frame)
                spent[name].append(t.seconds)
    out = {}
    for name, seconds in spent.items():
        out[name] = dict(sam2_frame0=seconds[0],
                         tracking_per_frame=sum(seconds[1:]) / max(1, n - 1))
    out['love'].update(times)
    return out


def warm_up(model, args) -> None:
    """One short pass (one-off start-up costs)."""
    paired_pass(model, random_inputs(model, args.frames, 2, args.device),
                [TEXT], args)


def stage_benchmark(model, args) -> dict:
    inputs = random_inputs(model, args.frames, args.track_frames,
                           args.device)
    n = args.track_frames
    runs = [paired_pass(model, inputs, [TEXT], args)
            for _ in range(args.repeat)]
    love, bare = ({key: min(r[name][key] for r in runs) for key in
                   runs[0][name]} for name in ('love', 'bare'))
    love_total = love['encoders'] + love['fusion'] + love['sam2_frame0'] + \
        (n - 1) * love['tracking_per_frame']
    bare_total = bare['sam2_frame0'] + (n - 1) * bare['tracking_per_frame']
    prompt_extra = love['encoders'] + love['fusion'] + love['sam2_frame0'] \
        - bare['sam2_frame0']
    per_frame_extra = love['tracking_per_frame'] - bare['tracking_per_frame']
    # frames n at which love(n) / bare(n) <= 1.10
    slack = 0.10 * bare['tracking_per_frame'] - per_frame_extra
    break_even = None
    if slack > 0:
        need = (prompt_extra - 0.10 * bare['sam2_frame0']) / slack + 1
        break_even = max(1, int(np.ceil(need)))
    return dict(
        sam2love=dict(love, total=love_total, fps=n / love_total),
        bare_sam2=dict(bare, total=bare_total, fps=n / bare_total),
        overhead_ratio=love_total / bare_total,
        frames_for_ratio_1_10=break_even,
        peak_rss_mb=peak_rss_mb(),
        peak_cuda_mb=torch.cuda.max_memory_allocated() / 2 ** 20
        if args.device.startswith('cuda') else None)


def expressions_benchmark(model, args) -> list:
    inputs = random_inputs(model, args.frames, args.track_frames,
                           args.device)
    rows = []
    for k in args.expressions:
        texts = [f'{TEXT} ({i})' for i in range(k)]
        runs = [paired_pass(model, inputs, texts, args, bare=False)['love']
                for _ in range(args.repeat)]
        times = {key: min(r[key] for r in runs) for key in runs[0]}
        total = times['encoders'] + times['fusion'] + times['sam2_frame0'] \
            + (args.track_frames - 1) * times['tracking_per_frame']
        rows.append(dict(k=k, seconds=total, **times))
    base = next((r['seconds'] for r in rows if r['k'] == 1), None)
    for row in rows:
        row['vs_k_times_one'] = None if base is None else \
            row['seconds'] / (row['k'] * base)
    return rows


# ---------------------------------------------------------------- memory
def make_video(path: str, seconds: float, fps: float, size: int) -> str:
    """A moving square over noise, with a tone, at ``fps``."""
    from sam2love.datasets.video_writer import write_video
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    n = int(round(seconds * fps))

    def frames():
        for i in range(n):
            frame = background.copy()
            x = int((size // 2) * (1 + np.sin(i / fps)) / 2)
            frame[size // 4:size // 4 + size // 3, x:x + size // 3] = \
                (230, 40, 40)
            yield frame

    rate = 16000
    t = np.arange(int(seconds * rate)) / rate
    audio = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    write_video(path, frames(), fps, audio, rate)
    return path


def memory_worker(args) -> None:
    """One memory case in this (fresh) process; JSON to OUT."""
    from sam2love.apis import RefAVSInferencer
    video, mode, out = args.memory_worker
    import av
    with av.open(video) as container:
        stream = container.streams.video[0]
        seconds = float(stream.duration * stream.time_base)
    start_rss = peak_rss_mb()
    inferencer = RefAVSInferencer(args.config, weights=args.checkpoint,
                                  device=args.device, show_progress=False)
    if mode == 'windowed':  # the T sampled frames spread over the video
        inferencer.seconds_per_frame = seconds / inferencer.num_frames
    model_rss = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp, Timer(args.device) as t:
        result = inferencer(video, [TEXT], stream=mode == 'stream',
                            propagate=mode == 'windowed',
                            out_dir=osp.join(tmp, 'out'))
    with open(out, 'w') as f:
        json.dump(dict(mode=mode, video_seconds=seconds,
                       frames=len(result['frame_times']),
                       seconds=t.seconds, peak_rss_mb=peak_rss_mb(),
                       rss_after_build_mb=model_rss,
                       rss_at_start_mb=start_rss), f)


def memory_benchmark(args) -> list:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.memory_seconds:
            video = make_video(osp.join(tmp, f'{seconds:g}s.mp4'), seconds,
                               args.memory_fps, args.memory_size)
            modes = [m for m in args.memory_modes if m == 'stream'
                     or seconds <= args.memory_windowed_max]
            for mode in modes:
                out = osp.join(tmp, f'{seconds:g}_{mode}.json')
                cmd = [sys.executable, osp.abspath(__file__), args.config,
                       '--memory-worker', video, mode, out,
                       '--device', args.device]
                if args.checkpoint:
                    cmd += ['--checkpoint', args.checkpoint]
                try:
                    done = subprocess.run(cmd, capture_output=True,
                                          text=True,
                                          timeout=args.memory_timeout)
                except subprocess.TimeoutExpired:
                    rows.append(dict(mode=mode, video_seconds=seconds,
                                     error=f'over {args.memory_timeout} s'))
                    print(f'{seconds:g} s {mode}: over '
                          f'{args.memory_timeout:g} s')
                    continue
                if done.returncode:
                    rows.append(dict(mode=mode, video_seconds=seconds,
                                     error=done.stderr[-2000:]))
                    print(f'{seconds:g} s {mode}: failed\n'
                          f'{done.stderr[-2000:]}')
                    continue
                with open(out) as f:
                    row = json.load(f)
                rows.append(row)
                print(f'{seconds:>6g} s video, {mode:8s}: {row["frames"]:>6d} '
                      f'frames, peak RSS {row["peak_rss_mb"]:8.1f} MiB '
                      f'({row["seconds"]:.1f} s)')
    streams = {r['video_seconds']: r['peak_rss_mb'] for r in rows
               if r['mode'] == 'stream' and 'error' not in r}
    if streams:
        shortest = streams[min(streams)]
        for row in rows:
            if 'error' not in row:
                row['vs_shortest_stream'] = row['peak_rss_mb'] / shortest
    return rows


# ---------------------------------------------------------------- main
def print_stages(res: dict, args, size: int) -> None:
    love, bare = res['sam2love'], res['bare_sam2']
    n = args.track_frames
    print(f'{args.config}: {args.frames} sampled frames, {n} tracked at '
          f'{size}x{size} on {args.device} ({torch.get_num_threads()} '
          f'threads{", bf16" if args.amp else ""})')
    print(f'{"stage":28s} {"SAM2-LOVE":>10s} {"bare SAM2":>10s}')
    for key, name in (('encoders', 'tri-modal encoders (s)'),
                      ('fusion', 'fusion (s)'),
                      ('sam2_frame0', 'SAM2 frame 0 (s)'),
                      ('tracking_per_frame', 'tracking per frame (s)'),
                      ('total', f'total, {n} frames (s)'),
                      ('fps', 'frames per second')):
        other = bare.get(key)
        print(f'{name:28s} {love[key]:10.4f} '
              f'{"-" if other is None else f"{other:.4f}":>10s}')
    print(f'overhead ratio: {res["overhead_ratio"]:.3f}x over {n} frames; '
          f'<= 1.10x from {res["frames_for_ratio_1_10"]} frames; peak RSS '
          f'{res["peak_rss_mb"]:.0f} MiB')


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_worker:
        memory_worker(args)
        return
    report = dict(config=args.config, device=args.device,
                  threads=torch.get_num_threads(), amp=args.amp,
                  compile=args.compile, frames=args.frames,
                  track_frames=args.track_frames)
    if not args.skip_stages or args.expressions:
        model = build_model(args)
        size = model.decode_head.sam.image_size
        report['size'] = size
        warm_up(model, args)
        if not args.skip_stages:
            report['stages'] = stage_benchmark(model, args)
            print_stages(report['stages'], args, size)
        if args.expressions:
            rows = expressions_benchmark(model, args)
            report['expressions'] = rows
            print(f'{"K":>3s} {"seconds":>9s} {"vs K x one":>11s}')
            for row in rows:
                ratio = row['vs_k_times_one']
                print(f'{row["k"]:3d} {row["seconds"]:9.3f} '
                      f'{"-" if ratio is None else f"{ratio:.3f}":>11s}')
        del model
    if args.memory_seconds:
        report['memory'] = memory_benchmark(args)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
        print(f'written: {args.out}')


if __name__ == '__main__':
    main()
