"""VGGish: network layout of the torchvggish port, weight loading,
post-processing, the encoder (the front end: ``test_vggish_log_mel.py``)."""
import os
import pickle

import numpy as np
import pytest
import torch
from test_vggish_log_mel import tones

from sam2love.models.backbones.vggish import VGGish, VGGishEncoder

os.environ.setdefault('HF_HUB_OFFLINE', '1')

TINY = dict(channels=(8, 16, 32, 32, 64, 64), hidden=64)

#: the port's parameter names, in its order (vggish-10086976.pth)
PORT_KEYS = [f'features.{i}.{p}' for i in (0, 3, 6, 8, 11, 13)
             for p in ('weight', 'bias')] + \
            [f'embeddings.{i}.{p}' for i in (0, 2, 4) for p in ('weight', 'bias')]


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


# ---------------------------------------------------------------- network
def test_full_size_keys_and_shapes_match_the_port():
    model = VGGish()
    state = model.state_dict()
    assert list(state) == PORT_KEYS
    assert state['features.0.weight'].shape == (64, 1, 3, 3)
    assert state['features.13.weight'].shape == (512, 512, 3, 3)
    assert state['embeddings.0.weight'].shape == (4096, 512 * 4 * 6)
    assert state['embeddings.4.weight'].shape == (128, 4096)
    with torch.no_grad():
        assert model(torch.randn(2, 1, 96, 64)).shape == (2, 128)
    # switches add no keys
    assert list(VGGish(**TINY, final_relu=True,
                       postprocess=True).state_dict()) == PORT_KEYS


def test_encoder_output_shape_and_registry():
    from mmseg.registry import MODELS
    enc = MODELS.build(dict(type='VGGishEncoder', num_examples=10, **TINY))
    assert isinstance(enc, VGGishEncoder)
    wave = torch.randn(2, 56000) * 0.1
    with torch.no_grad():
        assert enc(wave).shape == (2, 10, 128)
        assert VGGishEncoder(**TINY)(wave).shape == (2, 3, 128)
    assert list(enc.state_dict()) == ['vggish.' + k for k in PORT_KEYS]


def test_checkpoint_round_trip(tmp_path):
    src = VGGishEncoder(**TINY)
    path = str(tmp_path / 'vggish.pth')
    torch.save(src.vggish.state_dict(), path)
    torch.manual_seed(1)
    dst = VGGishEncoder(checkpoint=path, **TINY)
    wave = torch.randn(1, 16000) * 0.1
    with torch.no_grad():
        torch.testing.assert_close(dst(wave), src(wave), rtol=0, atol=0)


def test_wrong_keys_name_file_and_keys(tmp_path):
    state = VGGish(**TINY).state_dict()
    state['extra.weight'] = state.pop('embeddings.4.bias')
    path = str(tmp_path / 'bad.pth')
    torch.save(state, path)
    with pytest.raises(KeyError) as err:
        VGGishEncoder(checkpoint=path, **TINY)
    msg = str(err.value)
    assert path in msg and 'embeddings.4.bias' in msg and 'extra.weight' in msg
    # right keys, wrong sizes
    path = str(tmp_path / 'small.pth')
    torch.save(VGGish(channels=(4, 16, 32, 32, 64, 64),
                      hidden=64).state_dict(), path)
    with pytest.raises(RuntimeError, match='small.pth'):
        VGGishEncoder(checkpoint=path, **TINY)
    with pytest.raises(FileNotFoundError):
        VGGishEncoder(checkpoint=str(tmp_path / 'missing.pth'), **TINY)


def test_flattens_in_tensorflow_order():
    model = VGGish(**TINY).eval()
    x = torch.randn(3, 1, 96, 64)
    with torch.no_grad():
        fmap = model.features(x)
        assert fmap.shape == (3, 64, 6, 4)
        tf_order = model.embeddings(fmap.permute(0, 2, 3, 1).flatten(1))
        torch_order = model.embeddings(fmap.flatten(1))
        out = model(x)
    torch.testing.assert_close(out, tf_order)
    assert not torch.allclose(out, torch_order, atol=1e-4)


def test_final_relu_switch():
    plain = VGGish(**TINY)
    relu = VGGish(**TINY, final_relu=True)
    relu.load_state_dict(plain.state_dict())
    x = torch.randn(8, 1, 96, 64)
    with torch.no_grad():
        a, b = plain(x), relu(x)
    assert (a < 0).any()
    assert (b >= 0).all()
    torch.testing.assert_close(b, a.clamp(min=0))


def save_numpy_pca_like_the_port(path, vectors, means):
    """Legacy (pre-zip) torch file of numpy arrays pickled by numpy 1.x."""
    torch.save(dict(pca_eigen_vectors=vectors, pca_means=means), path,
               _use_new_zipfile_serialization=False, pickle_protocol=2)
    with open(path, 'rb') as f:
        data = f.read()
    # numpy 2 writes `numpy._core`; the port's 2019 file says `numpy.core`
    assert b'numpy._core.multiarray' in data
    with open(path, 'wb') as f:
        f.write(data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray'))


@pytest.mark.parametrize('layout', ['numpy_128x1', 'tensor_128'])
def test_postprocess_pca_and_8_bit_quantisation(tmp_path, layout):
    rng = np.random.default_rng(0)
    vectors = np.linalg.qr(rng.standard_normal((128, 128)))[0]
    means = rng.standard_normal(128) * 0.1
    path = str(tmp_path / 'pca.pth')
    if layout == 'numpy_128x1':
        save_numpy_pca_like_the_port(path, vectors, means.reshape(128, 1))
        with pytest.raises(pickle.UnpicklingError):  # needs the allowlist
            torch.load(path, weights_only=True)
    else:
        torch.save(dict(pca_eigen_vectors=torch.tensor(vectors),
                        pca_means=torch.tensor(means)), path)
    raw = VGGishEncoder(**TINY)
    ckpt = str(tmp_path / 'vggish.pth')
    torch.save(raw.vggish.state_dict(), ckpt)
    post = VGGishEncoder(checkpoint=ckpt, pca_checkpoint=path,
                         postprocess=True, **TINY)
    wave = torch.randn(2, 32000)
    with torch.no_grad():
        emb, out = raw(wave), post(wave)
    assert out.shape == (2, 2, 128)
    assert out.min() >= 0 and out.max() <= 255
    torch.testing.assert_close(out, out.round())
    pca = (emb.double().numpy() - means) @ vectors.T
    expected = np.round((np.clip(pca, -2, 2) + 2) * 255 / 4)
    # float32 PCA may land a value on the other side of a .5 boundary
    assert np.abs(out.double().numpy() - expected).max() <= 1
    assert (out.double().numpy() == expected).mean() > 0.99


def test_postprocess_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match='postprocess'):
        VGGishEncoder(pca_checkpoint=str(tmp_path / 'pca.pth'), **TINY)
    path = str(tmp_path / 'pca.pth')
    torch.save(dict(pca_eigen_vectors=torch.eye(128)), path)
    with pytest.raises(KeyError, match='pca_means'):
        VGGishEncoder(pca_checkpoint=path, postprocess=True, **TINY)


def test_kaiming_init_cfg_keeps_sounds_apart():
    """A random VGGish with PyTorch's default init maps every sound to
    nearly the same vector; ``init_cfg`` (Kaiming) keeps them apart."""
    sounds = torch.stack([
        torch.from_numpy(tones(3.0, freqs=f, noise=0.0)).float()
        for f in ((300.0, ), (1000.0, 2500.0), (4000.0, ), (700.0, 5000.0))])
    small = dict(num_examples=3, channels=(8, 16, 32, 32, 64, 64), hidden=64)
    spread = {}
    for name, init_cfg in (('default', None),
                           ('kaiming', dict(type='Kaiming',
                                            layer=['Conv2d', 'Linear'],
                                            distribution='normal'))):
        torch.manual_seed(0)
        encoder = VGGishEncoder(init_cfg=init_cfg, **small).eval()
        encoder.init_weights()
        with torch.no_grad():
            out = encoder(sounds)
        spread[name] = (out.std(0).mean() / out.abs().mean()).item()
    assert spread['default'] < 0.05
    assert spread['kaiming'] > 0.1
    with pytest.raises(ValueError, match='init_cfg would overwrite'):
        VGGishEncoder(checkpoint='vggish.pth', init_cfg=dict(type='Kaiming'))
