"""``ClipSegmentor``: what every segmentor of clips shares."""
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS


class ClipSegmentor(BaseSegmentor):
    """A segmentor of (B, T, 3, H, W) clips: ``ClipDataPreprocessor`` by
    default, the train / test configs kept, and its parts (e.g.
    ``backbone``, ``neck``, ``decode_head``) built from their configs in
    the order given.

    Args:
        data_preprocessor (dict, optional): defaults to
            ``ClipDataPreprocessor``.
        train_cfg, test_cfg (dict, optional): kept as attributes.
        init_cfg (dict, optional): mmengine's.
        **parts (dict): attribute name -> config of a registered model.
    """

    def __init__(self,
                 data_preprocessor: dict | None = None,
                 train_cfg: dict | None = None,
                 test_cfg: dict | None = None,
                 init_cfg: dict | None = None,
                 **parts: dict) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(
                type='ClipDataPreprocessor'),
            init_cfg=init_cfg)
        for name, cfg in parts.items():
            setattr(self, name, MODELS.build(cfg))
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
