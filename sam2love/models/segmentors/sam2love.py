"""``SAM2LOVE``: the segmentor joining backbone, neck and SAM2 head."""
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS

#: The Ref-AVS metric's resolution (H, W).
EVAL_SIZE = (256, 256)


@MODELS.register_module()
class SAM2LOVE(BaseSegmentor):
    """SAM2-LOVE: referring audio-visual segmentation of whole clips.

    ``inputs`` is ``dict(frames=(B, T, 3, H, W), audio=(B, L))`` from
    :class:`~sam2love.models.ClipDataPreprocessor` (optionally with
    precomputed encoder features, see the backbone); the expressions are
    the ``text`` metainfo of the data samples.

    Predictions land in each ``SegDataSample`` as mmseg users expect, one
    channel per frame:

    - ``seg_logits``: ``PixelData`` (T, H, W) logits at the original frame
      size (``ori_shape``);
    - ``pred_sem_seg``: ``PixelData`` (T, H, W) masks, sigmoid > threshold;
    - ``pred_eval_logits``: ``PixelData`` (T, 256, 256) logits for the
      Ref-AVS metric (bilinear from SAM2's low-resolution logits).

    Args:
        backbone (dict): tri-modal encoder wrapper.
        neck (dict): ``FusionTokenNeck``.
        decode_head (dict): ``SAM2PromptHead``.
        data_preprocessor (dict): ``ClipDataPreprocessor``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 decode_head: dict,
                 data_preprocessor: dict | None = None,
                 train_cfg: dict | None = None,
                 test_cfg: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(
                type='ClipDataPreprocessor'),
            init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.decode_head = MODELS.build(decode_head)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def extract_feat(self, inputs: dict, texts: list[str]) -> torch.Tensor:
        """Encoders and fusion: the prompt token (B, 1, D)."""
        return self.neck(self.backbone(inputs, texts))['prompt']

    def encode_decode(self, inputs: dict, batch_img_metas: list[dict]
                      ) -> torch.Tensor:
        """Clip logits (B, T, h, w) at SAM2's mask resolution; the
        expressions are the metas' ``text``."""
        prompt = self.extract_feat(inputs, [m['text'] for m in batch_img_metas])
        return self.decode_head.predict(prompt, inputs['frames'])

    def loss(self, inputs: dict, data_samples) -> dict:
        prompt = self.extract_feat(inputs, [ds.text for ds in data_samples])
        gt0 = torch.stack([ds.gt_sem_seg.data[0] for ds in data_samples])
        return self.decode_head.loss(prompt, inputs['frames'], gt0)

    def _forward(self, inputs: dict, data_samples=None) -> torch.Tensor:
        """Raw logits (B, T, h, w) of every frame."""
        return self.encode_decode(inputs, [ds.metainfo for ds in data_samples])

    def predict(self, inputs: dict, data_samples=None):
        logits = self._forward(inputs, data_samples)
        return self.postprocess_result(logits, data_samples)

    def postprocess_result(self, logits: torch.Tensor, data_samples):
        """Write the predictions, see :func:`postprocess_clip_logits`."""
        return postprocess_clip_logits(logits, data_samples,
                                       self.decode_head.threshold)


def postprocess_clip_logits(logits: torch.Tensor, data_samples,
                            threshold: float):
    """Write ``seg_logits``, ``pred_sem_seg`` and ``pred_eval_logits``.

    Args:
        logits (Tensor): (B, T, h, w) mask logits of the square SAM2
            input, which covers the whole frame.
        data_samples (list[SegDataSample]): B samples with ``ori_shape``.
        threshold (float): probability threshold of ``pred_sem_seg``.
    """
    for clip_logits, sample in zip(logits, data_samples):
        h, w = sample.ori_shape
        full = F.interpolate(clip_logits[None], size=(h, w),
                             mode='bilinear', align_corners=False)[0]
        evaluation = F.interpolate(clip_logits[None], size=EVAL_SIZE,
                                   mode='bilinear', align_corners=False)[0]
        sample.set_data(dict(
            seg_logits=PixelData(data=full),
            pred_sem_seg=PixelData(
                data=(full.sigmoid() > threshold).to(torch.uint8)),
            pred_eval_logits=PixelData(data=evaluation)))
    return data_samples
