"""Training SAM2-LOVE from a frozen-feature cache: the same loss and
gradients as from the frames, and caches of other frozen parts refused."""
import numpy as np
import pytest
import torch
from feature_cache_helpers import (
    build_model,
    extract,
    loss_and_grads,
    relative_difference,
    tiny_cfg,
    train_dataset,
    worst_gradient_difference,
)
from inference_helpers import make_tiny_tree

from sam2love.feature_cache import FeatureCacheError

#: fp16 storage rounds each cached value to 11 significant bits: a
#: relative error of at most 2^-11 = 4.9e-4 per value. The loss, a smooth
#: average over many of them, moves by less than that bound (measured on
#: the tiny model: <= 6e-6). A gradient moves by up to a few times the
#: bound: the first projection's weight gradient is a sum of products of
#: the rounded inputs in which terms cancel (measured <= 2.2e-3, for
#: neck.vision_proj.0.weight; <= 1e-4 over all gradients together). 1e-2
#: leaves 4x headroom and is far from changing what a step does.
FP16_LOSS_RTOL = 2 ** -11
FP16_GRAD_RTOL = 1e-2


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """The tiny model, its config on a tiny tree, fp32 and fp16 caches of
    the train split, and a batch of train rows (two sharing a clip; a
    null row when there is one) by dataset index."""
    base = tmp_path_factory.mktemp('cached_training')
    cfg = tiny_cfg(make_tiny_tree(str(base / 'tree')))
    model = build_model(cfg)
    caches = {}
    for dtype in ('fp32', 'fp16'):
        caches[dtype] = str(base / dtype)
        extract(model, cfg, caches[dtype], dtype=dtype)
    raw = train_dataset(cfg)
    infos = [raw.get_data_info(i) for i in range(len(raw))]
    clips = [info['clip_name'] for info in infos]
    shared = next(i for i in range(1, len(infos)) if clips[i] == clips[i - 1])
    nulls = [i for i, info in enumerate(infos) if info['is_null']][:1]
    indices = sorted({shared - 1, shared, len(infos) - 1, *nulls})
    return dict(cfg=cfg, model=model, caches=caches, raw=raw,
                indices=indices)


def batch(dataset, indices):
    return [dataset[i] for i in indices]


def test_fp32_cache_gives_the_uncached_loss_and_gradients(setup):
    model, indices = setup['model'], setup['indices']
    cached = train_dataset(setup['cfg'], setup['caches']['fp32'])
    sample = cached[indices[0]]
    assert 'frames' not in sample['inputs'] and \
        'audio' not in sample['inputs']
    assert sample['data_samples'].gt_sem_seg.data.shape[0] == 1  # frame 0
    losses_raw, grads_raw = loss_and_grads(model, batch(setup['raw'],
                                                        indices))
    losses_cached, grads_cached = loss_and_grads(model,
                                                 batch(cached, indices))
    assert set(losses_raw) == set(losses_cached) == {
        'loss_mask', 'loss_iou', 'loss_obj'}
    for key, value in losses_raw.items():
        assert relative_difference(value, losses_cached[key]) <= 1e-5, key
    assert grads_raw.keys() == grads_cached.keys()
    trained = [n for n, g in grads_raw.items() if g is not None]
    # every trained part gets a gradient: the fusion neck, the token
    # projection, SAM2's prompt encoder and mask decoder with the
    # high-resolution convs the cache leaves to training
    assert trained == list(grads_raw)
    assert all(g is not None for g in grads_cached.values())
    assert any('conv_s0' in n for n in trained)
    assert any(n.startswith('neck.') for n in trained)
    worst, name = worst_gradient_difference(grads_raw, grads_cached)
    assert worst <= 1e-5, name


def test_null_references_train_alike_from_frames_and_cache(setup):
    """Training-time null references (lent expression and audio, silence
    with a noise floor) give the same loss from the frames as from the
    cache, which the backbone's ``silence_noise`` does not invalidate."""
    cfg = setup['cfg'].copy()
    cfg.model.backbone.silence_noise = 0.003
    model = build_model(cfg)
    negatives = dict(prob=1.0)
    raw = train_dataset(cfg, null_negatives=negatives)
    cached = train_dataset(cfg, setup['caches']['fp32'],
                           null_negatives=negatives)
    indices = list(range(len(raw)))[:10]
    np.random.seed(3)
    samples_raw = batch(raw, indices)
    np.random.seed(3)
    samples_cached = batch(cached, indices)
    kinds = {('silence' if s['data_samples'].silent_audio else 'audio'
              if 'audio_clip' in s['data_samples'] else 'expression'
              if s['data_samples'].get('null_negative') else 'none')
             for s in samples_raw}
    assert {'silence', 'audio', 'expression'} <= kinds
    losses_raw, _ = loss_and_grads(model, samples_raw)
    losses_cached, _ = loss_and_grads(model, samples_cached)
    for key, value in losses_raw.items():
        assert relative_difference(value, losses_cached[key]) <= 1e-5, key


def test_fp16_cache_is_within_the_stated_tolerance(setup):
    model, indices = setup['model'], setup['indices']
    cached = train_dataset(setup['cfg'], setup['caches']['fp16'])
    losses_raw, grads_raw = loss_and_grads(model, batch(setup['raw'],
                                                        indices))
    losses_16, grads_16 = loss_and_grads(model, batch(cached, indices))
    for key, value in losses_raw.items():
        assert relative_difference(value, losses_16[key]) <= FP16_LOSS_RTOL
    worst, name = worst_gradient_difference(grads_raw, grads_16)
    assert 0 < worst <= FP16_GRAD_RTOL, name


def test_changed_frozen_weights_are_refused(setup):
    cached = train_dataset(setup['cfg'], setup['caches']['fp32'])
    model = build_model(setup['cfg'])
    with torch.no_grad():
        model.backbone.vision_encoder.model.embeddings.cls_token.add_(1e-3)
    with pytest.raises(FeatureCacheError) as error:
        loss_and_grads(model, batch(cached, setup['indices'][:1]))
    message = str(error.value)
    assert 'manifest.json' in message and '1 entry differs' in message
    assert 'frozen.weights_sha256.vision_encoder: expected ' in message
    assert 'the vision encoder' not in message  # names the entry as stored


def test_changed_frozen_config_is_refused(setup):
    cfg = setup['cfg'].copy()
    # the same weights, but frames fed to the ViT at another size
    cfg.model.backbone.vision.image_size = 64
    model = build_model(cfg)
    cached = train_dataset(setup['cfg'], setup['caches']['fp32'])
    with pytest.raises(FeatureCacheError,
                       match=r"frozen\.configs\.backbone\.vision\.image_size:"
                       r" expected 64 \(the model\), found <missing>"):
        loss_and_grads(model, batch(cached, setup['indices'][:1]))


def test_a_trained_image_encoder_cannot_use_a_cache(setup):
    cfg = setup['cfg'].copy()
    cfg.model.decode_head.trainable = ['image_encoder', 'sam_mask_decoder']
    model = build_model(cfg)
    with pytest.raises(FeatureCacheError, match='frozen parts'):
        model.check_cacheable()
    cached = train_dataset(setup['cfg'], setup['caches']['fp32'])
    with pytest.raises(FeatureCacheError):
        loss_and_grads(model, batch(cached, setup['indices'][:1]))


def test_prediction_needs_frames(setup):
    model = setup['model'].eval()
    cached = train_dataset(setup['cfg'], setup['caches']['fp32'])
    from mmengine.dataset import pseudo_collate
    data = model.data_preprocessor(pseudo_collate(batch(cached, [0])))
    with pytest.raises(KeyError, match='needs their frames'):
        model(**data, mode='predict')
