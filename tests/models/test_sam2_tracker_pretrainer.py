"""Stage 1: the mask-prompted SAM2 tracking pretrainer and its export."""
import copy
import math

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmseg.registry import MODELS
from test_sam2love_segmentor import check_clip_predictions

from sam2love.datasets.synthetic import PRESETS
from sam2love.models.decode_heads.sam2_head import SAM2PromptHead
from sam2love.models.sam2.build import export_sam2_weights
from sam2love.models.sam2.hooks import record_mask_decoder
from sam2love.models.segmentors.sam2_tracker_pretrainer import (
    SAM2TrackerPretrainer,
)

T = PRESETS['tiny']['num_frames']
SMALL = dict(sam2_config='sam2.1_hiera_t', sam2_overrides='small',
             image_size=128)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """The 3 M-parameter model runs fastest on one thread; with two
    threads on a busy 2-core machine a step can take 15x longer."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def batch(tiny_samples):
    """Two synthetic clips whose frame-0 masks hold an object."""
    present = [s for s in tiny_samples
               if s['data_samples'].gt_sem_seg.data[0].any()]
    return pseudo_collate(present[:2])


def build_model(seed: int = 0, **kwargs) -> SAM2TrackerPretrainer:
    torch.manual_seed(seed)
    model = MODELS.build(dict(type='SAM2TrackerPretrainer', **SMALL,
                              **kwargs))
    return model


def losses_of(model, batch) -> dict:
    data = model.data_preprocessor(batch, training=True)
    return model(**data, mode='loss')


def grad_norm(model, prefix: str) -> float:
    grads = [p.grad.abs().sum() for n, p in model.sam.named_parameters()
             if n.startswith(prefix) and p.grad is not None]
    return float(sum(grads)) if grads else 0.0


def test_loss_reaches_memory_attention_and_mask_decoder(batch):
    model = build_model().train()
    losses = losses_of(model, batch)
    assert set(losses) == {'loss_mask', 'loss_iou', 'loss_obj'}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    for part in ('memory_attention', 'memory_encoder', 'sam_mask_decoder',
                 'image_encoder', 'maskmem_tpos_enc'):
        assert grad_norm(model, part) > 0, part


def test_object_pointers_train_once_object_scores_are_positive(batch):
    """Pointers are gated by the object score (``fixed_no_obj_ptr``); the
    score of frame 0's mask-prompt decoder call is trained too, which opens
    that gate."""
    model = build_model().train()
    head = model.sam.sam_mask_decoder.pred_obj_score_head.layers[-1]
    sum(losses_of(model, batch).values()).backward()
    assert grad_norm(model, 'obj_ptr_proj') == 0  # random init: scores < 0
    assert head.bias.grad.item() < 0  # ... and the loss pushes them up
    model.zero_grad()
    with torch.no_grad():
        head.bias.fill_(10.)
    sum(losses_of(model, batch).values()).backward()
    assert grad_norm(model, 'obj_ptr_proj') > 0


def test_min_candidate_loss_bounds_the_chosen_one(batch):
    """'chosen' trains the candidate of highest predicted IoU (SAM2's
    output), 'min' the one of lowest loss."""
    model = build_model().eval()
    chosen = losses_of(model, batch)['loss_mask']
    model.mask_candidate = 'min'
    assert losses_of(model, batch)['loss_mask'] <= chosen


def test_mask_loss_is_taken_before_object_gating(batch):
    """All object scores negative: SAM2 outputs -1024 everywhere, yet the
    mask loss still trains the mask decoder and the memory attention."""
    model = build_model(loss_iou_weight=0, loss_obj_weight=0).train()
    with torch.no_grad():
        model.sam.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(
            -100.)
    data = model.data_preprocessor(batch, training=True)
    gt = model._gt_masks(data['data_samples'])
    with record_mask_decoder(model.sam) as calls:
        out, _, _ = model.track(data['inputs']['frames'], gt[:, :1],
                             torch.float32)
    assert (out['low_res_logits'][:, 1:] == -1024).all()
    assert all((c[2] < 0).all() for c in calls)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_mask'}
    losses['loss_mask'].backward()
    assert grad_norm(model, 'sam_mask_decoder.output_hypernetworks_mlps') > 0
    assert grad_norm(model, 'memory_attention') > 0


def test_null_rows_are_left_out_of_the_loss(batch):
    model = build_model().eval()  # no dropout: compare two batches
    one_null = copy.deepcopy(batch)
    sample = one_null['data_samples'][1]
    sample.gt_sem_seg.data = torch.zeros_like(sample.gt_sem_seg.data)
    only_first = pseudo_collate([
        dict(inputs={k: v[0] for k, v in batch['inputs'].items()},
             data_samples=batch['data_samples'][0])])
    mixed, single = losses_of(model, one_null), losses_of(model, only_first)
    for key in mixed:
        # batched and single-clip kernels differ in rounding only
        torch.testing.assert_close(mixed[key], single[key], atol=1e-4,
                                   rtol=1e-4)
    all_null = copy.deepcopy(one_null)
    first = all_null['data_samples'][0]
    first.gt_sem_seg.data = torch.zeros_like(first.gt_sem_seg.data)
    zero = losses_of(model, all_null)
    assert all(v.item() == 0 for v in zero.values())
    sum(zero.values()).backward()  # an optimiser step sees zero gradients


def test_sub_clips_are_seeded_and_deterministic(batch):
    results = []
    for _ in range(2):
        model = build_model(seed=3, num_train_frames=2).train()
        results.append(losses_of(model, batch))
    for key in results[0]:
        assert torch.equal(results[0][key], results[1][key])
    with pytest.raises(ValueError, match='num_train_frames'):
        build_model(num_train_frames=1)
    with pytest.raises(ValueError, match='mask_candidate'):
        build_model(mask_candidate='best')


def test_frozen_prefixes():
    model = build_model(frozen=('image_encoder', )).train()
    assert model.image_encoder_frozen
    assert not model.sam.image_encoder.training
    assert all(p.requires_grad for p in model.sam.memory_attention.parameters())


def test_predict_writes_the_segmentor_fields(batch):
    model = build_model().eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch)
        samples = model(**data, mode='predict')
        raw = model(**data, mode='tensor')
    assert raw.shape == (2, T, 32, 32)
    check_clip_predictions(samples)
    for sample in samples:
        # frame 0 is the ground-truth prompt itself
        gt0 = sample.gt_sem_seg.data[0].bool()
        pred0 = sample.pred_sem_seg.data[0].bool()
        assert (pred0 == gt0).float().mean() > 0.95


def test_export_round_trip_into_the_stage2_head(batch, tmp_path):
    model = build_model(seed=5)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sum(losses_of(model, batch).values()).backward()
    optimizer.step()  # weights differ from any fresh init
    work_ckpt = tmp_path / 'iter_1.pth'
    torch.save({'meta': {'iter': 1}, 'state_dict': model.state_dict()},
               work_ckpt)
    out = tmp_path / 'sam2_stage1.pt'
    export_sam2_weights(str(work_ckpt), str(out))
    head = SAM2PromptHead(in_channels=32, checkpoint=str(out), **SMALL)
    mine, loaded = model.sam.state_dict(), head.sam.state_dict()
    assert mine.keys() == loaded.keys()
    for key in mine:
        assert torch.equal(mine[key], loaded[key]), key
    with pytest.raises(RuntimeError, match='no "sam.\\*" weights'):
        torch.save({'state_dict': {'x.weight': torch.zeros(1)}},
                   tmp_path / 'other.pth')
        export_sam2_weights(str(tmp_path / 'other.pth'), str(out))


def test_local_memory_init_comes_before_the_checkpoint(tmp_path):
    def cross_bias(model):
        return model.sam.memory_attention.layers[0].cross_attn_image.q_proj.bias

    fresh = build_model(seed=2)
    local = build_model(seed=2, local_memory_init=10.0)
    assert cross_bias(local).norm().item() == pytest.approx(10.0)
    assert cross_bias(fresh).norm() < 2
    path = tmp_path / 'sam2.pt'
    torch.save({'model': fresh.sam.state_dict()}, path)
    loaded = build_model(seed=3, local_memory_init=10.0, checkpoint=str(path))
    assert torch.equal(cross_bias(loaded), cross_bias(fresh))


def test_click_prompts_train_frame_0_and_the_point_embeddings(batch):
    model = build_model(point_prompt_prob=1.0).train()
    masks = model._gt_masks(batch['data_samples'])[:, 0]
    keep = masks.flatten(1).any(1).bool()
    clicks = model._sample_clicks(masks[keep])
    xy = clicks['point_coords'][:, 0]
    size = model.sam.image_size
    scale = torch.tensor([masks.shape[-1], masks.shape[-2]]) / size
    for mask, (x, y) in zip(masks[keep], (xy * scale).long()):
        assert mask[y, x]  # inside the object
    losses = losses_of(model, batch)
    assert {'loss_mask_click', 'loss_iou_click'} <= set(losses)
    sum(losses.values()).backward()
    assert grad_norm(model, 'sam_prompt_encoder.point_embeddings') > 0
    assert build_model(point_prompt_prob=0.0).point_prompt_prob == 0


def test_predict_batches_clips_of_different_frame_sizes(batch):
    """Test batches mix frame sizes (masks stay at the frame size); each
    frame-0 mask is fitted to SAM2's input on its own."""
    import copy

    from mmengine.structures import PixelData

    other = copy.deepcopy(batch)
    sample = other['data_samples'][1]
    masks = sample.gt_sem_seg.data[None].float()
    sample.gt_sem_seg = PixelData(data=torch.nn.functional.interpolate(
        masks, size=(96, 160), mode='nearest')[0].to(torch.uint8))
    sample.set_metainfo(dict(ori_shape=(96, 160)))
    model = build_model().eval()
    with torch.no_grad():
        both = model.test_step(other)
        one = [model.test_step(dict(
            inputs={k: v[i:i + 1] for k, v in other['inputs'].items()},
            data_samples=other['data_samples'][i:i + 1]))[0]
            for i in range(2)]
    assert both[1].seg_logits.data.shape[-2:] == (96, 160)
    for a, b in zip(both, one):
        torch.testing.assert_close(a.pred_eval_logits.data,
                                   b.pred_eval_logits.data, atol=1e-4, rtol=0)


def auxiliary_losses(batch, switch: str, name: str, before=None) -> tuple:
    """Losses with ``switch`` at weights 1 and 0.5: the tracked clip's
    losses stay exactly as without it, it adds ``loss_{mask,iou}_{name}``
    and the weight scales them. ``before(model)`` runs before each
    forward. Returns the model and losses at weight 0.5."""
    model = build_model().train()
    torch.manual_seed(1)
    plain = losses_of(model, batch)
    weighted = {}
    for weight in (1.0, 0.5):
        model = build_model(**{switch: weight}).train()
        if before is not None:
            before(model)
        torch.manual_seed(1)
        weighted[weight] = losses_of(model, batch)
    losses = weighted[0.5]
    for key, value in plain.items():
        assert torch.equal(losses[key], value), key
    keys = {f'loss_mask_{name}', f'loss_iou_{name}'}
    assert set(losses) - set(plain) == keys
    for key in keys:
        assert torch.allclose(2 * losses[key], weighted[1.0][key])
    return model, losses


def test_click_decoding_trains_the_sparse_path_beside_tracking(batch):
    """``click_loss_weight`` adds a clicked frame decoded without memory;
    the tracked clip and its losses stay exactly as without it."""
    model, losses = auxiliary_losses(batch, 'click_loss_weight', 'click_aux')
    sum(losses.values()).backward()
    assert grad_norm(model, 'sam_prompt_encoder.point_embeddings') > 0


def test_every_object_prompt_covers_every_object(tiny_samples):
    """``test_prompt='all_objects'``: frame 0's prompt of every row of a
    clip is the union of all its objects (it holds the ground truth of
    every row of the clip, and more than a single row's where the clip
    has an unreferred or second object); predict then starts from it."""
    from collections import defaultdict
    model = build_model(test_prompt='all_objects').eval()
    by_clip = defaultdict(list)
    for sample in tiny_samples:
        by_clip[sample['data_samples'].clip_name].append(sample)
    larger = 0
    for samples in by_clip.values():
        data_samples = [s['data_samples'] for s in samples]
        prompts = model.prompt_masks(data_samples)
        for prompt in prompts:
            assert torch.equal(prompt, prompts[0])  # one prompt per clip
        union = prompts[0].bool()
        assert union.shape == data_samples[0].gt_sem_seg.data.shape[-2:]
        for ds in data_samples:
            gt0 = ds.gt_sem_seg.data[0].bool()
            assert not (gt0 & ~union).any(), ds.uid
            larger += int(union.sum() > gt0.sum())
    assert larger >= 1
    gt_prompts = build_model().prompt_masks(
        [s['data_samples'] for s in tiny_samples[:2]])
    for prompt, sample in zip(gt_prompts, tiny_samples):
        assert torch.equal(prompt, sample['data_samples'].gt_sem_seg.data[0])

    present = [s for s in tiny_samples
               if s['data_samples'].gt_sem_seg.data[0].any()][:2]
    batch = pseudo_collate(present)
    with torch.no_grad():
        samples = model.test_step(batch)
    for sample, prompt in zip(samples, model.prompt_masks(
            batch['data_samples'])):
        # frame 0's output is the mask prompt itself (as with 'gt')
        pred0 = sample.pred_sem_seg.data[0].bool()
        assert (pred0 == prompt.bool()).float().mean() > 0.95


def test_every_object_prompt_needs_the_synthetic_extras(batch, tmp_path):
    with pytest.raises(ValueError, match='test_prompt'):
        build_model(test_prompt='union')
    model = build_model(test_prompt='all_objects').eval()
    other = copy.deepcopy(batch)
    sample = other['data_samples'][0]
    sample.set_metainfo(dict(frame_paths=[
        str(tmp_path / 'release' / 'media' / sample.clip_name / 'frames' /
            '0.jpg')]))
    with pytest.raises(FileNotFoundError,
                       match='release/synthetic_extras/all_objects/.*'
                       'make_synthetic_refavs'):
        model.prompt_masks(other['data_samples'])


def test_memory_readout_trains_the_memory_path_and_is_not_exported(
        batch, tmp_path):
    """``memory_readout_weight``: a linear read-out of the tracked frames'
    memory-conditioned embeddings; its loss alone reaches the memory
    encoder and attention (not the decoder), and the export leaves the
    read-out out."""
    model = build_model(memory_readout_weight=1.0).train()
    losses = losses_of(model, batch)
    assert set(losses) == {'loss_mask', 'loss_iou', 'loss_obj', 'loss_memory'}
    losses['loss_memory'].backward()
    for part in ('memory_attention', 'memory_encoder'):
        assert grad_norm(model, part) > 0, part
    assert grad_norm(model, 'sam_mask_decoder') == 0
    assert model.memory_readout.weight.grad.abs().sum() > 0
    ckpt = tmp_path / 'stage1.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    exported = export_sam2_weights(str(ckpt), str(tmp_path / 'sam2.pt'))
    assert not any('memory_readout' in k for k in exported)
    assert set(exported) == set(model.sam.state_dict())


def test_prototype_decoding_reads_an_appearance_token(batch):
    """``prototype_loss_weight`` decodes a frame from its object's
    appearance token without memory; the
    tracked clip's losses stay as without it and the weight scales it."""
    prompts = []

    def record(module, args, kwargs, output):
        prompts.append(kwargs['sparse_prompt_embeddings'])

    model, losses = auxiliary_losses(
        batch, 'prototype_loss_weight', 'proto_aux',
        before=lambda m: m.sam.sam_mask_decoder.register_forward_hook(
            record, with_kwargs=True))
    # the last decoder call is the appearance-token frame: SAM2's two
    # padding points, then the token (as SAM2PromptHead appends its own),
    # at the norm of SAM2's point embeddings
    token = prompts[-1][:, -1]
    assert prompts[-1].shape[1] == 3
    encoder = model.sam.sam_prompt_encoder
    norm = torch.cat([encoder.not_a_point_embed.weight] + [
        e.weight for e in encoder.point_embeddings]).norm(dim=-1).mean()
    torch.testing.assert_close(token.norm(dim=-1),
                               norm.expand(token.size(0)).detach())
    losses['loss_mask_proto_aux'].backward()
    assert grad_norm(model, 'sam_mask_decoder') > 0
    assert grad_norm(model, 'memory_attention') == 0


def test_appearance_loss_trains_the_image_encoder_to_find_the_object(batch):
    """``appearance_loss_weight``: frame 0's object is found in a later
    frame by its prototype; the tracked clip's losses stay as without it,
    the weight scales it, and only the image encoder learns from it."""
    model = build_model().train()
    torch.manual_seed(1)
    plain = losses_of(model, batch)
    weighted = {}
    for weight in (1.0, 0.5):
        model = build_model(appearance_loss_weight=weight).train()
        torch.manual_seed(1)
        weighted[weight] = losses_of(model, batch)
    losses = weighted[0.5]
    for key, value in plain.items():
        assert torch.equal(losses[key], value), key
    assert set(losses) - set(plain) == {'loss_appearance'}
    assert torch.allclose(2 * losses['loss_appearance'],
                          weighted[1.0]['loss_appearance'])
    # a softmax over the 8 x 8 cells of the frame: below chance, log(64)
    assert 0 < float(weighted[1.0]['loss_appearance']) < math.log(64) + 1
    losses['loss_appearance'].backward()
    assert grad_norm(model, 'image_encoder') > 0
    assert grad_norm(model, 'sam_mask_decoder') == 0
    assert grad_norm(model, 'memory_attention') == 0


def test_shape_loss_trains_the_image_encoder_and_is_not_exported(
        batch, tmp_path):
    """``shape_loss_weight``: every frame's prototype is read out into its
    object's silhouette; the tracked clip's losses stay as without it, only
    the image encoder (and the read-out) learn from it, and the export
    leaves the read-out out."""
    model = build_model().train()
    torch.manual_seed(1)
    plain = losses_of(model, batch)
    model = build_model(shape_loss_weight=1.0).train()
    torch.manual_seed(1)
    losses = losses_of(model, batch)
    for key, value in plain.items():
        assert torch.equal(losses[key], value), key
    assert set(losses) - set(plain) == {'loss_shape'}
    losses['loss_shape'].backward()
    assert grad_norm(model, 'image_encoder') > 0
    assert grad_norm(model, 'sam_mask_decoder') == 0
    assert grad_norm(model, 'memory_attention') == 0
    ckpt = tmp_path / 'stage1.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    exported = export_sam2_weights(str(ckpt), str(tmp_path / 'sam2.pt'))
    assert set(exported) == set(model.sam.state_dict())
