"""tools/batch_inference.py: lists, bad files reported, resume, torchrun."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
from inference_helpers import (
    CONFIG,
    ROOT,
    build_tiny_model,
    clip_dir_of,
    make_tiny_tree,
    save_checkpoint,
    tiny_dataset,
)
from tool_loader import load_tool

from sam2love.apis.outputs import rle_to_mask
from sam2love.datasets.video import write_clip_video


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    """Two clips as mp4s (2 fps), a broken file, and a JSONL list."""
    tmp = tmp_path_factory.mktemp('batch')
    root = make_tiny_tree(str(tmp / 'tree'))
    ckpt = save_checkpoint(build_tiny_model(), str(tmp / 'tiny.pth'))
    dataset = tiny_dataset(root)
    clips, rows = [], []
    for i in range(len(dataset)):
        clip = clip_dir_of(dataset[i])
        if clip not in clips:
            clips.append(clip)
            rows.append(dict(text=dataset.get_data_info(i)['text']))
        if len(clips) == 2:
            break
    folder = tmp / 'videos'
    folder.mkdir()
    lines = []
    for k, (clip, row) in enumerate(zip(clips, rows)):
        mp4 = str(folder / f'clip{k}.mp4')
        write_clip_video(clip, mp4, fps=2, lossless=True)
        lines.append(dict(video=f'videos/clip{k}.mp4',
                          texts=[row['text'], 'the thing that sounds']))
    (folder / 'broken.mp4').write_bytes(b'not a video at all' * 20)
    lines.insert(1, dict(video='videos/broken.mp4', texts=['anything']))
    listing = tmp / 'videos.jsonl'
    listing.write_text(''.join(json.dumps(x) + '\n' for x in lines))
    return dict(tmp=tmp, ckpt=ckpt, list=str(listing), folder=str(folder))


def run(videos, out, *extra):
    tool = load_tool('batch_inference')
    return tool.main([CONFIG, videos['ckpt'], videos['list'], '--out', out,
                      '--device', 'cpu', *extra])


@pytest.fixture(scope='module')
def single(videos):
    """The list run in one process."""
    out = str(videos['tmp'] / 'single')
    assert run(videos, out) == 0
    return out


def read_masks(folder: str) -> np.ndarray:
    with open(osp.join(folder, 'masks.jsonl')) as f:
        return np.stack([[rle_to_mask(m) for m in json.loads(line)['masks']]
                         for line in f])


def test_bad_file_is_reported_and_the_run_resumes(videos, single, capsys,
                                                  tmp_path):
    out = str(tmp_path / 'out')
    shutil.copytree(single, out)
    assert run(videos, out) == 0  # all done or failed before: only the
    printed = capsys.readouterr().out  # broken file is tried again
    assert 'broken.mp4: MediaError' in printed and 'cannot open' in printed
    assert '2 done, 1 failed, 0 missing of 3 videos' in printed
    with open(osp.join(out, 'summary.json')) as f:
        summary = json.load(f)
    assert summary['counts'] == dict(done=2, error=1, missing=0)
    assert [v['id'] for v in summary['videos']] == ['clip0', 'broken',
                                                    'clip1']
    # this run's figures are its own: only the broken file was tried
    assert summary['frames'] == 16  # of all runs: 2 videos of 8 frames
    run_figures = summary['run']
    assert (run_figures['videos'], run_figures['done'],
            run_figures['error'], run_figures['frames']) == (1, 0, 1, 0)
    assert run_figures['video_seconds'] == 0
    assert run_figures['frames_per_second'] == 0
    for video in ('clip0', 'clip1'):
        masks = read_masks(osp.join(out, video))
        assert masks.shape == (8, 2, 48, 64)  # 4 s at 2 fps, 2 expressions
    # a killed run: clip1 was in flight (partial folder, no done.json)
    done0 = osp.join(out, 'clip0', 'done.json')
    stamp = os.stat(done0).st_mtime_ns
    reference = read_masks(osp.join(out, 'clip1'))
    os.remove(osp.join(out, 'clip1', 'done.json'))
    with open(osp.join(out, 'clip1', 'masks.jsonl'), 'w') as f:
        f.write('{"frame": 0, "trunc')
    assert run(videos, out) == 0
    assert os.stat(done0).st_mtime_ns == stamp  # skipped
    with open(osp.join(out, 'summary.json')) as f:
        run_figures = json.load(f)['run']
    assert (run_figures['videos'], run_figures['done'],
            run_figures['frames']) == (2, 1, 8)  # clip1 and the broken file
    assert 0 < run_figures['video_seconds'] <= run_figures['wall_seconds']
    np.testing.assert_array_equal(read_masks(osp.join(out, 'clip1')),
                                  reference)
    with open(osp.join(out, 'broken', 'error.json')) as f:
        assert 'cannot open the video' in json.load(f)['error']


def test_degraded_input_is_recorded_and_window_runs_take_no_end(
        videos, single, tmp_path):
    """The 4 s clips are shorter than the config's 10 s: done.json says
    so; ``end`` of a list row with --window is an error of that row."""
    with open(osp.join(single, 'clip0', 'done.json')) as f:
        record = json.load(f)
    assert any('the video ends at 4 s: the clip has 4 of the model\'s 10 '
               'frames' in w for w in record['warnings'])
    with open(osp.join(single, 'summary.json')) as f:
        summary = json.load(f)
    assert summary['run']['videos'] == 3 and summary['run']['frames'] == 16
    tool = load_tool('batch_inference')
    args = tool.parse_args(['c', 'k', 'i', '--out', str(tmp_path),
                            '--window'])
    item = dict(id='clip0', video='clip0.mp4', texts=['x'], audio=None,
                start=0.0, end=2.0, where='list.csv:2')
    record = tool.run_item(None, item, str(tmp_path), args, 'run-1')
    assert record['status'] == 'error' and record['run'] == 'run-1'
    assert record['error'] == ('ValueError: end=2 is used only when '
                               'streaming (not with --window)')


def test_lists_and_folders(videos, tmp_path):
    tool = load_tool('batch_inference')
    listing = tmp_path / 'list.csv'
    listing.write_text('video,text,start\n'
                       f'{videos["folder"]}/clip0.mp4,the red one,1\n'
                       f'{videos["folder"]}/clip0.mp4,the blue one,1\n'
                       f'{videos["folder"]}/clip1.mp4,the square,\n')
    items = tool.read_items(str(listing), [])
    assert [(i['id'], i['texts'], i['start']) for i in items] == [
        ('clip0', ['the red one', 'the blue one'], 1.0),
        ('clip1', ['the square'], 0.0)]
    folder = tool.read_items(videos['folder'], ['x'])
    assert [i['id'] for i in folder] == ['broken', 'clip0', 'clip1']
    with pytest.raises(tool.ListError, match='needs --text'):
        tool.read_items(videos['folder'], [])
    bad = tmp_path / 'bad.jsonl'
    bad.write_text('{"video": "a.mp4"}\nnot json\n')
    with pytest.raises(tool.ListError, match=r'bad.jsonl:2: not JSON'):
        tool.read_items(str(bad), [])


def test_two_torchrun_processes_give_the_outputs_of_one(videos, single,
                                                        tmp_path):
    multi = str(tmp_path / 'multi')
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHON=sys.executable,
               PORT='29561')
    result = subprocess.run(
        ['bash', 'tools/dist_batch_inference.sh', CONFIG, videos['ckpt'],
         videos['list'], '2', '--out', multi, '--device', 'cpu'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(osp.join(multi, 'summary.json')) as f:
        summary = json.load(f)
    assert summary['processes'] == 2
    assert summary['counts'] == dict(done=2, error=1, missing=0)
    for video in ('clip0', 'clip1'):
        # equal up to float rounding: torchrun's ranks run one thread each
        a = read_masks(osp.join(single, video))
        b = read_masks(osp.join(multi, video))
        assert a.shape == b.shape and (a != b).mean() < 1e-3
