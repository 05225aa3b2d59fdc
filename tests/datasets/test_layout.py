"""sam2love.datasets.layout: where a clip's files live in the release
layout, and the data root a frame path belongs to."""
import pytest

from sam2love.datasets.layout import data_root_of_frames


def test_data_root_of_frames():
    assert data_root_of_frames('/data/x/media/clip/frames/0.jpg') == '/data/x'
    assert data_root_of_frames('media/clip/frames/3.jpg') == '.'
    with pytest.raises(ValueError, match='cannot tell its data root'):
        data_root_of_frames('/data/x/clips/clip/frames/0.jpg')
