"""tools/check_refavs.py finds every planted fault and reports them all."""
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import soundfile
from PIL import Image
from tool_loader import ROOT, load_tool

check_refavs = load_tool('check_refavs')


def test_clean_tree_passes(small_tree, capsys):
    assert check_refavs.main([small_tree, '--no-progress']) == 0
    out = capsys.readouterr().out
    assert 'problems: 0' in out and 'OK' in out
    assert 'clips: 8' in out
    # 48k stereo clips are resampled and downmixed, the 20 s tracks
    # trimmed, the 3.5 s and 7 s ones padded
    assert 'resampled 7, downmixed 3, padded 2, trimmed 2' in out
    # each of those files is named, the padded ones first
    listed = out.split('track(s) fitted to the clip')[1].split('\n\n')[0]
    lines = [ln.strip() for ln in listed.splitlines()[1:]]
    assert len(lines) == 7  # every clip but the 16 kHz mono 10 s one
    media = osp.join(small_tree, 'media')
    assert (f'{media}/null_m-WZAT_QnhbPs_110000_120000/audio.wav: 44100 Hz, '
            '1 channel(s), 3.50 s: resampled to 16000 Hz, padded with 6.50 s '
            'of silence') in lines[:2]
    assert all('padded' in ln for ln in lines[:2])
    assert not any('padded' in ln for ln in lines[2:])
    assert f'{media}/-1HyqEM_VwM_137000_147000/audio.wav: 48000 Hz, 2 ' \
        'channel(s), 10.00 s: resampled to 16000 Hz, downmixed to mono' in \
        lines
    assert check_refavs.main([small_tree, '--no-progress',
                              '--max-listed', '3']) == 0
    assert '  ... and 4 more' in capsys.readouterr().out


def plant_faults(root: str) -> dict[str, str]:
    """Break a copy of the small tree; returns {path fragment: reason}."""
    media = osp.join(root, 'media')
    masks = osp.join(root, 'gt_mask')
    faults = {}

    name = '-1HyqEM_VwM_137000_147000'
    os.remove(osp.join(media, name, 'frames', '7.jpg'))
    faults[f'{name}/frames/7.jpg'] = 'frame is missing'
    faults[f'{name}/frames'] = 'holds 9 frames, expected 10'

    name = '--KCIeTv6PM_14000_24000'
    with open(osp.join(media, name, 'frames', '2.jpg'), 'wb') as f:
        f.write(b'\xff\xd8 truncated')
    faults[f'{name}/frames/2.jpg'] = 'cannot decode the frame image'
    os.remove(osp.join(media, name, 'audio.wav'))
    faults[f'{name}/audio.wav'] = 'audio file is missing'

    name = 'MDyjY3uiWp0_297000_307000'
    with open(osp.join(media, name, 'audio.wav'), 'wb') as f:
        f.write(b'RIFF\x00\x00\x00\x00WAVEfmt garbage')
    faults[f'{name}/audio.wav'] = 'cannot decode audio'
    shutil.rmtree(osp.join(masks, name, 'fid_4'))
    faults[f'{name}/fid_4'] = 'folder is missing'

    name = 'null_m-WZAT_QnhbPs_110000_120000'  # 3.5 s at 44.1 kHz
    wav = osp.join(media, name, 'audio.wav')
    with open(wav, 'rb') as f:
        head = f.read(1000)
    with open(wav, 'wb') as f:
        f.write(head)
    faults[f'{name}/audio.wav'] = ('truncated: its header says 3.50 s, the '
                                   'file holds 0.01 s')

    name = 'null_c-MDyjY3uiWp0_297000_307000'
    samples = np.zeros(16000, np.float32)
    samples[100:103] = [np.nan, np.inf, -np.inf]
    soundfile.write(osp.join(media, name, 'audio.wav'), samples, 16000,
                    subtype='FLOAT')
    faults[f'{name}/audio.wav'] = ('the sound holds 3 NaN or infinite '
                                   'sample(s) of 16000')

    name = 'AL9pqcOjpGQ_43000_53000'
    os.remove(osp.join(masks, name, 'fid_0', '00009.png'))
    faults[f'{name}/fid_0'] = 'holds 9 masks, expected 10'
    faults[f'{name}/fid_0/00009.png'] = 'mask is missing'
    with open(osp.join(masks, name, 'fid_0', '00001.png'), 'wb') as f:
        f.write(b'not a png')
    faults[f'{name}/fid_0/00001.png'] = 'cannot decode the mask image'

    name = 'null_m--9k2Z_hxYpU_155000_165000'
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(
        osp.join(masks, name, 'fid_0', '00003.png'))
    faults[f'{name}/fid_0/00003.png'] = 'mask of a null expression is not empty'

    name = 'null_c-45AfEdAU050_99000_109000'
    for i in (10, 11):  # extra frames
        shutil.copy(osp.join(media, name, 'frames', '0.jpg'),
                    osp.join(media, name, 'frames', f'{i}.jpg'))
    faults[f'{name}/frames'] = 'holds 12 frames, expected 10'
    Image.new('RGB', (40, 40)).save(osp.join(media, name, 'frames', '5.jpg'))
    faults[f'{name}/frames/5.jpg'] = 'frame size 40x40 differs'

    with open(osp.join(root, 'metadata.csv'), 'a') as f:
        f.write('x_0_1,x_0_1_cat_1,tset_s,0,The cat.\n')
        f.write('y_0_1,y_0_1_cat_1,train,zero,The dog.\n')
    faults['metadata.csv'] = "unknown split 'tset_s'"
    faults['metadata.csv '] = "fid 'zero' is not an integer"
    return faults


def test_finds_every_planted_fault(small_tree, copy_tree):
    root = copy_tree(small_tree)
    faults = plant_faults(root)
    result = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'check_refavs.py'), root,
         '--nproc', '2'],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1, result.stderr
    problems = result.stdout.split(' problem(s):\n')[1].split('\n\n')[0]
    lines = [ln.strip() for ln in problems.splitlines()
             if ln.startswith('  ' + root)]
    for fragment, reason in faults.items():
        hits = [ln for ln in lines
                if fragment.strip() + ':' in ln and reason in ln]
        assert hits, f'not reported: {fragment}: {reason}\n{result.stdout}'
    assert f'{len(lines)} problem(s)' in result.stdout
    assert len(lines) == len(faults)
    assert 'FAILED' in result.stdout
    # libsndfile's reason without soundfile's "<_io.BytesIO object at ...>"
    assert 'BytesIO' not in result.stdout


def test_synthetic_tree_passes_the_checker_and_loads(tmp_path, capsys):
    from sam2love.datasets import SPLITS, RefAVSDataset, make_synthetic_refavs
    from sam2love.datasets.synthetic import PRESETS
    root = str(tmp_path / 'synthetic')
    preset = PRESETS['tiny']
    make_synthetic_refavs(root, seed=3, **preset)
    num_frames = preset['num_frames']
    assert check_refavs.main(
        [root, '--no-progress', '--num-frames', str(num_frames)]) == 0
    assert 'problems: 0' in capsys.readouterr().out
    pipeline = [
        dict(type='LoadClipFrames'), dict(type='LoadClipAudio'),
        dict(type='LoadClipMasks', eval_size=(256, 256)),
        dict(type='ResizeClip', scale=32), dict(type='PackClipInputs')]
    for split in SPLITS:
        dataset = RefAVSDataset(root, split, num_frames=num_frames,
                                pipeline=pipeline)
        assert len(dataset) > 0, split
        for index in range(len(dataset)):
            sample = dataset[index]
            assert sample['inputs']['frames'].shape == (num_frames, 3, 32, 32)
            assert sample['inputs']['audio'].shape == (num_frames * 16000, )
            masks = sample['data_samples'].gt_eval_masks.data
            assert masks.any() != sample['data_samples'].is_null
