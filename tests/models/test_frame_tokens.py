"""encode_frames / grid_tokens: the frame batching shared by the vision
encoders."""
import pytest
import torch

from sam2love.models.backbones.frame_tokens import encode_frames, grid_tokens


def test_frames_are_encoded_as_one_image_batch():
    frames = torch.randn(2, 3, 3, 8, 8)
    seen = []

    def encode(images):
        seen.append(images)
        return grid_tokens(images)

    patches, glob = encode_frames(frames, encode, 'Owner')
    assert len(seen) == 1 and torch.equal(seen[0], frames.flatten(0, 1))
    assert patches.shape == (2, 3, 64, 3) and glob.shape == (2, 3, 3)
    # frame (1, 2), cell (row 4, column 5), channel 1
    assert patches[1, 2, 4 * 8 + 5, 1] == frames[1, 2, 1, 4, 5]
    torch.testing.assert_close(glob, frames.mean((-2, -1)))


@pytest.mark.parametrize('shape', [(2, 3, 8, 8), (2, 3, 1, 8, 8)])
def test_wrong_frames_shape_names_the_owner(shape):
    with pytest.raises(ValueError, match=r'Owner: frames must be '
                                         r'\(B, T, 3, H, W\), got'):
        encode_frames(torch.zeros(shape), grid_tokens, 'Owner')
