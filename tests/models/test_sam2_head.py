"""``SAM2PromptHead``: which SAM2 parts train, frame 0's training path,
the pretrained tracking decoder, and tracking frames one at a time."""
import pytest
import torch
from test_sam2love_segmentor import (
    PAPER_TRAINABLE,
    T,
    build_model,
    forward_loss,
    prompts_of,
    trainable_modules,
)

from sam2love.models.sam2 import track_clip


@pytest.mark.parametrize('trainable,sam_parts', [
    ('paper', {'sam_prompt_encoder', 'sam_mask_decoder'}),
    ('decoder', {'sam_mask_decoder'}),
    ('frozen', set()),
])
def test_trainable_sets_of_table6(trainable, sam_parts):
    model = build_model(trainable=trainable)
    expected = {'neck', 'decode_head.prompt_proj'} | {
        f'decode_head.sam.{p}' for p in sam_parts}
    assert trainable_modules(model) == expected
    if trainable == 'paper':
        assert expected == PAPER_TRAINABLE


def test_frame0_training_path_matches_the_tracker(batch):
    """Training decodes frame 0 itself (to get logits before object
    gating); with a present object it gives the tracker's frame 0."""
    model = build_model().eval()
    head = model.decode_head
    with torch.no_grad():
        prompt, frames = prompts_of(model, batch)
        out = head.forward_frame0(prompt, frames[:, 0])
        best = out['ious'].argmax(1)
        mine = out['masks'][torch.arange(2), best]
        tracked = track_clip(
            head.sam, head.fit_frames(frames),
            dict(sparse_tokens=head.prompt_tokens(prompt)),
            memory_dtype=torch.float32,
            multimask_output=head.multimask_output)
    assert (out['object_score_logits'] > 0).all()
    torch.testing.assert_close(mine, tracked['low_res_logits'][:, 0, 0],
                               atol=1e-5, rtol=1e-5)


def test_pretrained_tracking_decoder_stays_as_loaded(batch):
    """``tracking_decoder='pretrained'``: frozen copies of SAM2's heads
    track frames 1..T-1 while frame 0's are fine-tuned."""
    model = build_model(tracking_decoder='pretrained')
    head = model.decode_head
    assert trainable_modules(model) == PAPER_TRAINABLE
    copies = head.tracking_heads
    for name, module in (('prompt_encoder', head.sam.sam_prompt_encoder),
                         ('mask_decoder', head.sam.sam_mask_decoder)):
        assert copies[name] is not module
        for a, b in zip(copies[name].state_dict().values(),
                        module.state_dict().values()):
            assert torch.equal(a, b)
    model.train()
    assert not copies.training
    before = {k: v.clone() for k, v in copies.state_dict().items()}
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-2)
    sum(forward_loss(model, batch).values()).backward()
    optimizer.step()
    after = copies.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    moved = head.sam.sam_mask_decoder.state_dict()
    assert any(not torch.equal(before[f'mask_decoder.{k}'], v)
               for k, v in moved.items())
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch)
        logits = model(**data, mode='tensor')
    assert logits.shape[:2] == (2, T) and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match='tracking_decoder'):
        build_model(tracking_decoder='copy')


def test_track_gives_predict_clip_frame_by_frame(batch):
    """Frames pushed one at a time (``track``) give ``predict_clip``'s
    logits and presence, the presence switch emptying a clip found absent
    on every frame; SAM2's memory bank stays bounded."""
    model = build_model(presence=dict(source='token')).eval()
    head = model.decode_head
    with torch.no_grad():
        prompt, frames = prompts_of(model, batch)
        clip = head.clip_presence(prompt, None)
        head.presence['threshold'] = float(clip.mean())  # one clip absent
        reference = head.predict_clip(prompt, frames)
        for i in range(len(prompt)):
            outs = list(head.track(prompt[i:i + 1], frames[i],
                                   num_frames=T))
            torch.testing.assert_close(
                torch.stack([o['logits'][0] for o in outs]),
                reference['logits'][i], atol=1e-5, rtol=0)
            torch.testing.assert_close(
                torch.stack([o['presence'][0] for o in outs]),
                reference['presence'][i], atol=1e-5, rtol=0)
            assert max(o['memory_frames'] for o in outs) <= T
    absent = clip < head.presence['threshold']
    assert absent.sum() == 1
    assert (reference['logits'][absent] == -1024).all()
    assert (reference['presence'][absent] == 0).all()
    assert (reference['logits'][~absent] > -1024).any()
