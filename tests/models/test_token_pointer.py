"""``SAM2PromptHead(token_pointer=tau)``: the token prompts SAM2 with the
frame-0 features it points at, in training, in ``predict`` and streamed."""
import pytest
import torch
import torch.nn.functional as F
from test_sam2love_segmentor import build_model, forward_loss, prompts_of


def test_tokens_are_soft_prototypes_of_what_they_point_at():
    """A sharp pointer at a cell's own feature returns that cell's unit
    feature at the token's norm; a soft one, the attention-weighted unit
    mean of the cells."""
    head = build_model(token_pointer=1e-3).decode_head
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(2, head.prompt_dim, 4, 4, generator=gen)
    cells = F.normalize(feats.flatten(2), dim=1)
    target = cells[:, :, [5, 10]].diagonal(dim1=0, dim2=2).t()  # (2, C)
    head.prompt_tokens = lambda prompt: prompt  # the token as given
    tokens = head.frame0_tokens(3 * target[:, None],
                                dict(vision_features=feats))
    torch.testing.assert_close(tokens[:, 0], 3 * target)
    head.token_pointer = 0.5
    soft = head.frame0_tokens(3 * target[:, None],
                              dict(vision_features=feats))[:, 0]
    attn = (torch.einsum('bc,bck->bk', target, cells) / 0.5).softmax(-1)
    expected = F.normalize(torch.einsum('bck,bk->bc', cells, attn), dim=-1)
    torch.testing.assert_close(soft, 3 * expected)


def test_bad_temperature_is_refused():
    with pytest.raises(ValueError, match='token_pointer'):
        build_model(token_pointer=0.0)


def test_training_decodes_the_pointed_tokens_and_reaches_the_neck(referent_batch):
    model = build_model(token_pointer=0.1).train()
    losses = forward_loss(model, referent_batch)
    losses['loss_mask'].backward()
    assert any(p.grad is not None and p.grad.any()
               for p in model.neck.parameters())
    plain = forward_loss(build_model(), referent_batch)
    assert not torch.isclose(losses['loss_mask'], plain['loss_mask'])


def test_predict_and_stream_prompt_frame0_alike(referent_batch):
    """``predict`` (frame 0 encoded once, for the pointer and the tracker)
    and the streaming tracker, which makes the tokens when frame 0
    arrives, give the same masks; without the pointer they differ."""
    model = build_model(token_pointer=0.1).eval()
    head = model.decode_head
    with torch.no_grad():  # every frame keeps its mask
        prompt, frames = prompts_of(model, referent_batch)
        clip = head.predict(prompt, frames)
        for i in range(len(prompt)):
            streamed = torch.stack([
                out['logits'][0] for out in head.track(
                    prompt[i:i + 1], frames[i], num_frames=frames.size(1))])
            torch.testing.assert_close(streamed, clip[i], atol=1e-5,
                                       rtol=0)
        assert (clip > -1024).all()
        head.token_pointer = None
        assert not torch.allclose(head.predict(prompt, frames), clip)
