"""The project's config: built, one training iteration, a prediction; the
token conditions the masks."""
import pytest
import torch

from projects.project_test_helpers import TINY_FRAMES, project_config, step_and_predict

CONFIG = ('projects/fused_token_seghead/configs/'
          'segformer-fused-token_mit-tiny_1xb8-600it_synthetic.py')


@pytest.fixture(scope='module')
def run(tiny_tree):
    return step_and_predict(project_config(CONFIG, tiny_tree))


def test_composes_mmseg_modules_with_sam2loves(run):
    model = run.model
    assert type(model).__name__ == 'FusedTokenSegmentor'
    assert type(model.backbone).__name__ == 'TriModalBackbone'
    assert type(model.neck).__name__ == 'FusionTokenNeck'
    head = model.decode_head
    assert type(head.image_backbone).__name__ == 'MixVisionTransformer'
    assert type(head.decode_head).__name__ == 'SegformerHead'
    assert not any('sam' in name for name, _ in model.named_modules())


def test_one_training_iteration(run):
    assert set(run.losses) == {'loss', 'loss_mask'}
    assert torch.isfinite(run.losses['loss'])
    changed = {k for k in run.after
               if not torch.equal(run.after[k], run.before[k])}
    # the image model, the head, the token's kernel and the fusion train
    for prefix in ('decode_head.image_backbone.', 'decode_head.decode_head.',
                   'decode_head.token_to_kernel.', 'neck.'):
        assert any(k.startswith(prefix) for k in changed), prefix
    # the frozen encoders do not
    assert not any(k.startswith('backbone.') for k in changed)


def test_prediction_of_every_frame(run):
    for sample in run.predictions:
        h, w = sample.ori_shape
        assert sample.pred_sem_seg.data.shape == (TINY_FRAMES, h, w)
        assert sample.pred_sem_seg.data.dtype == torch.uint8
        assert sample.pred_eval_logits.data.shape == (TINY_FRAMES, 256, 256)


def test_the_fused_token_conditions_the_masks(run):
    model = run.model
    data = model.data_preprocessor(run.test_batch, False)
    inputs, samples = data['inputs'], data['data_samples']
    texts = [s.text for s in samples]
    with torch.no_grad():
        own = model.encode_decode(inputs, [s.metainfo for s in samples])
        prompt = model.extract_feat(inputs, texts[::-1])
        swapped = model.decode_head.predict(prompt, inputs['frames'])
    assert texts[0] != texts[1]
    assert own.shape[:2] == (2, TINY_FRAMES)
    assert not torch.allclose(own, swapped)


def test_bad_shapes_are_named(run):
    head = run.model.decode_head
    with pytest.raises(ValueError, match=r'prompt must be \(B, 1, D\)'):
        head(torch.zeros(2, 32), torch.zeros(2, 1, 3, 64, 64))
