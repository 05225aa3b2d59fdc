"""``tools/test.py --show-dir`` draws each clip through RefAVSVisualizer."""
import glob
import os.path as osp

import cv2
from inference_helpers import CONFIG, tiny_dataset, tiny_tree_and_checkpoint
from tool_loader import load_tool


def test_show_dir_saves_one_contact_sheet_per_clip_sample(tmp_path):
    root, ckpt = tiny_tree_and_checkpoint(tmp_path)
    dataset = tiny_dataset(root, 'val')
    show = str(tmp_path / 'show')
    args = [
        CONFIG, ckpt,
        '--work-dir', str(tmp_path / 'work'), '--show-dir', show,
        '--cfg-options', f'test_dataloader.dataset.data_root={root}',
        'test_dataloader.dataset.split=val',
        f'test_dataloader.dataset.num_frames={dataset.num_frames}',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'default_hooks.visualization.interval=1',
        f'visualizer.name=show_dir_{tmp_path.name}']
    load_tool('test').main(args)
    sheets = sorted(glob.glob(osp.join(show, 'vis_data', 'vis_image',
                                       '*.png')))
    expected = [f'test_{i:05d}_{dataset.get_data_info(i)["uid"]}_0.png'
                for i in range(len(dataset))]
    assert [osp.basename(s) for s in sheets] == expected
    sheet = cv2.imread(sheets[0])
    # one row of T frames per block (prediction, ground truth) + legend
    thumb = 144
    assert sheet.shape[1] == dataset.num_frames * (64 * thumb // 48 + 4) + 4
    assert sheet.shape[0] > 2 * thumb
