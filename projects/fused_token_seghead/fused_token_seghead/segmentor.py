"""``FusedTokenSegmentor``: SAM2-LOVE's encoders and fusion neck with a
per-frame head in place of SAM2."""
import torch
from mmseg.registry import MODELS

from sam2love.models.segmentors import ClipSegmentor
from sam2love.models.segmentors.sam2love import postprocess_clip_logits


@MODELS.register_module()
class FusedTokenSegmentor(ClipSegmentor):
    """Backbone (``TriModalBackbone``) and neck (``FusionTokenNeck``) give
    the fused token (B, 1, D); the decode head (``FusedTokenMaskHead``)
    segments every frame with it, trained on every frame's mask.

    ``inputs`` and the predictions are those of ``SAM2LOVE``: ``frames``
    (B, T, 3, H, W) and ``audio`` (B, L) in; ``seg_logits`` /
    ``pred_sem_seg`` (T, H, W) at the frame size and ``pred_eval_logits``
    (T, 256, 256) out, so ``RefAVSMetric`` and the tools apply unchanged.

    Args (:class:`~sam2love.models.segmentors.ClipSegmentor`'s): ``backbone``,
    ``neck``, ``decode_head`` (configs, built in that order),
    ``data_preprocessor``, ``train_cfg``, ``test_cfg``, ``init_cfg``.
    """

    def extract_feat(self, inputs: dict, texts: list[str]) -> torch.Tensor:
        """Encoders and fusion: the token (B, 1, D)."""
        if 'frames' not in inputs:
            raise KeyError('FusedTokenSegmentor: inputs need the frames (its '
                           'image model is trained: no feature cache)')
        return self.neck(self.backbone(inputs, texts))['prompt']

    def encode_decode(self, inputs: dict, batch_img_metas: list[dict]
                      ) -> torch.Tensor:
        """Logits (B, T, h, w); the expressions are the metas' ``text``."""
        prompt = self.extract_feat(inputs,
                                   [m['text'] for m in batch_img_metas])
        return self.decode_head.predict(prompt, inputs['frames'])

    def loss(self, inputs: dict, data_samples) -> dict:
        """Mask loss on the clips' frames (``gt_sem_seg`` (T, H, W))."""
        prompt = self.extract_feat(inputs, [ds.text for ds in data_samples])
        gt = torch.stack([ds.gt_sem_seg.data for ds in data_samples])
        return self.decode_head.loss(prompt, inputs['frames'], gt)

    def _forward(self, inputs: dict, data_samples=None) -> torch.Tensor:
        return self.encode_decode(inputs, [ds.metainfo for ds in data_samples])

    def predict(self, inputs: dict, data_samples=None):
        logits = self._forward(inputs, data_samples)
        return postprocess_clip_logits(logits, data_samples,
                                       self.decode_head.threshold)
