"""A project config's model through one training iteration and a
prediction, on the tiny synthetic tree (``projects/conftest.py``)."""
import os.path as osp
from types import SimpleNamespace

import torch

from sam2love.datasets.synthetic import PRESETS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_FRAMES = PRESETS['tiny']['num_frames']


def project_config(path: str, root: str, **options):
    """The config at ``path`` (relative to the repository) on the tiny tree
    at ``root``, with no data-loading workers, its ``custom_imports``
    imported."""
    from mmengine.utils import import_modules_from_strings

    from sam2love.utils import load_config
    opts = {'model.backbone.audio.num_examples': TINY_FRAMES}
    for loader in ('train_dataloader', 'test_dataloader'):
        opts.update({f'{loader}.dataset.data_root': root,
                     f'{loader}.dataset.num_frames': TINY_FRAMES,
                     f'{loader}.num_workers': 0,
                     f'{loader}.persistent_workers': False})
    opts.update(options)
    cfg = load_config(osp.join(ROOT, path), opts)
    import_modules_from_strings(**cfg.custom_imports)
    return cfg


def step_and_predict(cfg, seed: int = 0) -> SimpleNamespace:
    """Build the config's model as tools/train.py does (seeded,
    ``init_weights``), run one ``train_step`` with the config's optimiser
    on two train clips (the Runner's training iteration) and one
    ``test_step`` on two test clips.

    Returns:
        SimpleNamespace: ``model``, ``losses`` (the step's log vars),
        ``before`` / ``after`` (state dicts), ``predictions``
        (SegDataSamples) and ``test_batch``.
    """
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import DATASETS

    from sam2love.utils.analysis import build_eval_model
    model = build_eval_model(cfg, seed, quiet=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train = DATASETS.build(cfg.train_dataloader.dataset)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    torch.manual_seed(seed)
    losses = model.train_step(pseudo_collate([train[0], train[1]]),
                              optim_wrapper)
    test = DATASETS.build(cfg.test_dataloader.dataset)
    test_batch = pseudo_collate([test[0], test[1]])
    model.eval()
    with torch.no_grad():
        predictions = model.test_step(test_batch)
    return SimpleNamespace(model=model, losses=losses, before=before,
                           after=model.state_dict(), predictions=predictions,
                           test_batch=test_batch)
