"""``FrozenEncoder``: the base of the encoders wrapping a pre-trained model
(the Hugging Face ones, ``SAM2VisionEncoder``)."""
from contextlib import nullcontext

import torch
from mmengine.model import BaseModule
from torch import nn

from .loading import hidden_width


class FrozenEncoder(BaseModule):
    """A wrapped Hugging Face model (``self.model``), frozen by default.

    Frozen: no parameter requires grad, the model stays in eval mode
    through ``train()``, and ``forward`` builds no graph.
    """

    def __init__(self, frozen: bool = True,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        self.frozen = frozen

    def set_model(self, model: nn.Module) -> None:
        """Hold ``model``; mmengine's ``init_weights`` is to leave it alone.

        ``BaseModule.init_weights`` calls the ``init_weights`` of every
        child not marked ``is_init``. A Hugging Face model's re-runs its
        own initialisation, which only internal flags of transformers keep
        from redrawing loaded weights (5.24 does keep them); the model was
        fully set up at construction, so it is marked as initialised.
        """
        self.model = model
        self.model.is_init = True

    def freeze(self) -> None:
        self.model.requires_grad_(False)
        self.model.eval()

    def train(self, mode: bool = True) -> 'FrozenEncoder':
        super().train(mode)
        if self.frozen:
            self.model.eval()
        return self

    @property
    def embed_dim(self) -> int:
        """Width of the output features."""
        return hidden_width(self.model.config)

    def grad_context(self):
        """No graph through a frozen model."""
        return torch.no_grad() if self.frozen else nullcontext()
