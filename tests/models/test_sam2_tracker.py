"""In-memory clip tracking with SAM2 (``sam2love.models.sam2``: features,
prompts, hooks, step, tracker).

All models are small random-init SAM2s (``small_sam2_overrides`` at 128 px,
one also hiera-t at 128 px). Random weights give object-score logits around
0, and SAM2 replaces a frame's mask logits with -1024 wherever that logit is
≤ 0, which would make mask comparisons vacuous and block gradients. So every
model here gets the same deliberate bias of +10 on the last layer of
``sam_mask_decoder.pred_obj_score_head`` ("object present" on every frame),
applied before any copy of its weights.
"""

import os

os.environ['HF_HUB_OFFLINE'] = '1'

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from sam2love.models.sam2.build import (  # noqa: E402
    SAM2_IMG_MEAN,
    SAM2_IMG_STD,
    build_sam2_model,
    resolve_sam2_config,
    sam2_hydra_overrides,
    small_sam2_overrides,
)
from sam2love.models.sam2.features import encode_frames  # noqa: E402
from sam2love.models.sam2.hooks import extra_sparse_prompt  # noqa: E402
from sam2love.models.sam2.tracker import track_clip  # noqa: E402

S = 128  # image size of every test model
NO_OBJ_THRESHOLD = -1000.0  # SAM2 fills 'no object' masks with -1024


def make_sam(config='sam2.1_hiera_t', small=True, seed=0):
    torch.manual_seed(seed)
    sam = build_sam2_model(
        config, image_size=S, overrides=small_sam2_overrides() if small else None
    )
    with torch.no_grad():
        sam.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(10.0)
    return sam


@pytest.fixture(scope='module')
def sam():
    return make_sam()


def blob_clip(num_frames, seed=0):
    """A red disk moving over a smooth random background.

    Returns (T, S, S, 3) uint8 frames and (T, S, S) bool masks.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (S // 8, S // 8, 3), dtype=np.uint8)
    background = np.array(Image.fromarray(coarse).resize((S, S), Image.BILINEAR))
    yy, xx = np.mgrid[:S, :S]
    frames, masks = [], []
    for t in range(num_frames):
        cx = S * (0.3 + 0.08 * t + 0.1 * seed)
        cy = S * (0.4 + 0.04 * t)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= (0.15 * S) ** 2
        frame = background.copy()
        frame[mask] = (230, 40, 30)
        frames.append(frame)
        masks.append(mask)
    return np.stack(frames), np.stack(masks)


def normalise(frames_uint8):
    """(T, S, S, 3) uint8 → (T, 3, S, S) float32, as SAM2VideoPredictor."""
    x = torch.from_numpy(frames_uint8 / 255.0).permute(0, 3, 1, 2)
    # contiguous like the predictor's frames: a channels-last input picks
    # other conv kernels, which differ in the last float bits
    x = x.float().contiguous()
    mean = torch.tensor(SAM2_IMG_MEAN)[:, None, None]
    std = torch.tensor(SAM2_IMG_STD)[:, None, None]
    return (x - mean) / std


def random_clip(batch, num_frames, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randn(batch, num_frames, 3, S, S, generator=g)
    masks = torch.zeros(batch, 1, S, S, dtype=torch.bool)
    for b in range(batch):
        masks[b, :, 20 + 10 * b : 70 + 10 * b, 30:90] = True
    return frames, masks






# --------------------------------------------------------------------------
# Image features
# --------------------------------------------------------------------------
def test_encode_frames_matches_forward_image_and_freezes_encoder(sam):
    frames = random_clip(1, 2)[0][0]
    with torch.no_grad():
        ref = sam.forward_image(frames)
    sam.zero_grad(set_to_none=True)
    out = encode_frames(sam, frames, frozen_encoder=True)
    for key in ('backbone_fpn', 'vision_pos_enc'):
        for a, b in zip(out[key], ref[key]):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(out['vision_features'], ref['vision_features'])

    (out['backbone_fpn'][0].square().mean() + out['backbone_fpn'][1].mean()).backward()
    decoder = sam.sam_mask_decoder
    for conv in (decoder.conv_s0, decoder.conv_s1):
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in sam.image_encoder.parameters())

    sam.zero_grad(set_to_none=True)
    out = encode_frames(sam, frames, frozen_encoder=False)
    out['backbone_fpn'][0].mean().backward()
    assert sam.image_encoder.trunk.patch_embed.proj.weight.grad is not None
    sam.zero_grad(set_to_none=True)


# --------------------------------------------------------------------------
# Equivalence with SAM2VideoPredictor
# --------------------------------------------------------------------------
@pytest.mark.parametrize('small', [True, False], ids=['small', 'hiera_t'])
def test_matches_sam2_video_predictor(small, tmp_path):
    from sam2.build_sam import build_sam2_video_predictor

    num_frames = 5
    sam = make_sam(small=small)
    overrides = small_sam2_overrides() if small else None
    predictor = build_sam2_video_predictor(
        resolve_sam2_config('sam2.1_hiera_t'),
        ckpt_path=None,
        device='cpu',
        apply_postprocessing=False,
        hydra_overrides_extra=sam2_hydra_overrides(S, overrides),
    )
    predictor.load_state_dict(sam.state_dict())
    assert predictor.image_size == S

    # JPEGs at the model's size, so the predictor's resize is the identity
    frames_uint8, masks = blob_clip(num_frames)
    for t, frame in enumerate(frames_uint8):
        Image.fromarray(frame).save(tmp_path / f'{t:05d}.jpg', quality=95)
    decoded = np.stack(
        [
            np.array(Image.open(tmp_path / f'{t:05d}.jpg').convert('RGB'))
            for t in range(num_frames)
        ]
    )

    state = predictor.init_state(video_path=str(tmp_path))
    predictor.add_new_mask(state, frame_idx=0, obj_id=1, mask=masks[0])
    video_res = {t: m for t, _, m in predictor.propagate_in_video(state)}
    torch.testing.assert_close(state['images'], normalise(decoded), rtol=0, atol=0)
    bank = state['output_dict_per_obj'][0]
    theirs = [bank['cond_frame_outputs'][0]]
    theirs += [bank['non_cond_frame_outputs'][t] for t in range(1, num_frames)]

    with torch.no_grad():
        mine = track_clip(
            sam,
            normalise(decoded)[None],
            dict(mask_inputs=torch.from_numpy(masks[0])[None, None]),
        )

    assert mine['low_res_logits'].shape == (1, num_frames, 1, S // 4, S // 4)
    assert mine['high_res_logits'].shape == (1, num_frames, 1, S, S)
    diffs = []
    for t, out in enumerate(theirs):
        low = mine['low_res_logits'][0, t]
        # the compared logits are real masks, not the -1024 "no object" fill
        assert low.std() > 1e-3 and low.max() > NO_OBJ_THRESHOLD, t
        diffs.append((low - out['pred_masks'][0]).abs().max().item())
        high = mine['high_res_logits'][0, t]
        diffs.append((high - video_res[t][0]).abs().max().item())
        torch.testing.assert_close(
            mine['object_score_logits'][0, t],
            out['object_score_logits'][0],
            rtol=0,
            atol=1e-4,
        )
        ours = mine['output_dict'][
            'cond_frame_outputs' if t == 0 else 'non_cond_frame_outputs'
        ][t]['maskmem_features']
        assert ours.dtype == out['maskmem_features'].dtype == torch.bfloat16
    assert max(diffs) <= 1e-4, diffs
    assert (mine['object_score_logits'][0, 1:] > 0).all()


# --------------------------------------------------------------------------
# Token prompts
# --------------------------------------------------------------------------
def test_sparse_tokens_prompt(sam, monkeypatch):
    frames = random_clip(2, 3)[0]
    g = torch.Generator().manual_seed(3)
    tokens = torch.randn(2, 1, sam.sam_prompt_embed_dim, generator=g)
    hooks = sam.sam_prompt_encoder._forward_hooks
    with torch.no_grad():
        a = track_clip(sam, frames, dict(sparse_tokens=tokens))
        b = track_clip(sam, frames, dict(sparse_tokens=tokens + 1.0))
    assert not hooks
    assert (a['low_res_logits'][:, 0] - b['low_res_logits'][:, 0]).abs().max() > 1e-3
    # no clicks: SAM2 chooses multimask output on the initial frame
    assert a['frame0_multimask_logits'].shape == (2, 3, S // 4, S // 4)
    assert a['frame0_multimask_ious'].shape == (2, 3) and a['ious'].shape == (2, 3)
    single = track_clip(sam, frames, dict(sparse_tokens=tokens), multimask_output=False)
    assert single['frame0_multimask_logits'].shape == (2, 1, S // 4, S // 4)

    sam.zero_grad(set_to_none=True)
    tokens.requires_grad_(True)
    out = track_clip(sam, frames, dict(sparse_tokens=tokens))
    out['low_res_logits'][:, 0].sigmoid().mean().backward()
    assert tokens.grad is not None and tokens.grad.abs().sum() > 0
    assert not hooks
    sam.zero_grad(set_to_none=True)

    with pytest.raises(RuntimeError, match='boom'):
        with extra_sparse_prompt(sam, tokens):
            raise RuntimeError('boom')
    assert not hooks

    def boom(*args, **kwargs):
        raise RuntimeError('decoder failed')

    monkeypatch.setattr(sam.sam_mask_decoder, 'forward', boom)
    with pytest.raises(RuntimeError, match='decoder failed'):
        track_clip(sam, frames, dict(sparse_tokens=tokens.detach()))
    assert not hooks


def test_prompt_validation(sam):
    frames, masks = random_clip(2, 2)
    with pytest.raises(ValueError, match=r'\(B, k, 128\)'):
        track_clip(sam, frames, dict(sparse_tokens=torch.zeros(2, 1, 256)))
    with pytest.raises(ValueError, match='for 1 clips'):
        track_clip(sam, frames, dict(mask_inputs=masks[:1]))
    with pytest.raises(ValueError, match='frame0 must be'):
        track_clip(sam, frames, dict(mask_inputs=masks, sparse_tokens=None))
    with pytest.raises(ValueError, match='frames must be'):
        track_clip(sam, frames[:, :, :, :64], dict(mask_inputs=masks))
    assert not sam.sam_prompt_encoder._forward_hooks


def test_plain_track_step_loop_equivalence(sam):
    """No extra tokens + float32 memory: SAM2's own ``track_step`` loop."""
    frames = random_clip(1, 4, seed=5)[0]
    empty = torch.zeros(1, 0, sam.sam_prompt_embed_dim)
    with torch.no_grad():
        mine = track_clip(
            sam, frames, dict(sparse_tokens=empty), memory_dtype=torch.float32
        )
        output_dict = {'cond_frame_outputs': {}, 'non_cond_frame_outputs': {}}
        for t in range(frames.size(1)):
            backbone_out = sam.forward_image(frames[:, t])
            _, feats, pos, sizes = sam._prepare_backbone_features(backbone_out)
            out = sam.track_step(
                frame_idx=t,
                is_init_cond_frame=t == 0,
                current_vision_feats=feats,
                current_vision_pos_embeds=pos,
                feat_sizes=sizes,
                point_inputs=None,
                mask_inputs=None,
                output_dict=output_dict,
                num_frames=frames.size(1),
            )
            key = 'cond_frame_outputs' if t == 0 else 'non_cond_frame_outputs'
            output_dict[key][t] = out
            torch.testing.assert_close(
                mine['low_res_logits'][:, t], out['pred_masks'], rtol=0, atol=1e-5
            )
            torch.testing.assert_close(
                mine['high_res_logits'][:, t],
                out['pred_masks_high_res'],
                rtol=0,
                atol=1e-5,
            )
    assert mine['low_res_logits'][0, 1:].std() > 1e-3


# --------------------------------------------------------------------------
# Batching and gradients
# --------------------------------------------------------------------------
def test_batch_matches_single_clips(sam):
    frames, masks = random_clip(2, 3, seed=7)
    keys = ('low_res_logits', 'high_res_logits', 'object_score_logits', 'ious')
    with torch.no_grad():
        both = track_clip(sam, frames, dict(mask_inputs=masks))
        for b in range(2):
            one = track_clip(sam, frames[b : b + 1], dict(mask_inputs=masks[b : b + 1]))
            for key in keys:
                torch.testing.assert_close(
                    both[key][b : b + 1], one[key], rtol=0, atol=1e-5
                )
        # precomputed features of all B·T frames give the same result
        backbone_out = encode_frames(sam, frames.flatten(0, 1))
        pre = track_clip(
            sam, frames, dict(mask_inputs=masks), backbone_out=backbone_out
        )
    for key in keys:
        torch.testing.assert_close(pre[key], both[key], rtol=0, atol=1e-5)
    assert (both['low_res_logits'][0] - both['low_res_logits'][1]).abs().max() > 1e-3


def test_gradients_reach_tracked_frames(sam):
    frames, masks = random_clip(1, 3, seed=9)
    sam.zero_grad(set_to_none=True)
    out = track_clip(sam, frames, dict(mask_inputs=masks))
    assert all(out[k].requires_grad for k in ('low_res_logits', 'high_res_logits'))
    out['low_res_logits'][:, 1:].sigmoid().mean().backward()

    def has_grad(module):
        return any(
            p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters()
        )

    assert has_grad(sam.sam_mask_decoder) and has_grad(sam.memory_attention)
    assert has_grad(sam.memory_encoder)
    assert all(p.grad is None for p in sam.image_encoder.parameters())
    sam.zero_grad(set_to_none=True)


# --------------------------------------------------------------------------
# Tracking with other heads
# --------------------------------------------------------------------------
def test_tracking_heads_serve_every_frame_after_the_first(sam):
    """Frame 0 uses ``sam``'s heads, frames 1..T-1 the given ones (also
    their ``conv_s0`` / ``conv_s1``); ``sam``'s own are put back."""
    import copy

    frames = random_clip(2, 4, seed=11)[0]
    tokens = torch.randn(2, 1, sam.sam_prompt_embed_dim,
                         generator=torch.Generator().manual_seed(4))
    heads = (copy.deepcopy(sam.sam_prompt_encoder),
             copy.deepcopy(sam.sam_mask_decoder))
    calls = {'own': 0, 'tracking': 0, 'own_conv': 0, 'tracking_conv': 0}

    def counter(key):
        def hook(module, args, output):
            calls[key] += 1
        return hook

    handles = [
        sam.sam_mask_decoder.register_forward_hook(counter('own')),
        heads[1].register_forward_hook(counter('tracking')),
        sam.sam_mask_decoder.conv_s0.register_forward_hook(counter('own_conv')),
        heads[1].conv_s0.register_forward_hook(counter('tracking_conv')),
    ]
    own = sam.sam_prompt_encoder, sam.sam_mask_decoder
    try:
        with torch.no_grad():
            plain = track_clip(sam, frames, dict(sparse_tokens=tokens))
            calls.update(own=0, own_conv=0)
            swapped = track_clip(sam, frames, dict(sparse_tokens=tokens),
                                 tracking_heads=heads)
    finally:
        for handle in handles:
            handle.remove()
    assert calls == {'own': 1, 'tracking': 3, 'own_conv': 1, 'tracking_conv': 3}
    assert (sam.sam_prompt_encoder, sam.sam_mask_decoder) == own
    # identical weights: identical results
    for key in ('low_res_logits', 'object_score_logits', 'ious'):
        torch.testing.assert_close(swapped[key], plain[key], rtol=0, atol=0)
    # other weights change the tracked frames only
    with torch.no_grad():
        for p in heads[1].parameters():
            p.add_(0.05 * torch.randn_like(p))
        other = track_clip(sam, frames, dict(sparse_tokens=tokens),
                           tracking_heads=heads)
    torch.testing.assert_close(other['low_res_logits'][:, 0],
                               plain['low_res_logits'][:, 0], rtol=0, atol=0)
    assert (other['low_res_logits'][:, 1:]
            - plain['low_res_logits'][:, 1:]).abs().max() > 1e-3
    with pytest.raises(ValueError, match='backbone_out'):
        track_clip(sam, frames, dict(sparse_tokens=tokens), tracking_heads=heads,
                   backbone_out=encode_frames(sam, frames.flatten(0, 1)))
    assert (sam.sam_prompt_encoder, sam.sam_mask_decoder) == own
