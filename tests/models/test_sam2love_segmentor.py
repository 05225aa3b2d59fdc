"""The tiny SAM2-LOVE end to end: loss step, predict pass, freezing."""
import os.path as osp

import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from sam2love.datasets import RefAVSDataset
from sam2love.datasets.synthetic import PRESETS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'configs', '_base_', 'models', 'sam2love_tiny.py')
T = PRESETS['tiny']['num_frames']


def check_clip_predictions(samples) -> None:
    """Each sample holds (T, H, W) logits and uint8 masks at its frame size
    and (T, 256, 256) logits for the metric."""
    for sample in samples:
        h, w = sample.ori_shape
        assert sample.seg_logits.data.shape == (T, h, w)
        assert sample.pred_sem_seg.data.shape == (T, h, w)
        assert sample.pred_sem_seg.data.dtype == torch.uint8
        assert sample.pred_eval_logits.data.shape == (T, 256, 256)


def build_model(seed: int = 0, model: dict | None = None, **head):
    """The tiny SAM2LOVE, its head's keys ``head`` and its own ``model``
    (e.g. ``sound_check``)."""
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.audio.num_examples = T
    cfg.model.decode_head.update(head)
    cfg.model.update(model or {})
    if (head.get('presence') or {}).get('source') in ('verify', 'scene'):
        cfg.model.neck.presence_query = True
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def check_model(train_only=None, **checks):
    """The tiny SAM2LOVE with the scene check and the segmentor's
    ``checks`` (``sound_check=...``, ``name_check=...``)."""
    if train_only:
        checks['train_only'] = train_only
    return build_model(model=checks, presence=dict(source='scene',
                                                   null_weight=2.0))


@torch.no_grad()
def prompts_of(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused tokens (B, 1, D) and the frames (B, T, 3, H, W) of a
    batch, SAM2's object score biased so that every frame keeps its mask."""
    head = model.decode_head
    head.sam.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(10.)
    data = model.data_preprocessor(batch)
    prompt = model.extract_feat(
        data['inputs'], [ds.text for ds in data['data_samples']])
    return prompt, data['inputs']['frames']


def forward_loss(model, batch):
    data = model.data_preprocessor(batch, training=True)
    return model(**data, mode='loss')


def loss_trained_alone(model, batch, module: str):
    """With ``train_only=(module, )``: the loss (seed 1) is
    ``loss_<module>`` alone and its gradients reach that module alone."""
    model.train()
    torch.manual_seed(1)
    losses = forward_loss(model, batch)
    assert set(losses) == {f'loss_{module}'}
    losses[f'loss_{module}'].backward()
    grads = {name: p.grad for name, p in model.named_parameters()
             if p.grad is not None}
    assert grads and all(n.startswith(f'{module}.') for n in grads)
    return losses[f'loss_{module}']


def test_loss_step_and_predict_on_two_clips(batch):
    model = build_model()
    model.train()
    losses = forward_loss(model, batch)
    assert set(losses) == {'loss_mask', 'loss_iou', 'loss_obj'}
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch)
        samples = model(**data, mode='predict')
    check_clip_predictions(samples)
    with torch.no_grad():
        raw = model(**data, mode='tensor')
    assert raw.shape == (2, T, 32, 32)


def test_deterministic_with_a_fixed_seed(batch):
    results = []
    for _ in range(2):
        model = build_model(seed=3)
        model.train()
        losses = forward_loss(model, batch)
        model.eval()
        with torch.no_grad():
            data = model.data_preprocessor(batch)
            logits = model(**data, mode='tensor')
        results.append((losses, logits))
    (la, pa), (lb, pb) = results
    for key in la:
        assert torch.equal(la[key], lb[key])
    assert torch.equal(pa, pb)


PAPER_TRAINABLE = {
    'neck', 'decode_head.prompt_proj', 'decode_head.sam.sam_prompt_encoder',
    'decode_head.sam.sam_mask_decoder'}


def trainable_modules(model) -> set[str]:
    names = set()
    for name, param in model.named_parameters():
        if param.requires_grad:
            parts = name.split('.')
            depth = 3 if parts[:2] == ['decode_head', 'sam'] else 2
            names.add('.'.join(parts[:depth]) if parts[0] == 'decode_head'
                      else parts[0])
    return names


def test_optimizer_step_touches_exactly_the_trainable_parameters(batch):
    model = build_model()
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-3)
    losses = forward_loss(model, batch)
    sum(losses.values()).backward()
    # Every trainable parameter is in the graph (DDP needs no
    # find_unused_parameters). Gradients are non-zero everywhere except in
    # the hypernetworks of the two candidate masks the min-over-masks loss
    # did not pick in this step.
    no_grad = [n for n, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not no_grad, f'trainable without gradient: {no_grad}'
    zero = {n.split('.layers')[0] for n, p in model.named_parameters()
            if p.requires_grad and not p.grad.any()}
    hyper = 'decode_head.sam.sam_mask_decoder.output_hypernetworks_mlps'
    assert zero <= {f'{hyper}.{i}' for i in (1, 2, 3)}, zero
    assert len(zero) <= 2
    optimizer.step()
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert not torch.equal(param, before[name]), name
        else:
            assert torch.equal(param, before[name]), f'frozen moved: {name}'
            assert param.grad is None, name
    # frozen encoders stay in eval mode through train()
    assert all(not m.training for m in model.backbone.modules()
               if m is not model.backbone)
    assert not model.decode_head.sam.image_encoder.training
    assert not model.decode_head.sam.memory_attention.training
    assert model.decode_head.sam.sam_mask_decoder.training


def test_predictions_work_with_mmseg_visualizer(batch, tmp_path):
    """mmseg's visualizer (and so its hooks) takes our data samples; it
    draws channel 0, i.e. frame 0, on the frame-0 image."""
    import mmcv
    from mmseg.visualization import SegLocalVisualizer
    model = build_model().eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch)
        sample = model(**data, mode='predict')[0]
    visualizer = SegLocalVisualizer(name='sam2love_test',
                                    save_dir=str(tmp_path))
    visualizer.dataset_meta = RefAVSDataset.METAINFO
    image = mmcv.imread(sample.img_path, channel_order='rgb')
    out_file = str(tmp_path / 'frame0.png')
    visualizer.add_datasample('frame0', image, sample, out_file=out_file)
    drawn = mmcv.imread(out_file)
    assert drawn.shape[0] == image.shape[0]
    assert drawn.shape[1] == 2 * image.shape[1]  # ground truth | prediction


def test_referent_ids_join_rows_naming_one_object_of_a_clip():
    from mmseg.structures import SegDataSample

    from sam2love.models.segmentors.sam2love import referent_ids

    def sample(**meta):
        ds = SegDataSample()
        ds.set_metainfo(meta)
        return ds
    ids = referent_ids([sample(clip_name='a', fid=1), sample(clip_name='b', fid=1),
                        sample(clip_name='a', fid=2), sample(clip_name='a', fid=1),
                        sample(), sample()])
    assert ids.tolist() == [0, 1, 2, 0, 3, 4]
