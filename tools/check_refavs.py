"""Validate a Ref-AVS tree before training on it.

    python tools/check_refavs.py DATA_ROOT [--splits train val] [--nproc 2]

Lists every problem found (file: reason), the tracks fitted to their
clip (file: resampled / downmixed / padded with silence / trimmed; the
padded ones first, ``--max-listed`` of them), a summary (clips,
expressions per split, counts of those fixes) and exits with status 1 when
there is any problem.
"""
import argparse
import sys

from sam2love.datasets import SPLITS
from sam2love.datasets.validate import validate_refavs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('data_root', help='root of the Ref-AVS tree')
    parser.add_argument('--splits', nargs='+', default=list(SPLITS),
                        choices=SPLITS, help='splits to check (default all)')
    parser.add_argument('--ann-file', default='metadata.csv')
    parser.add_argument('--num-frames', type=int, default=10,
                        help='frames per clip (default 10)')
    parser.add_argument('--nproc', type=int, default=1,
                        help='worker processes (default 1)')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    parser.add_argument('--max-listed', type=int, default=20,
                        help='audio files fitted to their clip listed by '
                        'name (default 20; 0: all)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    report = validate_refavs(
        args.data_root, splits=tuple(args.splits), ann_file=args.ann_file,
        num_frames=args.num_frames, nproc=args.nproc,
        progress=not args.no_progress)
    if report.problems:
        print(f'\n{len(report.problems)} problem(s):')
        for problem in report.problems:
            print(f'  {problem.path}: {problem.reason}')
    if report.audio_fixes:
        print(f'\n{len(report.audio_fixes)} track(s) fitted to the clip '
              '(16 kHz mono of its duration; not problems):')
        for line in report.audio_fix_lines(args.max_listed or None):
            print(f'  {line}')
    print()
    print(report.summary())
    print('OK' if report.ok else 'FAILED')
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(main())
