"""Test (and evaluate) a SAM2-LOVE checkpoint (mmseg's tools/test.py flags).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR]
        [--show] [--show-dir DIR] [--wait-time S] [--cfg-options ...]
        [--launcher none|pytorch|slurm|mpi]

``--out DIR`` also saves every expression's predicted probabilities as
``DIR/<uid>/00000.png ...`` (8-bit), which ``tools/refavs_eval.py`` scores.
"""
import argparse

from mmengine.config import Config
from mmengine.runner import Runner

from sam2love.utils import parse_runner_args, runner_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the directory to save the evaluation metrics')
    parser.add_argument(
        '--out', type=str,
        help='directory to save the predicted probabilities (PNG per frame)')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    return parse_runner_args(parser, argv)


def trigger_visualization_hook(cfg: Config, args) -> Config:
    default_hooks = cfg.default_hooks
    if 'visualization' not in default_hooks:
        raise RuntimeError(
            'VisualizationHook must be included in default_hooks. '
            "refer to usage 'visualization=dict(type=VisualizationHook)'")
    hook = default_hooks['visualization']
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir
    return cfg


def build_cfg(args) -> Config:
    cfg = runner_config(args)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args)
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
    return cfg


def main(argv=None):
    cfg = build_cfg(parse_args(argv))
    runner = Runner.from_cfg(cfg)
    return runner.test()


if __name__ == '__main__':
    main()
