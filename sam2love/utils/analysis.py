"""Model and data plumbing shared by the analysis tools' probes."""
import copy
import logging

import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmseg.registry import DATASETS, MODELS


def build_eval_model(cfg, seed: int = 0, quiet: bool = False):
    """The config's model, seeded, ``init_weights()`` applied (a bare
    ``MODELS.build`` skips the init some parts rely on), in eval mode;
    ``quiet`` hides mmengine's per-parameter init log."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    if quiet:
        logger.setLevel(logging.WARNING)
    try:
        torch.manual_seed(seed)
        model = MODELS.build(cfg.model)
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model.eval()


def preprocessed_batches(model, dataset_cfg: dict, split: str,
                         batch_size: int):
    """Yield ``(inputs, data_samples, texts)`` of ``split`` in dataset
    order, through the model's data preprocessor (no augmentation)."""
    cfg = copy.deepcopy(dataset_cfg)
    cfg.split = split
    dataset = DATASETS.build(cfg)
    for start in range(0, len(dataset), batch_size):
        batch = pseudo_collate([dataset[i] for i in range(
            start, min(start + batch_size, len(dataset)))])
        data = model.data_preprocessor(batch, False)
        samples = data['data_samples']
        yield data['inputs'], samples, [s.text for s in samples]
