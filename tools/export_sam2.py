"""Export the SAM2 of a stage-1 checkpoint in the official SAM2 format.

    python tools/export_sam2.py WORK_CKPT OUT.pt

WORK_CKPT is a ``SAM2TrackerPretrainer`` checkpoint of ``tools/train.py``
(e.g. ``work_dirs/<config>/iter_N.pth``); OUT.pt holds ``{'model': SAM2Base
state_dict}``, which stage 2 loads unchanged through
``decode_head.checkpoint=OUT.pt`` (``SAM2PromptHead``).
"""
import argparse
import sys

from sam2love.models.sam2 import export_sam2_weights


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='stage-1 (mmengine) checkpoint')
    parser.add_argument('out', help='output .pt (official SAM2 format)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        state = export_sam2_weights(args.checkpoint, args.out)
    except (OSError, RuntimeError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    count = sum(v.numel() for v in state.values())
    print(f'wrote {args.out}: {len(state)} tensors, {count / 1e6:.2f} M values')
    return 0


if __name__ == '__main__':
    sys.exit(main())
