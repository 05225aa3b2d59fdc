"""``FusionTokenNeck``: compresses audio, text and frames into a [seg] token.

SAM2-LOVE section 3.2. For frame i the fusion transformer reads (eq. 3)::

    [seg] ; F_A ; [aud] ; F_T ; [vis] ; F_V^i ; [his]^i

where F_Z are the encoders' features projected to width D by
Linear-ReLU-Linear MLPs (eq. 1), [aud] / [vis] are learnable marker tokens
and ``[his]^i = [cls]^0 ... [cls]^i`` are the projected global tokens of the
frames seen so far (token accumulation, eq. 4). The first ``num_seg_tokens``
outputs for frame i are the input [seg] of frame i + 1 (token propagation);
after the last frame the first of them is the prompt for SAM2.
"""
import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS


class ProjectionMLP(nn.Sequential):
    """Eq. 1: ``Linear(ReLU(Linear(x)))`` from ``in_dim`` to ``out_dim``."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(nn.Linear(in_dim, out_dim), nn.ReLU(inplace=True),
                         nn.Linear(out_dim, out_dim))


@MODELS.register_module()
class FusionTokenNeck(BaseModule):
    """Fuse the three modalities into the prompt token of SAM2-LOVE.

    Args:
        audio_dim (int): width of the audio features (VGGish: 128).
        text_dim (int): width of the text features (DistilRoBERTa: 768).
        vision_dim (int): width of the patch and [cls] tokens (ViT-B: 768).
        embed_dim (int): D, the fusion width (paper: 1024).
        num_layers (int): L pre-LN transformer blocks (paper: 6; ablations
            1 and 12).
        num_heads (int): attention heads.
        mlp_ratio (float): hidden width of the blocks' MLP over D.
        num_seg_tokens (int): [seg] tokens propagated (paper: 1; ablations
            4 and 8). The first one prompts SAM2.
        use_history (bool): append [his]^i (token accumulation).
        fusion (str): ``'token'`` (the paper's learnable, propagated [seg])
            or ``'mean'`` (Table 5: the mean of the transformer's output
            over the whole sequence of all frames, audio and text).
        max_audio_len (int): audio positions with a learnable embedding.
        max_frames (int): frame positions with a learnable embedding.
        dropout (float): dropout in the blocks. Defaults to 0.
        use_audio (bool): put ``F_A ; [aud]`` in the sequence. False is
            the audio-removed ablation (not in the paper): the audio
            features are ignored and their projection is not built.
        use_text (bool): put ``F_T`` in the sequence; False is the
            text-removed ablation.
        input_norm (bool): standardise each modality's frozen features
            per channel before eq. 1 (a non-affine batch norm: batch
            statistics in training, running ones in evaluation; text over
            its real tokens only). Not in the paper; off by default. The
            CPU demo's random-init VGGish and ViT give features dominated
            by one shared vector (audio: the mean's norm is 95 % of a
            vector's), which eq. 1's MLP learns to tell apart slowly.
        presence_query (bool): beyond the paper, append to the prompt the
            expression and the sound before fusion (:meth:`query_of`),
            which ``SAM2PromptHead(presence=dict(source='verify'))``
            and ``'scene'`` read; the prompt is then (B, 3 + P, D), P the
            text tokens (:meth:`query_of`). No parameter, no random
            draw.

    The paper's fusion transformer has no positional encoding of its own.
    ViT patch tokens and text tokens carry their encoders' positions, but
    VGGish vectors and [cls] tokens do not, and without their order
    "the first object to make a sound" could not be resolved; so audio
    vectors and history tokens get learnable time embeddings (zero at
    init, i.e. the paper's model at the start of training).
    """

    def __init__(self,
                 audio_dim: int = 128,
                 text_dim: int = 768,
                 vision_dim: int = 768,
                 embed_dim: int = 1024,
                 num_layers: int = 6,
                 num_heads: int = 8,
                 mlp_ratio: float = 4.0,
                 num_seg_tokens: int = 1,
                 use_history: bool = True,
                 fusion: str = 'token',
                 max_audio_len: int = 64,
                 max_frames: int = 64,
                 dropout: float = 0.0,
                 use_audio: bool = True,
                 use_text: bool = True,
                 input_norm: bool = False,
                 presence_query: bool = False,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        if fusion not in ('token', 'mean'):
            raise ValueError(f"fusion must be 'token' or 'mean', got {fusion!r}")
        if num_seg_tokens < 1:
            raise ValueError('num_seg_tokens must be >= 1')
        self.embed_dim = embed_dim
        self.num_seg_tokens = num_seg_tokens
        self.use_history = use_history
        self.fusion = fusion
        self.use_audio = use_audio
        self.use_text = use_text
        self.presence_query = presence_query
        if use_audio:
            self.audio_proj = ProjectionMLP(audio_dim, embed_dim)
            self.aud_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
            self.audio_pos = nn.Parameter(
                torch.zeros(1, max_audio_len, embed_dim))
        if use_text:
            self.text_proj = ProjectionMLP(text_dim, embed_dim)
        self.vision_proj = ProjectionMLP(vision_dim, embed_dim)
        # no parameter and no random draw: a switch that keeps the frozen
        # encoders' random init (and so a feature cache) unchanged
        self.input_norms = nn.ModuleDict({
            key: nn.BatchNorm1d(dim, affine=False)
            for key, dim, used in (('audio', audio_dim, use_audio),
                                   ('text', text_dim, use_text),
                                   ('patches', vision_dim, True),
                                   ('cls', vision_dim, True))
            if input_norm and used})
        self.seg_tokens = nn.Parameter(torch.zeros(1, num_seg_tokens, embed_dim))
        self.vis_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.frame_pos = nn.Parameter(torch.zeros(1, max_frames, embed_dim))
        layer = nn.TransformerEncoderLayer(
            embed_dim, num_heads, int(embed_dim * mlp_ratio), dropout,
            activation='gelu', batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(
            layer, num_layers, norm=nn.LayerNorm(embed_dim),
            enable_nested_tensor=False)
        for token in (self.seg_tokens, self.vis_token,
                      getattr(self, 'aud_token', None)):
            if token is not None:
                nn.init.trunc_normal_(token, std=0.02)

    def project(self, feats: dict) -> dict:
        """Eq. 1 on every used modality.

        Args:
            feats (dict): ``audio`` (B, N, audio_dim), ``text`` (B, P,
                text_dim), ``text_mask`` (B, P) bool (True = real token),
                ``patches`` (B, T, HW, vision_dim), ``cls`` (B, T,
                vision_dim).

        Returns:
            dict: the same keys projected to D (audio and text only when
            used); audio with its time embedding, ``cls`` with its frame
            embedding.
        """
        num_frames = feats['cls'].size(1)
        if num_frames > self.frame_pos.size(1):
            raise ValueError(f'{num_frames} frames exceed max_frames '
                             f'({self.frame_pos.size(1)}) of FusionTokenNeck')
        feats = self._standardise(feats)
        proj = dict(
            patches=self.vision_proj(feats['patches']),
            cls=self.vision_proj(feats['cls']) + self.frame_pos[:, :num_frames])
        if self.use_audio:
            audio = self.audio_proj(feats['audio'])
            if audio.size(1) > self.audio_pos.size(1):
                raise ValueError(
                    f'{audio.size(1)} audio vectors exceed max_audio_len '
                    f'({self.audio_pos.size(1)}) of FusionTokenNeck')
            proj['audio'] = audio + self.audio_pos[:, :audio.size(1)]
        if self.use_text:
            proj['text'] = self.text_proj(feats['text'])
            proj['text_mask'] = feats['text_mask'].bool()
        return proj

    def _standardise(self, feats: dict) -> dict:
        """``input_norm``: every used modality standardised per channel;
        text over its real tokens (padding is left as it was)."""
        if not self.input_norms:
            return feats
        out = dict(feats)
        for key, norm in self.input_norms.items():
            x = feats[key]
            if key == 'text':
                keep = feats['text_mask'].bool()
                x = x.clone()
                x[keep] = norm(x[keep])
                out[key] = x
            else:
                out[key] = norm(x.reshape(-1, x.size(-1))).reshape(x.shape)
        return out

    def _context(self, proj: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """``F_A ; [aud] ; F_T ; [vis]`` (B, S, D) and its padding mask
        (B, S), True where padded (without the removed modalities)."""
        b = proj['cls'].size(0)
        parts, valid = [], []
        if self.use_audio:
            parts += [proj['audio'], self.aud_token.expand(b, -1, -1)]
            valid.append(proj['cls'].new_ones(
                b, proj['audio'].size(1) + 1, dtype=torch.bool))
        if self.use_text:
            parts.append(proj['text'])
            valid.append(proj['text_mask'])
        parts.append(self.vis_token.expand(b, -1, -1))
        valid.append(proj['cls'].new_ones(b, 1, dtype=torch.bool))
        return torch.cat(parts, dim=1), ~torch.cat(valid, dim=1)

    def forward(self, feats: dict) -> dict:
        """Fuse a batch of clips.

        Args:
            feats (dict): encoder outputs, see :meth:`project`.

        Returns:
            dict: ``prompt`` (B, 1, D), the token that prompts SAM2, with
            ``presence_query`` (B, 3 + P, D): the token and
            :meth:`query_of`'s rows; ``seg_tokens`` (B, T,
            num_seg_tokens, D), the [seg] tokens after each frame
            (``'token'`` fusion only).
        """
        proj = self.project(feats)
        context, context_pad = self._context(proj)
        if self.fusion == 'mean':
            return dict(prompt=self._with_query(
                self._mean_fusion(proj, context, context_pad), proj))
        b, num_frames = proj['cls'].shape[:2]
        seg = self.seg_tokens.expand(b, -1, -1)
        per_frame = []
        for i in range(num_frames):
            seq, pad = self.frame_sequence(seg, context, context_pad, proj, i)
            seg = self.blocks(seq, src_key_padding_mask=pad)[
                :, :self.num_seg_tokens]
            per_frame.append(seg)
        return dict(prompt=self._with_query(seg[:, :1], proj),
                    seg_tokens=torch.stack(per_frame, 1))

    def query_of(self, proj: dict) -> torch.Tensor:
        """The presence query (B, 2 + P, D): the expression (the mean of
        its real projected tokens) and the sound (the mean of its
        projected seconds) before fusion, then the P projected text
        tokens, zeros on padding (P = 0 without text); detached (zeros for
        an unused modality). ``SAM2PromptHead``'s ``'verify'`` and
        ``'scene'`` presence read it: the fused token keeps only what
        prompting SAM2 needs."""
        zeros = proj['cls'].new_zeros(proj['cls'].size(0), self.embed_dim)
        text = audio = zeros
        tokens = zeros[:, None, :0].expand(-1, 0, -1)  # (B, 0, D)
        if self.use_text:
            keep = proj['text_mask'].unsqueeze(-1).to(proj['text'].dtype)
            text = (proj['text'] * keep).sum(1) / keep.sum(1).clamp(min=1)
            tokens = proj['text'] * keep
        if self.use_audio:
            audio = proj['audio'].mean(1)
        return torch.cat([torch.stack([text, audio], 1), tokens], 1).detach()

    def _with_query(self, prompt: torch.Tensor, proj: dict) -> torch.Tensor:
        if not self.presence_query:
            return prompt
        return torch.cat([prompt, self.query_of(proj).to(prompt.dtype)], 1)

    def frame_sequence(self, seg: torch.Tensor, context: torch.Tensor,
                       context_pad: torch.Tensor, proj: dict, i: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 3 for frame ``i``: ``[seg] ; context ; F_V^i ; [his]^i``.

        Returns:
            tuple: the sequence (B, S_i, D) and its padding mask (B, S_i),
            True where padded; with history S_i grows by one per frame.
        """
        parts = [seg, context, proj['patches'][:, i]]
        if self.use_history:
            parts.append(proj['cls'][:, :i + 1])
        seq = torch.cat(parts, dim=1)
        b, n = seg.shape[:2]
        tail = seq.size(1) - n - context.size(1)
        pad = torch.cat([context_pad.new_zeros(b, n), context_pad,
                         context_pad.new_zeros(b, tail)], dim=1)
        return seq, pad

    def _mean_fusion(self, proj: dict, context: torch.Tensor,
                     context_pad: torch.Tensor) -> torch.Tensor:
        b, t, hw, d = proj['patches'].shape
        seq = torch.cat([context, proj['patches'].reshape(b, t * hw, d)], 1)
        pad = torch.cat([context_pad, context_pad.new_zeros(b, t * hw)], 1)
        out = self.blocks(seq, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(out.dtype)
        return ((out * keep).sum(1) / keep.sum(1)).unsqueeze(1)
