"""Loading a config the way the tools do: the analysis tools
(:func:`load_config`) and the runner tools, ``tools/train.py``,
``tools/test.py`` and ``tools/extract_features.py``, with mmseg's
``--cfg-options`` / ``--launcher`` / ``--local-rank`` flags
(:func:`parse_runner_args`, :func:`runner_config`)."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from .runtime import adapt_distributed_to_cpu, allow_mmengine_checkpoints


def load_config(path: str, cfg_options: dict | None = None) -> Config:
    """``Config.fromfile(path)`` with ``--cfg-options`` merged, and its
    ``default_scope`` (``mmseg`` when unset) made the current one so that
    registries resolve its types."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return cfg


def parse_runner_args(parser: argparse.ArgumentParser,
                      argv: list[str] | None = None) -> argparse.Namespace:
    """Add mmseg's ``--cfg-options``, ``--launcher`` and ``--local_rank``
    (``--local-rank``) to a runner tool's ``parser`` and parse ``argv``;
    ``LOCAL_RANK`` is set from ``--local-rank`` unless the launcher
    (torchrun) has set it."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def runner_config(args: argparse.Namespace) -> Config:
    """The config of a runner tool's arguments (those of
    :func:`parse_runner_args` and a ``config`` path), as mmseg's
    ``tools/train.py`` and ``tools/test.py`` make it: the file read,
    ``cfg.launcher`` set, then ``--cfg-options`` merged. A tool with a
    ``--work-dir`` argument gets ``cfg.work_dir`` from it, else from the
    config, else ``./work_dirs/<config name>``.

    The process is readied for the runner too: mmengine's checkpoints
    (``load_from``, ``--resume``) may be read with ``weights_only=True``
    (:func:`~sam2love.utils.runtime.allow_mmengine_checkpoints`), and a
    distributed launch runs on CPU processes where there is no CUDA
    (:func:`~sam2love.utils.runtime.adapt_distributed_to_cpu`).
    """
    allow_mmengine_checkpoints()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if 'work_dir' in args:
        if args.work_dir is not None:
            cfg.work_dir = args.work_dir
        elif cfg.get('work_dir', None) is None:
            cfg.work_dir = osp.join(
                './work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.launcher != 'none':
        adapt_distributed_to_cpu(cfg)
    return cfg
