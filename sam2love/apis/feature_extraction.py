"""Extract a frozen-feature cache: run the frozen parts once per clip.

:func:`extract_feature_cache` runs a ``SAM2LOVE``'s frozen parts over the
clips of one or several splits and writes them with
:class:`~sam2love.feature_cache.FeatureCacheWriter` (layout:
:mod:`sam2love.feature_cache`): per clip the VGGish features, the
vision encoder's patch and [cls] tokens and SAM2's image-encoder levels of
frame 0; per expression row the text features. Shards are dealt to the
processes of a distributed run (rank r takes shards r, r + W, ...); rank 0
writes the manifest before and the index after. A killed run resumes:
shards already written whole are skipped.

:func:`build_training_model` builds the model the way ``tools/train.py``
will train it, so that randomly initialised frozen parts (the CPU demo's
tiny encoders) get the very weights training will see, and the cache
passes the model's manifest check.
"""
import copy
import time

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.dist import barrier, broadcast_object_list, get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import DefaultScope
from mmengine.utils import ProgressBar
from mmseg.registry import DATASETS

from ..feature_cache import (
    FeatureCacheError,
    FeatureCacheWriter,
    SplitPlan,
    extraction_pipeline,
    read_manifest,
)


class _StopTraining(Exception):
    pass


class _StopBeforeTraining(Hook):
    """Ends ``runner.train()`` when the first iteration would start."""

    def before_train(self, runner) -> None:
        raise _StopTraining


def build_training_model(cfg, work_dir: str):
    """The config's model as ``tools/train.py`` starts training it.

    The runner is built from ``cfg`` and ``runner.train()`` is stopped
    just before the first iteration: the random seed, the order in which
    random numbers are drawn (model building, the train data loader,
    ``init_weights()``) and ``load_from`` are then the training run's own.
    The train dataset is built without a ``feature_cache`` and read by
    the main process, and no validation loop is built (none of which
    changes the random draws).

    Args:
        cfg (Config): a training config (``launcher`` set for
            distributed runs).
        work_dir (str): where the runner writes its log.

    Returns:
        SAM2LOVE: the model, unwrapped from DDP, in eval mode.
    """
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    cfg.resume = False
    cfg.experiment_name = time.strftime('extract_%Y%m%d_%H%M%S') + \
        f'_{id(cfg):x}'
    loader = cfg.train_dataloader
    loader.num_workers = 0
    loader.persistent_workers = False
    loader.dataset.pop('feature_cache', None)
    # no validation data needed (building it draws no random numbers)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else \
        Runner.from_cfg(cfg)
    runner.register_hook(_StopBeforeTraining(), priority='HIGHEST')
    try:
        runner.train()
    except _StopTraining:
        pass
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    return model.eval()


def split_dataset_cfgs(cfg, splits=None) -> dict:
    """Dataset configs of the splits to extract, ``feature_cache`` removed.

    The train dataloader's split (default) uses its dataset config; any
    other split the test dataloader's, with ``split`` replaced.
    """
    train = copy.deepcopy(cfg.train_dataloader.dataset)
    train.pop('feature_cache', None)
    train_split = train.get('split', 'train')
    if not isinstance(train_split, str):
        raise ValueError('extraction: train_dataloader.dataset.split must be '
                         f'one split, got {train_split}; pass --splits')
    out = {}
    for split in splits or [train_split]:
        if split == train_split:
            out[split] = train
        else:
            test = copy.deepcopy(cfg.test_dataloader.dataset)
            test.pop('feature_cache', None)
            test.split = split
            out[split] = test
    return out


def _stack(parts: list, key: str) -> np.ndarray:
    return np.concatenate([p[key] for p in parts])


def _to_numpy(feats: dict) -> dict:
    return {k: v.detach().float().cpu().numpy() if v.is_floating_point()
            else v.detach().cpu().numpy() for k, v in feats.items()}


def extract_shard(model, dataset, plan: SplitPlan, k: int,
                  batch_size: int, device) -> tuple:
    """The arrays of shard ``k``: ``(clip_arrays, row_arrays, ori_shapes)``
    (see :meth:`~sam2love.feature_cache.FeatureCacheWriter.write_shard`)."""
    clips, ori_shapes = [], []
    names = plan.shards[k]
    for start in range(0, len(names), batch_size):
        batch = pseudo_collate([dataset[plan.first_row[name]]
                                for name in names[start:start + batch_size]])
        data = model.data_preprocessor(batch, False)
        inputs = {key: v.to(device) for key, v in data['inputs'].items()}
        clips.append(_to_numpy(model.frozen_clip_features(inputs)))
        ori_shapes += [tuple(s.ori_shape) for s in data['data_samples']]
    rows = []
    texts = [r['text'] for r in plan.rows[k]]
    for start in range(0, len(texts), batch_size * 4):
        rows.append(_to_numpy(model.frozen_text_features(
            texts[start:start + batch_size * 4])))
    return ({key: _stack(clips, key) for key in clips[0]},
            {key: _stack(rows, key) for key in rows[0]}, ori_shapes)


def _on_rank0(fn, rank: int) -> None:
    """Run ``fn`` on rank 0; its error, if any, is raised on every rank
    (the others would otherwise wait for rank 0 forever)."""
    message, error = [None], None
    if rank == 0:
        try:
            fn()
        except Exception as e:  # noqa: BLE001  (re-raised below)
            message, error = [f'{type(e).__name__}: {e}'], e
    broadcast_object_list(message)
    if error is not None:
        raise error
    if message[0] is not None:
        raise FeatureCacheError(f'rank 0 failed: {message[0]}')


@torch.no_grad()
def extract_feature_cache(model, dataset_cfgs: dict, out: str,
                          dtype: str = 'fp32', batch_size: int = 4,
                          shard_size: int | None = None,
                          progress: bool = True,
                          stop_after: int | None = None,
                          rank: int | None = None,
                          world_size: int | None = None) -> dict | None:
    """Run the frozen parts of ``model`` over the splits and store them.

    Args:
        model (SAM2LOVE): with frozen encoders and image encoder.
        dataset_cfgs (dict): split -> ``RefAVSDataset`` config
            (:func:`split_dataset_cfgs`); only the steps that make the
            frozen inputs of its pipeline run.
        out (str): the cache folder (created; resumed when it holds a
            partial extraction of the same model and data).
        dtype (str): ``'fp32'`` or ``'fp16'`` storage.
        batch_size (int): clips per forward pass.
        shard_size (int, optional): clips per shard (None: 32, or a
            resumed split's).
        progress (bool): show a progress bar (rank 0).
        stop_after (int, optional): stop after writing this many shards
            (tests of resuming).
        rank, world_size (int, optional): this process's share; default
            from ``torch.distributed`` (0 and 1 without it).

    Returns:
        dict | None: the manifest on rank 0 once every split is complete,
        else None.
    """
    dist_rank, dist_world = get_dist_info()
    rank = dist_rank if rank is None else rank
    world_size = dist_world if world_size is None else world_size
    model.check_cacheable()
    model.eval()
    device = next(model.parameters()).device
    writer = FeatureCacheWriter(out, dtype, model.frozen_fingerprint())
    with DefaultScope.overwrite_default_scope('mmseg'):
        datasets = {}
        for split, cfg in dataset_cfgs.items():
            cfg = copy.deepcopy(cfg)
            cfg.pop('feature_cache', None)
            cfg['pipeline'] = extraction_pipeline(cfg.get('pipeline', []))
            datasets[split] = DATASETS.build(cfg)
    fingerprints = {s: d.data_fingerprint(s) for s, d in datasets.items()}
    _on_rank0(lambda: writer.open(fingerprints, shard_size), rank)
    # every rank reads the shard sizes rank 0 settled (a shared folder)
    plans = writer.plans({s: [d.get_data_info(i) for i in range(len(d))]
                          for s, d in datasets.items()})
    todo = writer.pending(plans, rank, world_size)
    bar = ProgressBar(sum(len(plans[s].shards[k]) for s, k in todo)) \
        if progress and rank == 0 and todo else None
    written = 0
    for split, k in todo:
        if stop_after is not None and written >= stop_after:
            return None
        plan = plans[split]
        clip_arrays, row_arrays, ori_shapes = extract_shard(
            model, datasets[split], plan, k, batch_size, device)
        writer.write_shard(split, k, plan, clip_arrays, row_arrays,
                           ori_shapes)
        written += 1
        if bar is not None:
            bar.update(len(plan.shards[k]))
    if bar is not None:
        print()
    barrier()

    def finish():
        for split, plan in plans.items():
            writer.finish(split, plan)

    _on_rank0(finish, rank)
    return read_manifest(out) if rank == 0 else None
