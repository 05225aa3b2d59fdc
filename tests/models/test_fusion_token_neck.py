import pytest
import torch

from sam2love.models.necks import FusionTokenNeck

B, T, N, P, HW = 2, 4, 4, 6, 9


def make_feats(seed=0, text_len=P):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, text_len, dtype=torch.bool)
    mask[1, text_len - 2:] = False  # second expression is shorter
    return dict(
        audio=torch.randn(B, N, 12, generator=g),
        text=torch.randn(B, text_len, 20, generator=g),
        text_mask=mask,
        patches=torch.randn(B, T, HW, 16, generator=g),
        cls=torch.randn(B, T, 16, generator=g))


def make_neck(**kwargs):
    torch.manual_seed(0)
    cfg = dict(audio_dim=12, text_dim=20, vision_dim=16, embed_dim=32,
               num_layers=2, num_heads=4)
    cfg.update(kwargs)
    return FusionTokenNeck(**cfg).eval()


def test_shapes():
    neck = make_neck(num_seg_tokens=4)
    out = neck(make_feats())
    assert out['prompt'].shape == (B, 1, 32)
    assert out['seg_tokens'].shape == (B, T, 4, 32)
    # the prompt is the first [seg] after the last frame
    torch.testing.assert_close(out['prompt'], out['seg_tokens'][:, -1, :1])


@pytest.mark.parametrize('use_history', [True, False])
def test_prompt_depends_on_every_frame(use_history):
    neck = make_neck(use_history=use_history)
    feats = make_feats()
    with torch.no_grad():
        base = neck(feats)['prompt']
        for k in range(T):
            changed = {key: v.clone() for key, v in feats.items()}
            changed['patches'][:, k] += 1.0
            diff = (neck(changed)['prompt'] - base).abs().max()
            assert diff > 1e-4, f'frame {k} does not reach the prompt'


def test_history_grows_one_token_per_frame():
    neck = make_neck(use_history=True)
    proj = neck.project(make_feats())
    context, pad = neck._context(proj)
    seg = neck.seg_tokens.expand(B, -1, -1)
    base = seg.size(1) + context.size(1) + HW
    for i in range(T):
        seq, seq_pad = neck.frame_sequence(seg, context, pad, proj, i)
        assert seq.size(1) == base + i + 1
        assert seq_pad.shape == seq.shape[:2]
        # the history tokens are the projected [cls] of frames 0..i
        torch.testing.assert_close(seq[:, base:], proj['cls'][:, :i + 1])
    no_history = make_neck(use_history=False)
    seq, _ = no_history.frame_sequence(seg, context, pad, proj, T - 1)
    assert seq.size(1) == base


@pytest.mark.parametrize('fusion', ['token', 'mean'])
def test_text_padding_does_not_change_the_output(fusion):
    neck = make_neck(fusion=fusion)
    feats = make_feats()
    padded = dict(feats)
    extra = 5
    padded['text'] = torch.cat([feats['text'], torch.randn(B, extra, 20)], 1)
    padded['text_mask'] = torch.cat(
        [feats['text_mask'], torch.zeros(B, extra, dtype=torch.bool)], 1)
    with torch.no_grad():
        a = neck(feats)['prompt']
        b = neck(padded)['prompt']
        # the masked tokens of the shorter expression are ignored too
        shorter = dict(feats)
        shorter['text'] = feats['text'].clone()
        shorter['text'][1, P - 2:] = 100.0
        c = neck(shorter)['prompt']
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a, c, atol=1e-5, rtol=1e-5)


def test_mean_fusion_and_audio_order_matters():
    neck = make_neck(fusion='mean')
    assert neck(make_feats())['prompt'].shape == (B, 1, 32)
    token = make_neck()
    torch.nn.init.normal_(token.audio_pos, std=0.5)  # as after training
    feats = make_feats()
    reversed_audio = dict(feats, audio=feats['audio'].flip(1))
    with torch.no_grad():
        diff = (token(feats)['prompt'] - token(reversed_audio)['prompt'])
    assert diff.abs().max() > 1e-4


def test_rejects_unknown_fusion():
    with pytest.raises(ValueError, match='fusion'):
        make_neck(fusion='sum')


@pytest.mark.parametrize('removed', ['audio', 'text'])
def test_removed_modality_is_ignored(removed):
    neck = make_neck(**{f'use_{removed}': False})
    names = {n.split('.')[0] for n, _ in neck.named_parameters()}
    unused = {'audio': {'audio_proj', 'aud_token', 'audio_pos'},
              'text': {'text_proj'}}[removed]
    assert not names & unused
    feats = make_feats()
    changed = dict(feats, **{removed: torch.randn_like(feats[removed])})
    other = make_neck()
    with torch.no_grad():
        torch.testing.assert_close(neck(feats)['prompt'],
                                   neck(changed)['prompt'])
        # the full model does read it
        assert (other(feats)['prompt']
                - other(changed)['prompt']).abs().max() > 1e-4
        # and the vision path still matters
        frames = dict(feats, patches=torch.randn_like(feats['patches']))
        assert (neck(feats)['prompt'] - neck(frames)['prompt']).abs().max() > 1e-4


def test_input_norm_standardises_each_modality_and_draws_nothing():
    plain, normed = make_neck(), make_neck(input_norm=True)
    # the switch adds no parameter and no random draw: same weights
    for a, b in zip(plain.parameters(), normed.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    feats = make_feats()
    # a large shared offset, as the demo's random-init encoders give
    shifted = {k: v + 10 if k != 'text_mask' else v for k, v in feats.items()}
    normed.train()
    out = normed(shifted)['prompt']
    # in training the batch statistics remove the offset entirely
    torch.testing.assert_close(out, normed(feats)['prompt'],
                               atol=1e-4, rtol=1e-4)
    stats = normed.input_norms['audio']
    assert stats.running_mean.mean() > 0.5  # it learnt the offset
    normed.eval()  # running statistics: deterministic and per sample
    single = normed({k: v[:1] for k, v in shifted.items()})['prompt']
    torch.testing.assert_close(single, normed(shifted)['prompt'][:1])


def test_input_norm_leaves_text_padding_out():
    neck = make_neck(input_norm=True).train()
    feats = make_feats()
    padded = dict(feats, text=feats['text'].clone())
    padded['text'][1, -2:] = 1e3  # padded positions of the 2nd expression
    torch.testing.assert_close(neck(padded)['prompt'], neck(feats)['prompt'])
