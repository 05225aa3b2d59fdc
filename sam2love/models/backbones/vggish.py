"""VGGish audio encoder: network, weight loading, and the encoder that
chains it to the log-mel front end.

VGGish (Hershey et al., ICASSP 2017; AudioSet release) maps each 0.96 s of
16 kHz mono audio to a 128-d embedding. The Ref-AVS baseline feeds these
embeddings (one per second of a 10 s clip) to its fusion modules; SAM2-LOVE
follows it.

* :class:`~.vggish_log_mel.VGGishLogMel` (:mod:`.vggish_log_mel`)
  reproduces the release's ``vggish_input`` / ``mel_features`` front end
  with torchaudio's STFT.
* :class:`VGGish` is the network with the parameter names of the PyTorch
  port ``torchvggish`` (``vggish-10086976.pth``), plus the optional PCA /
  8-bit post-processing of the AudioSet release.
* :class:`VGGishEncoder` (registered in ``MODELS``) chains both:
  waveform (B, L) -> embeddings (B, N, 128).

No weights are ever downloaded: pass local paths, or get a random init.
"""
import os.path as osp
import pickle
from collections.abc import Sequence

import numpy as np
import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn

from .vggish_log_mel import VGGishLogMel

# vggish_params.py of the original release (the front end's are in
# vggish_log_mel.py)
EMBEDDING_SIZE = 128
QUANTIZE_MIN_VAL = -2.0
QUANTIZE_MAX_VAL = 2.0

#: conv widths of the full network (torchvggish's ``make_layers``)
FULL_CHANNELS = (64, 128, 256, 256, 512, 512)
FULL_HIDDEN = 4096


def make_features(channels: Sequence[int]) -> nn.Sequential:
    """VGGish's conv stack; indices of the convs are 0, 3, 6, 8, 11, 13.

    (B, 1, 96, 64) -> (B, channels[-1], 6, 4).
    """
    if len(channels) != 6:
        raise ValueError(f'VGGish needs 6 conv widths, got {channels}')
    layers, in_ch = [], 1
    # 'M' = 2x2 max pool after convs 1, 2, 4 and 6 (configuration A of VGG)
    plan = [channels[0], 'M', channels[1], 'M', channels[2], channels[3], 'M',
            channels[4], channels[5], 'M']
    for item in plan:
        if item == 'M':
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, item, kernel_size=3, padding=1),
                       nn.ReLU(inplace=True)]
            in_ch = item
    return nn.Sequential(*layers)


class VGGish(nn.Module):
    """The VGGish network; parameter names follow ``torchvggish``.

    ``features.{0,3,6,8,11,13}`` are the convs, ``embeddings.{0,2,4}`` the
    fully connected layers (12288 -> 4096 -> 4096 -> 128 at full size).
    The (B, 512, 6, 4) conv map is flattened in TensorFlow's (H, W, C)
    order, as the weights were converted from TF.

    Args:
        channels (Sequence[int]): the six conv widths. Defaults to the
            release's; small ones (e.g. ``(8, 16, 32, 32, 64, 64)``) give a
            random-init variant of the same structure for tests and demos.
        hidden (int): width of the two hidden FC layers (4096).
        final_relu (bool): apply a ReLU to the 128-d output, as torchvggish
            does. Google's release and the towhee port behind the Ref-AVS
            baseline's features do not. Defaults to False.
        postprocess (bool): apply the AudioSet release's post-processing:
            PCA ``(emb - pca_means) @ pca_eigen_vectors.T``, clip to
            [-2, 2], quantise ``round((x + 2) * 255 / 4)``; the result is a
            float tensor of integers in [0, 255] (``.byte()`` gives the
            release's uint8). The PCA parameters are non-persistent buffers
            (identity / zeros until :meth:`load_pca` is called), so the
            state dict always has the port's keys. Defaults to False: raw
            128-d embeddings, as the towhee features of the Ref-AVS
            baseline.

    Shapes:
        input: (B, 1, 96, 64) log-mel examples.
        output: (B, 128).
    """

    def __init__(self,
                 channels: Sequence[int] = FULL_CHANNELS,
                 hidden: int = FULL_HIDDEN,
                 final_relu: bool = False,
                 postprocess: bool = False) -> None:
        super().__init__()
        self.features = make_features(channels)
        fc = [nn.Linear(channels[-1] * 6 * 4, hidden), nn.ReLU(inplace=True),
              nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
              nn.Linear(hidden, EMBEDDING_SIZE)]
        if final_relu:
            fc.append(nn.ReLU(inplace=True))  # no parameters: keys unchanged
        self.embeddings = nn.Sequential(*fc)
        self.final_relu = final_relu
        self.postprocess = postprocess
        if postprocess:
            self.register_buffer('pca_eigen_vectors',
                                 torch.eye(EMBEDDING_SIZE), persistent=False)
            self.register_buffer('pca_means', torch.zeros(EMBEDDING_SIZE),
                                 persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 96, 64) -> (B, 128)."""
        x = self.features(x)  # (B, C, 6, 4)
        # TF order (B, 6, 4, C): the FC weights expect it
        x = x.permute(0, 2, 3, 1).flatten(1)
        x = self.embeddings(x)
        return self.pca_quantize(x) if self.postprocess else x

    def pca_quantize(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(B, 128) -> (B, 128) floats in {0, ..., 255}."""
        pca = (embeddings - self.pca_means) @ self.pca_eigen_vectors.T
        clipped = pca.clamp(QUANTIZE_MIN_VAL, QUANTIZE_MAX_VAL)
        scale = 255.0 / (QUANTIZE_MAX_VAL - QUANTIZE_MIN_VAL)
        return torch.round((clipped - QUANTIZE_MIN_VAL) * scale)

    def load_weights(self, path: str) -> None:
        """Load a torchvggish state dict (``vggish-10086976.pth``)."""
        load_strict(self, load_weights_file(path), path)

    def load_pca(self, path: str) -> None:
        """Load ``vggish_pca_params-970ea276.pth``.

        A dict with ``pca_eigen_vectors`` (128, 128) and ``pca_means``
        stored as (128,) or (128, 1), tensors or numpy arrays.
        """
        if not self.postprocess:
            raise ValueError('VGGish: load_pca needs postprocess=True')
        params = load_weights_file(path)
        expected = {'pca_eigen_vectors', 'pca_means'}
        check_keys(expected, set(params), path)
        vectors = torch.as_tensor(params['pca_eigen_vectors'],
                                  dtype=torch.float32)
        means = torch.as_tensor(params['pca_means'], dtype=torch.float32)
        if vectors.shape != (EMBEDDING_SIZE, EMBEDDING_SIZE) or \
                means.numel() != EMBEDDING_SIZE:
            raise ValueError(
                f'{path}: expected pca_eigen_vectors (128, 128) and '
                f'pca_means (128,) or (128, 1), got {tuple(vectors.shape)} '
                f'and {tuple(means.shape)}')
        self.pca_eigen_vectors.copy_(vectors)
        self.pca_means.copy_(means.reshape(-1))


def _numpy_array_globals() -> list:
    """What unpickling a numpy array needs, for ``weights_only`` loads.

    The port's PCA file may hold numpy arrays; numpy 1.x pickles name
    ``numpy.core.multiarray._reconstruct``, numpy 2.x ``numpy._core...``.
    """
    reconstruct = np._core.multiarray._reconstruct
    number_dtypes = [type(np.dtype(code)) for code in '?bhilqBHILQefd']
    return [np.ndarray, np.dtype, reconstruct,
            (reconstruct, 'numpy.core.multiarray._reconstruct'),
            *number_dtypes]


def load_weights_file(path: str) -> dict:
    """``torch.load(path, map_location='cpu', weights_only=True)``.

    Numpy arrays (plain ndarrays of numbers) are allowed too; nothing else
    beyond what ``weights_only`` accepts.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'VGGish: no such file: {path}')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        with torch.serialization.safe_globals(_numpy_array_globals()):
            state = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(state, dict):
        raise TypeError(f'{path}: expected a state dict, got {type(state)}')
    return state


def check_keys(expected: set, found: set, path: str) -> None:
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        raise KeyError(f'{path}: keys do not match VGGish; missing: {missing}; '
                       f'unexpected: {unexpected}')


def load_strict(module: nn.Module, state: dict, path: str) -> None:
    """Load ``state`` into ``module``, naming ``path`` on any mismatch."""
    check_keys(set(module.state_dict()), set(state), path)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:  # shapes differ, e.g. a tiny variant
        raise RuntimeError(f'{path}: cannot load into VGGish: {err}') from err


@MODELS.register_module()
class VGGishEncoder(BaseModule):
    """Waveform -> one VGGish embedding per 0.96 s example.

    Args:
        checkpoint (str | None): local path to torchvggish's state dict
            (``vggish-10086976.pth``); keys must match exactly. ``None``
            keeps the random init. Nothing is downloaded.
        pca_checkpoint (str | None): local path to
            ``vggish_pca_params-970ea276.pth``; used when ``postprocess``.
        final_relu (bool): see :class:`VGGish`. Defaults to False.
        postprocess (bool): see :class:`VGGish`. Defaults to False.
        num_examples (int | None): see :class:`VGGishLogMel`; set it to
            the clip's seconds (10 for Ref-AVS) for a fixed N.
        channels (Sequence[int]): conv widths, see :class:`VGGish`.
        hidden (int): FC width, see :class:`VGGish`.
        init_cfg (dict, optional): mmengine initialisation of the random
            network (no ``checkpoint``). PyTorch's default init shrinks the
            signal layer after layer until the biases dominate: a random,
            frozen VGGish then gives the same vector for every sound (std
            across clips 3e-4 of the output; 1.0 with ``dict(type='Kaiming',
            layer=['Conv2d', 'Linear'], distribution='normal')``).

    Shapes:
        waveform: (B, L) float, 16 kHz mono.
        output: (B, N, 128), N = number of 0.96 s examples.
    """

    def __init__(self,
                 checkpoint: str | None = None,
                 pca_checkpoint: str | None = None,
                 final_relu: bool = False,
                 postprocess: bool = False,
                 num_examples: int | None = None,
                 channels: Sequence[int] = FULL_CHANNELS,
                 hidden: int = FULL_HIDDEN,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        if checkpoint is not None and init_cfg is not None:
            raise ValueError('VGGishEncoder: init_cfg would overwrite the '
                             f'weights of {checkpoint}; give one of them')
        if pca_checkpoint is not None and not postprocess:
            raise ValueError('VGGishEncoder: pca_checkpoint given but '
                             'postprocess=False')
        self.front_end = VGGishLogMel(num_examples)
        self.vggish = VGGish(channels, hidden, final_relu, postprocess)
        if checkpoint is not None:
            self.vggish.load_weights(checkpoint)
        if pca_checkpoint is not None:
            self.vggish.load_pca(pca_checkpoint)

    @property
    def embed_dim(self) -> int:
        return EMBEDDING_SIZE

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, L) waveform -> (B, N, 128) embeddings."""
        examples = self.front_end(waveform)  # (B, N, 1, 96, 64)
        b, n = examples.shape[:2]
        embeddings = self.vggish(examples.flatten(0, 1))
        return embeddings.view(b, n, -1)
