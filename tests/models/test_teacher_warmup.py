"""``TeacherWarmupHook``: while it holds, the fused tokens' losses train
the neck and the token projection but not SAM2's heads, which learn from
the teacher token alone."""
from types import SimpleNamespace

import pytest
from test_sam2love_segmentor import build_model, forward_loss

from sam2love.engine.hooks import TeacherWarmupHook

ALIGN = dict(type='ReferentAlignmentLoss', mode='prototype',
             temperature=0.1, teacher_weight=1.0)


def grads(module):
    return [p.grad for p in module.parameters() if p.requires_grad]


def reached(module) -> bool:
    return any(g is not None and g.any() for g in grads(module))


@pytest.mark.parametrize('heads_learn', [False, True])
def test_fused_loss_reaches_the_heads_only_after_the_warmup(
        referent_batch, heads_learn):
    model = build_model(loss_align=ALIGN, token_pointer=0.1).train()
    head = model.decode_head
    head.fused_trains_heads = heads_learn
    losses = forward_loss(model, referent_batch)
    losses['loss_mask'].backward()
    assert reached(model.neck) and reached(head.prompt_proj)
    assert reached(head.sam.sam_mask_decoder) == heads_learn
    model.zero_grad()
    forward_loss(model, referent_batch)['loss_mask_teacher'].backward()
    assert reached(head.sam.sam_mask_decoder)


def test_detached_heads_decode_the_same_masks(referent_batch):
    model = build_model(loss_align=ALIGN, token_pointer=0.1).train()
    plain = forward_loss(model, referent_batch)
    model.decode_head.fused_trains_heads = False
    warm = forward_loss(model, referent_batch)
    for key in plain:
        assert warm[key].item() == pytest.approx(plain[key].item(), abs=1e-6)


def test_hook_switches_by_iteration():
    head = SimpleNamespace(loss_align=SimpleNamespace(teacher_weight=1.0),
                           fused_trains_heads=True)
    runner = SimpleNamespace(model=SimpleNamespace(decode_head=head), iter=0)
    hook = TeacherWarmupHook(iters=3)
    seen = []
    for it in range(5):
        runner.iter = it
        hook.before_train_iter(runner, it)
        seen.append(head.fused_trains_heads)
    assert seen == [False, False, False, True, True]
    head.fused_trains_heads = False
    hook.after_train(runner)
    assert head.fused_trains_heads


def test_hook_needs_a_teacher_and_positive_iters():
    with pytest.raises(ValueError, match='iters'):
        TeacherWarmupHook(iters=0)
    runner = SimpleNamespace(model=SimpleNamespace(
        decode_head=SimpleNamespace(loss_align=None)), iter=0)
    with pytest.raises(ValueError, match='teacher'):
        TeacherWarmupHook(iters=5).before_train_iter(runner, 0)
