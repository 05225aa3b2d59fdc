"""``TriModalBackbone``: the three frozen encoders of SAM2-LOVE, one forward.

Section 3.2: VGGish encodes the clip's audio (F_A, N x 128), an ImageNet
ViT each frame (F_V, patch tokens, plus the [cls] tokens of token
accumulation), DistilRoBERTa the expression (F_T, P x 768). All three are
frozen; the output is what ``FusionTokenNeck`` reads.

Any registered encoder can take a modality's place through the config, and
precomputed features (a feature cache) can replace any encoder's run.
"""
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn

from ...feature_cache.keys import CACHE_KEYS
from .vggish_log_mel import SAMPLE_RATE as AUDIO_SAMPLE_RATE


def cat_features(parts: list[dict]) -> dict:
    """Concatenate :class:`TriModalBackbone` outputs of several batches
    (a feature cache), the text features zero-padded (mask False) to the
    longest.

    Args:
        parts (list[dict]): ``TriModalBackbone.forward`` outputs.

    Returns:
        dict: the same keys, (sum of B, ...) each.
    """
    width = max(p['text'].size(1) for p in parts)
    out = {}
    for key in parts[0]:
        values = [p[key] for p in parts]
        if key in ('text', 'text_mask'):
            values = [F.pad(v, [0, 0] * (v.dim() - 2) + [0, width - v.size(1)])
                      for v in values]
        out[key] = torch.cat(values)
    return out


def encoder_dim(encoder: nn.Module, modality: str) -> int:
    """Output width of an encoder (its ``embed_dim``)."""
    dim = getattr(encoder, 'embed_dim', None)
    if dim is None:
        raise AttributeError(
            f'TriModalBackbone: the {modality} encoder '
            f'{type(encoder).__name__} has no `embed_dim`')
    return int(dim)


@MODELS.register_module()
class TriModalBackbone(BaseModule):
    """Audio, vision and text encoders run side by side.

    Args:
        audio (dict): config of the audio encoder, e.g.
            ``dict(type='VGGishEncoder', num_examples=10)``;
            ``forward(waveform (B, L)) -> (B, N, Da)``.
        vision (dict): config of the vision encoder, e.g.
            ``dict(type='HFVisionEncoder', pretrained=...)``;
            ``forward(frames (B, T, 3, H, W)) -> (patches (B, T, HW, Dv),
            cls (B, T, Dv))``.
        text (dict): config of the text encoder, e.g.
            ``dict(type='HFTextEncoder', pretrained=...)``;
            ``forward(texts) -> (tokens (B, P, Dt), mask (B, P) bool)``.
        frozen (bool): freeze all three (the paper): no parameter requires
            grad, they stay in eval mode through ``train()`` and run under
            ``torch.no_grad()``. With False each encoder's own ``frozen``
            attribute (if any) decides. Defaults to True.
        silence_noise (float): standard deviation of the noise floor of
            the silence that null references made at training time are
            given (:meth:`silence`); 0 for digital zeros. Defaults to 0.

    Each encoder needs an ``embed_dim`` attribute; :attr:`out_dims` gathers
    them under the argument names of ``FusionTokenNeck``.
    """

    def __init__(self,
                 audio: dict,
                 vision: dict,
                 text: dict,
                 frozen: bool = True,
                 silence_noise: float = 0.0,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        self.frozen = frozen
        self.silence_noise = silence_noise
        self.audio_encoder = MODELS.build(audio)
        self.vision_encoder = MODELS.build(vision)
        self.text_encoder = MODELS.build(text)
        if frozen:
            for encoder in self.encoders():
                encoder.requires_grad_(False)
                encoder.eval()

    def encoders(self) -> tuple[nn.Module, nn.Module, nn.Module]:
        return self.audio_encoder, self.vision_encoder, self.text_encoder

    @property
    def out_dims(self) -> dict:
        """``dict(audio_dim=Da, text_dim=Dt, vision_dim=Dv)``, the widths
        ``FusionTokenNeck`` must be built with."""
        return dict(audio_dim=encoder_dim(self.audio_encoder, 'audio'),
                    text_dim=encoder_dim(self.text_encoder, 'text'),
                    vision_dim=encoder_dim(self.vision_encoder, 'vision'))

    def is_frozen(self, encoder: nn.Module) -> bool:
        return self.frozen or bool(getattr(encoder, 'frozen', False))

    def train(self, mode: bool = True) -> 'TriModalBackbone':
        super().train(mode)
        for encoder in self.encoders():
            if self.is_frozen(encoder):
                encoder.eval()
        return self

    def run(self, encoder: nn.Module, *args):
        """Call an encoder, without a graph when it is frozen."""
        context = torch.no_grad() if self.is_frozen(encoder) else nullcontext()
        with context:
            return encoder(*args)

    def forward(self, inputs: dict, texts: list[str] | None = None) -> dict:
        """Encode a batch of clips and their expressions.

        Args:
            inputs (dict): ``frames`` (B, T, 3, H, W) normalised by
                ``ClipDataPreprocessor`` and ``audio`` (B, L) 16 kHz mono;
                or, per modality, the encoder's cached output in their
                place: ``audio_feats`` (B, N, Da); ``text_feats`` (B, P, Dt)
                with ``text_mask`` (B, P); ``patch_feats`` (B, T, HW, Dv)
                with ``cls_feats`` (B, T, Dv). ``silent_audio`` (B,) bool
                (null references made at training time,
                ``RefAVSDataset(null_negatives=)``) replaces the rows it
                marks with the encoder's output of silence
                (:meth:`silence_features`), raw or cached.
            texts (list[str] | None): the B expressions; unused when
                ``text_feats`` are given.

        Returns:
            dict: ``audio`` (B, N, Da), ``text`` (B, P, Dt), ``text_mask``
            (B, P) bool (True = real token), ``patches`` (B, T, HW, Dv),
            ``cls`` (B, T, Dv).
        """
        self._check_cache(inputs)
        dims = self.out_dims
        silent = inputs.get('silent_audio')
        silent = silent.bool() if silent is not None and silent.any() \
            else None
        if 'audio_feats' in inputs:
            audio = inputs['audio_feats']
        else:
            audio = self.run(self.audio_encoder, inputs['audio'])
        if silent is not None:  # the same from raw audio and from a cache
            audio = torch.where(silent[:, None, None],
                                self.silence_features(audio), audio)
        if 'text_feats' in inputs:
            text, text_mask = inputs['text_feats'], inputs['text_mask']
        else:
            if texts is None:
                raise ValueError('TriModalBackbone: give `texts` or '
                                 'inputs["text_feats"]')
            text, text_mask = self.run(self.text_encoder, texts)
        if 'patch_feats' in inputs:
            patches, cls = inputs['patch_feats'], inputs['cls_feats']
        else:
            patches, cls = self.run(self.vision_encoder, inputs['frames'])
        for name, feats, dim in (('audio', audio, dims['audio_dim']),
                                 ('text', text, dims['text_dim']),
                                 ('vision', patches, dims['vision_dim'])):
            if feats.size(-1) != dim:
                raise ValueError(
                    f'TriModalBackbone: {name} features of width '
                    f'{feats.size(-1)}, the encoder gives {dim} (stale cache?)')
        return dict(audio=audio, text=text, text_mask=text_mask.bool(),
                    patches=patches, cls=cls)

    def silence(self, num_samples: int) -> torch.Tensor:
        """(1, num_samples) 16 kHz silence: zeros, plus white noise of
        standard deviation ``silence_noise`` (a fixed draw) when set, as
        the noise floor of a quiet recording."""
        if not self.silence_noise:
            return torch.zeros(1, num_samples)
        gen = torch.Generator().manual_seed(0)
        return self.silence_noise * torch.randn(1, num_samples, generator=gen)

    def silence_features(self, like: torch.Tensor) -> torch.Tensor:
        """The audio encoder's output for :meth:`silence`, (1, N, Da) in
        the dtype and on the device of ``like`` (B, N, Da): N seconds at
        16 kHz, which the encoders' front end cuts into N examples."""
        n = like.size(1)
        waveform = self.silence(n * AUDIO_SAMPLE_RATE).to(like.device)
        out = self.run(self.audio_encoder, waveform).to(like.dtype)
        if out.shape[1:] != like.shape[1:]:
            raise ValueError(
                f'TriModalBackbone: the audio encoder gives {tuple(out.shape)} '
                f'for {n} s of silence, the cached audio features are '
                f'{tuple(like.shape[1:])} per clip')
        return out

    @staticmethod
    def _check_cache(inputs: dict) -> None:
        """Cached features come in pairs where needed, as batched tensors."""
        for key, other in (('text_feats', 'text_mask'),
                           ('text_mask', 'text_feats'),
                           ('patch_feats', 'cls_feats'),
                           ('cls_feats', 'patch_feats')):
            if key in inputs and other not in inputs:
                raise KeyError(f'TriModalBackbone: inputs[{key!r}] needs '
                               f'inputs[{other!r}] too')
        for key, ndim in CACHE_KEYS.items():
            value = inputs.get(key)
            if value is None:
                continue
            if not isinstance(value, torch.Tensor) or value.dim() != ndim:
                shape = tuple(getattr(value, 'shape', ()))
                raise ValueError(
                    f'TriModalBackbone: inputs[{key!r}] must be a {ndim}-D '
                    f'tensor (one shape for the whole batch), got '
                    f'{type(value).__name__} {shape}')
