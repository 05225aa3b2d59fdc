"""The project's config: built, one training iteration, a prediction; the
MixVisionTransformer loads an mmseg-format checkpoint (init_cfg
Pretrained), and a checkpoint that does not fit is refused by name."""
import copy

import pytest
import torch
from mmseg.registry import MODELS

from projects.project_test_helpers import TINY_FRAMES, project_config, step_and_predict

CONFIG = ('projects/mmseg_vision_encoder/configs/'
          'sam2love_mit-tiny_1xb16-stage2-cached_synthetic.py')
#: training from the frames (the config's feature cache is the full run's),
#: with a random SAM2 (the quick start's stage 1 is not needed)
FROM_FRAMES = {'train_dataloader.dataset.feature_cache': None,
               'model.decode_head.checkpoint': None}
INIT = 'model.backbone.vision.backbone.init_cfg.checkpoint'


@pytest.fixture(scope='module')
def cfg(tiny_tree):
    return project_config(CONFIG, tiny_tree, **FROM_FRAMES)


def save_mit(cfg, path, seed: int, prefix: str = '', **changes) -> dict:
    """An mmseg-format checkpoint (``state_dict`` + ``meta``) of the
    config's MixVisionTransformer with other random weights."""
    backbone = copy.deepcopy(cfg.model.backbone.vision.backbone)
    backbone.update(init_cfg=None, **changes)
    torch.manual_seed(seed)
    mit = MODELS.build(backbone)
    mit.init_weights()
    state = {prefix + k: v for k, v in mit.state_dict().items()}
    torch.save({'state_dict': state, 'meta': dict(mmseg_version='1.2.2')},
               path)
    return mit.state_dict()


def vision_state(model) -> dict:
    return model.backbone.vision_encoder.backbone.state_dict()


def test_one_training_iteration_and_prediction(cfg):
    run = step_and_predict(cfg)
    encoder = run.model.backbone.vision_encoder
    assert type(encoder).__name__ == 'MMSegVisionEncoder'
    assert type(encoder.backbone).__name__ == 'MixVisionTransformer'
    assert encoder.embed_dim == 32 and encoder.grid == (4, 4)
    assert torch.isfinite(run.losses['loss'])
    changed = {k for k in run.after
               if not torch.equal(run.after[k], run.before[k])}
    assert any(k.startswith('neck.vision_proj.') for k in changed)
    assert not any(k.startswith('backbone.') for k in changed)
    for sample in run.predictions:
        h, w = sample.ori_shape
        assert sample.pred_sem_seg.data.shape == (TINY_FRAMES, h, w)
        assert sample.pred_eval_logits.data.shape == (TINY_FRAMES, 256, 256)


@pytest.mark.parametrize('prefix', ['', 'backbone.'])
def test_loads_an_mmseg_checkpoint(cfg, tmp_path, prefix):
    from sam2love.utils.analysis import build_eval_model
    path = str(tmp_path / 'mit.pth')
    saved = save_mit(cfg, path, seed=7, prefix=prefix)
    options = {INIT: path}
    if prefix:  # a whole segmentor's checkpoint
        options['model.backbone.vision.backbone.init_cfg.prefix'] = prefix
    loaded = vision_state(build_eval_model(
        project_config(CONFIG, cfg.train_dataloader.dataset.data_root,
                       **FROM_FRAMES, **options), quiet=True))
    random = vision_state(build_eval_model(cfg, quiet=True))
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)
    assert not all(torch.equal(random[k], saved[k]) for k in saved)


def test_a_checkpoint_that_does_not_fit_is_named(cfg, tmp_path):
    from sam2love.utils.analysis import build_eval_model
    root = cfg.train_dataloader.dataset.data_root
    other = str(tmp_path / 'mit_b_other.pth')
    save_mit(cfg, other, seed=0, embed_dims=8)
    with pytest.raises(RuntimeError, match=r"mit_b_other\.pth' does not "
                       r'match MixVisionTransformer: 0 missing .* of another '
                       'shape'):
        build_eval_model(project_config(CONFIG, root, **FROM_FRAMES,
                                        **{INIT: other}), quiet=True)
    missing = str(tmp_path / 'no_such.pth')
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        build_eval_model(project_config(CONFIG, root, **FROM_FRAMES,
                                        **{INIT: missing}), quiet=True)
