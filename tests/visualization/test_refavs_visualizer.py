"""RefAVSVisualizer: overlays, legends, contact sheets, mmseg's hook."""
import os
import os.path as osp
from unittest import mock

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from sam2love.engine import ClipVisualizationHook
from sam2love.visualization import (
    RefAVSVisualizer,
    expression_colours,
    overlay_masks,
)
from sam2love.visualization.drawing import draw_legend, upscale_size


def square_mask(h, w, y0, x0, size):
    mask = np.zeros((h, w), bool)
    mask[y0:y0 + size, x0:x0 + size] = True
    return mask


def test_overlay_blends_each_expression_in_its_colour_and_outlines_it():
    frame = np.zeros((40, 60, 3), np.uint8)
    red, blue = (200, 0, 0), (0, 0, 200)
    a = square_mask(40, 60, 5, 5, 10)
    b = square_mask(40, 60, 20, 30, 10)
    out = overlay_masks(frame, [a, b], [red, blue], opacity=0.5, outline=1)
    assert out is not frame and not frame.any()
    assert tuple(out[10, 10]) == (100, 0, 0)  # inside a: half red
    assert tuple(out[25, 35]) == (0, 0, 100)  # inside b: half blue
    assert tuple(out[5, 5]) == red and tuple(out[20, 30]) == blue  # edges
    assert not out[0].any() and not out[:, -1].any()  # outside untouched
    # masks of another size are resized to the frame (nearest)
    small = overlay_masks(frame, [a[::2, ::2]], [red], 0.5, outline=1)
    assert tuple(small[10, 10]) == (100, 0, 0)


def test_the_same_object_for_two_expressions_shows_both_outlines():
    frame = np.zeros((40, 40, 3), np.uint8)
    m = square_mask(40, 40, 10, 10, 20)
    colours = expression_colours(2)
    out = overlay_masks(frame, [m, m], colours, opacity=0.5, outline=1)
    assert tuple(out[10, 20]) == colours[1]  # inner ring: the later one
    assert tuple(out[9, 20]) == colours[0]  # outer ring: the earlier one


def test_colours_are_distinct_and_cycle():
    colours = expression_colours(12)
    assert len(set(colours[:10])) == 10 and colours[10] == colours[0]


def test_legend_wraps_long_expressions():
    colours = expression_colours(2)
    short = draw_legend(300, ['a', 'b'], colours)
    long = draw_legend(300, ['a', 'the object that keeps making a sound '
                             'while the red square stays silent'], colours)
    assert short.shape[1] == long.shape[1] == 300
    assert long.shape[0] > short.shape[0]
    assert (short[:, :40] == colours[0]).all(-1).any()  # swatch drawn


@pytest.fixture
def visualizer(tmp_path):
    # as the Runner builds it: a named, current instance
    return RefAVSVisualizer.get_instance(
        f'vis_{tmp_path.name}', save_dir=str(tmp_path / 'vis'),
        vis_backends=[dict(type='LocalVisBackend')])


def test_clip_frames_are_enlarged_and_share_one_size(visualizer):
    frames = [np.full((48, 64, 3), i * 20, np.uint8) for i in range(3)]
    masks = np.zeros((2, 3, 48, 64), bool)
    masks[0, :, 10:20, 10:20] = True
    drawn = visualizer.draw_clip(frames, masks, ['one', 'two'],
                                 captions=['0 s', '1 s', '2 s'])
    assert len(drawn) == 3 and len({d.shape for d in drawn}) == 1
    height, width = upscale_size(48, 64, visualizer.min_height)
    assert (height, width) == (384, 512)
    assert drawn[0].shape[1] == width and drawn[0].shape[0] > height
    with pytest.raises(ValueError, match=r'masks must be \(K=1, T=3'):
        visualizer.draw_clip(frames, masks, ['one'])


def test_contact_sheet_layout(visualizer):
    frames = [np.zeros((48, 64, 3), np.uint8) for _ in range(10)]
    masks = np.ones((1, 10, 48, 64), bool)
    sheet = visualizer.draw_contact_sheet(frames, [masks], ['x'],
                                          captions=[str(i) for i in range(10)])
    thumb_w = round(64 * visualizer.thumb_height / 48)
    assert sheet.shape[1] == 5 * thumb_w + 6 * 4  # 5 columns, 4 px gaps
    assert sheet.shape[0] > 2 * visualizer.thumb_height
    two_rows = visualizer.draw_contact_sheet(
        frames, [masks, masks], ['x'], row_labels=['prediction', 'truth'],
        columns=10)
    assert two_rows.shape[1] == 10 * thumb_w + 11 * 4


def clip_sample(tmp_path, num_frames=3):
    """A test-pipeline-like data sample whose frames are on disk."""
    paths = []
    for i in range(num_frames):
        path = str(tmp_path / 'frames' / f'{i}.jpg')
        paths.append(path)
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, np.full((48, 64, 3), 90, np.uint8))
    sample = SegDataSample()
    sample.set_metainfo(dict(
        frame_paths=paths, img_path=paths[0], ori_shape=(48, 64),
        text='the sounding square', uid='clip_red-square_1', sample_idx=7,
        clip_seconds=float(num_frames), num_frames=num_frames))
    masks = torch.zeros(num_frames, 48, 64, dtype=torch.uint8)
    masks[:, 10:30, 10:30] = 1
    sample.pred_sem_seg = PixelData(data=masks)
    sample.gt_sem_seg = PixelData(data=masks.clone())
    return sample


def test_hook_saves_a_contact_sheet_of_the_whole_clip(visualizer, tmp_path):
    """``tools/test.py --show-dir`` path: the hook gives frame 0 and the
    name ``test_0.jpg``; the sheet covers every frame, prediction over
    ground truth, under a unique name. A test runner's ``iter`` is never
    read: it would build the train loop and its dataset."""
    sample = clip_sample(tmp_path)
    hook = ClipVisualizationHook(draw=True, interval=1)
    assert hook._visualizer is visualizer
    runner = mock.MagicMock()
    type(runner).iter = mock.PropertyMock(
        side_effect=AssertionError('runner.iter builds the train loop'))
    hook.after_test_iter(runner, 0, {}, [sample])
    saved = tmp_path / 'vis' / 'vis_data' / 'vis_image' / \
        'test_00007_clip_red-square_1_0.png'
    assert saved.is_file()
    sheet = cv2.imread(str(saved))
    thumb_w = round(64 * visualizer.thumb_height / 48)
    assert sheet.shape[1] == 3 * thumb_w + 4 * 4  # the whole clip, 1 row
    assert sheet.shape[0] > 2 * visualizer.thumb_height  # pred + gt blocks
    out = str(tmp_path / 'only_pred.png')
    visualizer.add_datasample('x', None, sample, draw_gt=False,
                              out_file=out)
    assert cv2.imread(out).shape[0] < sheet.shape[0]


def test_plain_segmentation_samples_fall_back_to_mmseg(visualizer, tmp_path):
    sample = SegDataSample()
    sample.pred_sem_seg = PixelData(data=torch.zeros(1, 8, 8, dtype=torch.long))
    visualizer.dataset_meta = dict(classes=('bg', 'fg'),
                                   palette=[[0, 0, 0], [255, 0, 0]])
    out = str(tmp_path / 'plain.png')
    visualizer.add_datasample('plain', np.zeros((8, 8, 3), np.uint8), sample,
                              out_file=out)
    assert cv2.imread(out).shape == (8, 8, 3)
