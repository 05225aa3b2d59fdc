"""Write a Ref-AVS clip folder (frames + audio.wav) as an mp4 with sound.

    python tools/clip_to_video.py CLIP_DIR OUT.mp4 [--fps N] [--lossless]
        [--seconds-per-frame S]

CLIP_DIR is ``<root>/media/<name>`` of the release layout (e.g. a clip of
``tools/make_synthetic_refavs.py``). Frame i is shown from second i on; the
track is copied at its own rate. By default the video is H.264 4:2:0 + AAC,
which every player reads; ``--lossless`` writes H.264 RGB at qp 0 + FLAC,
which decode back to the exact frames and samples (the inference demo then
gives the data set's masks exactly). Prints a summary, with the clip's
expressions when ``<root>/metadata.csv`` is found.
"""
import argparse
import json
import os
import os.path as osp
import sys

from sam2love.datasets import MediaError, RefAVSDataError, read_metadata
from sam2love.datasets.video_writer import write_clip_video


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('clip_dir', help='clip folder: <root>/media/<name>')
    parser.add_argument('out', help='mp4 to write')
    parser.add_argument('--fps', type=float,
                        help='video frame rate, a multiple of the clip rate '
                        '(frames repeated); default: the clip rate')
    parser.add_argument('--seconds-per-frame', type=float, default=1.0,
                        help='frame spacing of the clip (default 1)')
    parser.add_argument('--lossless', action='store_true',
                        help='H.264 RGB qp 0 + FLAC (exact round trip)')
    return parser.parse_args(argv)


def clip_expressions(clip_dir: str) -> list[dict]:
    """Rows of ``<root>/metadata.csv`` for this clip folder, if any."""
    clip_dir = osp.normpath(clip_dir)
    root = osp.dirname(osp.dirname(clip_dir))
    csv = osp.join(root, 'metadata.csv')
    if not osp.isfile(csv):
        return []
    name = osp.basename(clip_dir)
    return [dict(uid=r.uid, split=r.split, fid=r.fid, exp=r.exp)
            for r in read_metadata(csv) if r.name == name]


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    try:
        summary = write_clip_video(args.clip_dir, args.out, args.fps,
                                   args.seconds_per_frame, args.lossless)
        summary['expressions'] = clip_expressions(args.clip_dir)
    except (MediaError, RefAVSDataError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    summary = dict(video=args.out, lossless=args.lossless, **summary)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
