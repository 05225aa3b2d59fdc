"""Time one predict pass of a config's model on a random clip.

    python tools/analysis_tools/benchmark.py CONFIG [--frames 10]
        [--repeat 3] [--threads N] [--cfg-options ...]

The clip (frames at SAM2's input size, 16 kHz audio of one second per
frame, one expression) goes through the data preprocessor and
``model.predict`` under ``torch.no_grad``: encoders, fusion, frame-0
prompting and SAM2 tracking of every frame. The first pass is reported
apart (it includes one-off start-up costs).
"""
import argparse
import time

import torch
from mmengine.config import DictAction
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import sam2love  # noqa: F401  (registers the components)
from sam2love.utils import load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Predict-pass timing')
    parser.add_argument('config')
    parser.add_argument('--frames', type=int, default=10)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch decides)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def random_batch(size: int, frames: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    clip = torch.randint(0, 256, (frames, 3, size, size), generator=g,
                         dtype=torch.uint8)
    audio = 0.1 * torch.randn(frames * 16000, generator=g)
    sample = SegDataSample(metainfo=dict(
        text='The object making the loudest sound.',
        ori_shape=(size, size), img_shape=(size, size)))
    return dict(inputs=dict(frames=[clip], audio=[audio]),
                data_samples=[sample])


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    model = MODELS.build(cfg.model).to(args.device).eval()
    size = model.decode_head.sam.image_size
    batch = random_batch(size, args.frames)
    times = []
    with torch.no_grad():
        for _ in range(args.repeat + 1):
            start = time.perf_counter()
            data = model.data_preprocessor(batch)
            model.predict(**data)
            if args.device.startswith('cuda'):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    steady = times[1:]
    print(f'{args.config}: {args.frames} frames at {size}x{size} on '
          f'{args.device} ({torch.get_num_threads()} threads)')
    print(f'first pass {times[0]:.2f} s; then '
          f'{sum(steady) / len(steady):.2f} s per pass '
          f'(min {min(steady):.2f}, {len(steady)} passes)')


if __name__ == '__main__':
    main()
