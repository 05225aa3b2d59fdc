"""Per-frame tokens of a clip: the shared frame of the vision encoders
(``HFVisionEncoder``, ``MMSegVisionEncoder``), which encode the B * T
frames of a batch as one image batch."""
from collections.abc import Callable

import torch

#: (N, 3, H, W) images -> (patches (N, HW, D), global token (N, D))
ImageEncoder = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def encode_frames(frames: torch.Tensor, encode: ImageEncoder,
                  owner: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode every frame of a clip batch as one image batch.

    Args:
        frames (Tensor): (B, T, 3, H, W).
        encode (Callable): (B * T, 3, H, W) images -> (patches
            (B * T, HW, D), global token (B * T, D)).
        owner (str): the encoder class, for the error message.

    Returns:
        tuple[Tensor, Tensor]: patches (B, T, HW, D), global (B, T, D).
    """
    if frames.dim() != 5 or frames.size(2) != 3:
        raise ValueError(f'{owner}: frames must be (B, T, 3, H, W), '
                         f'got {tuple(frames.shape)}')
    b, t = frames.shape[:2]
    patches, glob = encode(frames.flatten(0, 1))
    return patches.unflatten(0, (b, t)), glob.unflatten(0, (b, t))


def grid_tokens(feature_map: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D, h, w) map -> (patches (N, h * w, D) row-major, their mean
    (N, D), the global token)."""
    patches = feature_map.flatten(2).transpose(1, 2)
    return patches, patches.mean(1)
