"""Building a SAM2 (``sam2love.models.sam2.build``): names, sizes,
checkpoints, overrides, the local memory-attention init."""
import pytest
import torch
from test_sam2_tracker import S, make_sam

from sam2love.models.sam2.build import (
    build_sam2_model,
    expand_sam2_overrides,
    init_local_memory_attention,
    resolve_sam2_config,
    small_sam2_overrides,
)


@pytest.fixture(scope='module')
def sam():
    return make_sam()


def test_build_small_model_and_names(sam):
    assert sam.image_size == S and not sam.training
    assert sam.sam_image_embedding_size == S // 16
    assert sam.sam_prompt_encoder.image_embedding_size == (S // 16, S // 16)
    assert sam.sam_prompt_encoder.mask_input_size == (S // 4, S // 4)
    assert sam.hidden_dim == 128 and sam.mem_dim == 64 and sam.num_maskmem == 7
    assert len(sam.memory_attention.layers) == 1
    assert 2.5e6 < sum(p.numel() for p in sam.parameters()) < 4e6
    assert resolve_sam2_config('sam2.1_hiera_b+') == (
        'configs/sam2.1/sam2.1_hiera_b+.yaml'
    )
    full = 'configs/sam2.1/sam2.1_hiera_l.yaml'
    assert resolve_sam2_config(full) == full
    with pytest.raises(ValueError, match='Unknown SAM2 config'):
        resolve_sam2_config('hiera_xl')
    with pytest.raises(ValueError, match='multiple of 32'):
        build_sam2_model(image_size=100)


def test_checkpoint_loading(sam, tmp_path):
    path = tmp_path / 'sam2_small.pt'
    torch.save({'model': sam.state_dict()}, path)
    torch.manual_seed(1)
    loaded = build_sam2_model(
        image_size=S, overrides=small_sam2_overrides(), checkpoint=str(path)
    )
    for (name, p), q in zip(sam.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(p, q), name

    state = dict(sam.state_dict())
    state.pop('no_mem_embed')
    state['extra.weight'] = torch.zeros(1)
    torch.save({'model': state}, path)
    with pytest.raises(RuntimeError) as e:
        build_sam2_model(
            image_size=S, overrides=small_sam2_overrides(), checkpoint=str(path)
        )
    msg = str(e.value)
    assert str(path) in msg and 'no_mem_embed' in msg and 'extra.weight' in msg

    torch.save(sam.state_dict(), path)  # no 'model' entry
    with pytest.raises(RuntimeError, match='not a SAM2 checkpoint'):
        build_sam2_model(
            image_size=S, overrides=small_sam2_overrides(), checkpoint=str(path)
        )


def test_expand_sam2_overrides():
    small = small_sam2_overrides()
    assert expand_sam2_overrides(None) == []
    assert expand_sam2_overrides('small') == small
    extra = '++model.num_maskmem=4'
    assert expand_sam2_overrides(['small', extra]) == small + [extra]
    assert expand_sam2_overrides([extra]) == [extra]


def test_local_memory_init_attends_to_the_same_place():
    """With zero content, every query's attention over one memory frame
    peaks at its own position and falls off with distance."""
    from sam2.modeling.position_encoding import apply_rotary_enc

    sam = make_sam(seed=1)
    init_local_memory_attention(sam, strength=10.0)
    attn = sam.memory_attention.layers[0].cross_attn_image
    n = (S // 16) ** 2
    q = attn.q_proj(torch.zeros(1, n, attn.q_proj.in_features))
    k = attn.k_proj(torch.zeros(1, n, attn.k_proj.in_features))
    q, k = apply_rotary_enc(q[:, None], k[:, None], freqs_cis=attn.freqs_cis)
    weights = (q @ k.transpose(-1, -2) / q.size(-1) ** 0.5).softmax(-1)[0, 0]
    assert torch.equal(weights.argmax(-1), torch.arange(n))
    side = S // 16
    centre = (side // 2) * side + side // 2
    grid = weights[centre].view(side, side)
    c = side // 2
    assert grid[c, c] > 0.3
    assert grid[c, c] > grid[c, c + 1] > grid[c, c + 3]
    assert grid[c, c] > grid[c + 1, c] > grid[c + 3, c]
    with pytest.raises(ValueError, match='num_freqs'):
        init_local_memory_attention(sam, num_freqs=1000)
