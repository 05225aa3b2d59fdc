"""Write a synthetic tri-modal Ref-AVS data set in the release layout.

    python tools/make_synthetic_refavs.py --out data/synthetic_refavs \\
        [--preset tiny|default] [--clips N] [--seed S] [--frames T] \\
        [--size W H] [--activity-cue P] [--train-rows LOW HIGH] \\
        [--null-prob P] [--overwrite]

Coloured shapes move over a textured background, each category with its own
sound; expressions (audio, vision, mixed, temporal, null) are computed from
the scene. The same seed gives byte-identical files. Prints the summary
(clips and expressions per split, seconds of media) and the wall time.
"""
import argparse
import json
import sys
import time

from sam2love.datasets.synthetic import PRESETS, make_synthetic_refavs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True, help='output root')
    parser.add_argument('--preset', choices=sorted(PRESETS), default='default',
                        help='size preset (default: default, 400 clips)')
    parser.add_argument('--clips', type=int,
                        help='clips (overrides preset). Data sets of one '
                        'seed with different numbers of clips share some '
                        'clips, in different splits: held-out data needs '
                        'another --seed')
    parser.add_argument('--seed', type=int, default=0, help='seed (>= 0)')
    parser.add_argument('--frames', type=int,
                        help='frames = seconds per clip (overrides preset)')
    parser.add_argument('--size', type=int, nargs=2, metavar=('W', 'H'),
                        help='main frame size (overrides preset)')
    parser.add_argument('--activity-cue', type=float,
                        help='chance of a ripple ring around a sounding '
                        'object in a frame (default 0.5)')
    parser.add_argument('--train-rows', type=int, nargs=2,
                        metavar=('LOW', 'HIGH'),
                        help='expressions per ordinary train clip (default '
                        '2 5, as the release; more rows per clip cost no '
                        'rendering, but 4 10 left the CPU demo\'s stage-1 '
                        'tracker memory-blind: docs/token_path.md)')
    parser.add_argument('--null-prob', type=float,
                        help='share of train / val clips that are null '
                        'clips (default 0.04, about the release\'s 4%%; '
                        'test_n is all null clips whatever this is)')
    parser.add_argument('--nproc', type=int, default=1,
                        help='processes writing clips (the output does not '
                        'depend on it)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the data set in a non-empty --out')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    kwargs = dict(PRESETS[args.preset])
    for key, value in (('num_clips', args.clips), ('num_frames', args.frames),
                       ('frame_size', args.size),
                       ('activity_cue', args.activity_cue),
                       ('train_rows', args.train_rows),
                       ('null_prob', args.null_prob)):
        if value is not None:
            kwargs[key] = tuple(value) if key in ('frame_size',
                                                  'train_rows') else value
    start = time.perf_counter()
    try:
        summary = make_synthetic_refavs(
            args.out, seed=args.seed, overwrite=args.overwrite,
            progress=not args.no_progress, nproc=args.nproc, **kwargs)
    except (FileExistsError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    print(f'wall time: {time.perf_counter() - start:.2f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
