"""Load a config's dataloader through its data preprocessor and report.

    python tools/analysis_tools/browse_dataset.py CONFIG \
        [--split train|val|test] [--max-batches N] [--cfg-options ...]

Builds the dataloader exactly as the Runner would, pushes batches through
``ClipDataPreprocessor`` and prints what the model will receive: clip and
audio tensor shapes, expressions, foreground fraction of the masks, and
how many tracks were resampled, padded or trimmed.
"""
import argparse
from collections import Counter

import torch
from mmengine.config import DictAction
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from sam2love.models import ClipDataPreprocessor
from sam2love.utils import load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Browse a clip dataset')
    parser.add_argument('config')
    parser.add_argument('--split', default='train',
                        choices=['train', 'val', 'test'],
                        help='which dataloader of the config')
    parser.add_argument('--max-batches', type=int, default=None,
                        help='stop after N batches (default: all)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, mmengine style')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    loader_cfg = cfg.get(f'{args.split}_dataloader').copy()
    loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=False)
    loader_cfg['persistent_workers'] = False
    loader = Runner.build_dataloader(loader_cfg)
    preprocessor = ClipDataPreprocessor(
        **{k: v for k, v in cfg.get('data_preprocessor', {}).items()
           if k in ('mean', 'std')})
    total = len(loader) if args.max_batches is None else min(
        len(loader), args.max_batches)
    print(f'{args.split}: {len(loader.dataset)} expressions, '
          f'{total} batches of {loader.batch_size}')
    audio, splits, fg, shapes = Counter(), Counter(), [], set()
    progress = ProgressBar(total)
    for i, batch in enumerate(loader):
        if i == total:
            break
        out = preprocessor(batch)
        shapes.add((tuple(out['inputs']['frames'].shape[1:]),
                    tuple(out['inputs']['audio'].shape[1:])))
        for sample in out['data_samples']:
            splits[sample.split] += 1
            fg.append(sample.gt_sem_seg.data.float().mean().item())
            fix = sample.audio_fix
            audio.update(k for k, hit in (
                ('resampled', fix['resampled']),
                ('padded', fix['padded_samples'] > 0),
                ('trimmed', fix['trimmed_samples'] > 0)) if hit)
        progress.update()
    print()
    for frames, wave in sorted(shapes):
        print(f'clip (T, 3, H, W) = {frames}, audio (L,) = {wave}')
    print('expressions per split:', dict(splits))
    print(f'mask foreground: {100 * torch.tensor(fg).mean():.1f}% of pixels')
    print('audio:', ', '.join(f'{k} {audio[k]}'
                              for k in ('resampled', 'padded', 'trimmed')))
    last = out['data_samples'][0]
    print(f'e.g. {last.uid}: "{last.text}"')


if __name__ == '__main__':
    main()
