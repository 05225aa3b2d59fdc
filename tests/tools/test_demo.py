"""tools/demo.py and tools/clip_to_video.py on a synthetic clip."""
import json
import os
import os.path as osp
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest
import soundfile
import torch
from inference_helpers import CONFIG, ROOT, tiny_clip_video
from tool_loader import load_tool

T = 4  # frames (seconds) of the tiny preset's clips


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    """A synthetic clip written as a (playable) mp4 by the tool, its
    metadata expressions, and a random checkpoint of the tiny model."""
    return tiny_clip_video(tmp_path_factory.mktemp('demo'))


def test_clip_to_video_writes_the_clip_with_its_sound(clip, capsys):
    with av.open(clip['mp4']) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == 'h264' and audio.rate == 16000
        assert sum(1 for _ in container.decode(video=0)) == T
    assert len(clip['texts']) >= 2
    out = str(clip['tmp'] / 'again.mp4')
    assert load_tool('clip_to_video').main([clip['clip_dir'], out,
                                            '--lossless']) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['frames'] == T and summary['audio_seconds'] == T
    assert summary['lossless'] and summary['expressions']


def test_demo_writes_all_outputs_for_two_expressions(clip):
    out = str(clip['tmp'] / 'out')
    texts = clip['texts'][:2]
    args = [sys.executable, 'tools/demo.py', clip['mp4'],
            '--text', texts[0], '--text', texts[1], '--config', CONFIG,
            '--checkpoint', clip['ckpt'], '--out', out, '--device', 'cpu']
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, HF_HUB_OFFLINE='1'),
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'overlay video:' in result.stdout and 'wall time' in result.stdout
    # overlay video: every sampled frame, with the clip's sound
    with av.open(osp.join(out, 'overlay.mp4')) as container:
        assert container.streams.audio
        frames = [f.to_ndarray(format='rgb24')
                  for f in container.decode(video=0)]
    assert len(frames) == T
    assert frames[0].shape[0] > 360  # 48 px enlarged, plus the legend
    # per-frame mask PNGs of each expression, at the frame size
    for k in (1, 2):
        folder = osp.join(out, 'masks', f'expression_{k}')
        assert sorted(os.listdir(folder)) == [f'{i:05d}.png'
                                             for i in range(T)]
        mask = cv2.imread(osp.join(folder, '00000.png'), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (48, 64) and set(mask.flat) <= {0, 255}
    # contact sheet of the sampled frames
    sheet = cv2.imread(osp.join(out, 'contact_sheet.png'))
    assert sheet.shape[1] > T * 144  # 4 thumbnails in a row
    summary = json.load(open(osp.join(out, 'predictions.json')))
    assert [e['text'] for e in summary['expressions']] == texts
    assert summary['frame_times'] == [0.0, 1.0, 2.0, 3.0]
    assert summary['expressions'][0]['colour'] != \
        summary['expressions'][1]['colour']


@pytest.mark.parametrize('case,message', [
    ('no_audio', 'holds no audio track'),
    ('empty_text', 'expression 0 is empty'),
    ('bad_video', 'cannot open the video'),
    ('other_checkpoint', '1 missing key(s) (in the model, not in the '
     'checkpoint): neck.'),
])
def test_demo_reports_bad_input(clip, case, message, capsys):
    demo = load_tool('demo')
    video, text, ckpt = clip['mp4'], 'the red square', clip['ckpt']
    if case == 'other_checkpoint':
        state = torch.load(ckpt, weights_only=True)['state_dict']
        del state[sorted(k for k in state if k.startswith('neck.'))[0]]
        ckpt = str(clip['tmp'] / 'other.pth')
        torch.save({'state_dict': state}, ckpt)
    elif case == 'no_audio':
        video = str(clip['tmp'] / 'frames_only')
        os.makedirs(video, exist_ok=True)
        cv2.imwrite(osp.join(video, '0.png'), cv2.imread(osp.join(
            clip['clip_dir'], 'frames', '0.jpg')))
        message = 'frames have no audio track'
    elif case == 'empty_text':
        text = ' '
    elif case == 'bad_video':
        video = str(clip['tmp'] / 'bad.mp4')
        open(video, 'wb').write(b'not a video')
    code = demo.main([video, '--text', text, '--config', CONFIG,
                      '--checkpoint', ckpt, '--no-progress',
                      '--out', str(clip['tmp'] / 'bad_out')])
    assert code == 2
    assert message in capsys.readouterr().err


def test_describe_runs():
    describe = load_tool('demo').describe_runs
    times = [0.0, 0.5, 1.0, 1.5, 2.0]
    assert describe([0, 1, 2, 4], times) == ': 0-1, 2 s'
    assert describe([], times) == ''


def test_demo_streams_to_the_end_with_rle_masks(clip, capsys):
    demo = load_tool('demo')
    out = str(clip['tmp'] / 'stream_out')
    code = demo.main([clip['mp4'], '--text', clip['texts'][0], '--config',
                      CONFIG, '--checkpoint', clip['ckpt'], '--out', out,
                      '--device', 'cpu', '--stream', '--masks-format', 'rle',
                      '--no-progress'])
    assert code == 0
    printed = capsys.readouterr().out
    assert f'{T} frames' in printed and 'mask RLEs:' in printed
    # the 4 s clip is shorter than the config's 10 s: said, not hidden
    assert f"warning: {clip['mp4']}: the video ends at {T} s: the clip has " \
        f"{T} of the model's 10 frames (from 0 s)" in printed
    with open(osp.join(out, 'masks.jsonl')) as f:
        assert [json.loads(line)['frame'] for line in f] == list(range(T))
    with av.open(osp.join(out, 'overlay.mp4')) as container:
        assert sum(1 for _ in container.decode(video=0)) == T
    assert demo.main([clip['mp4'], '--text', 'x', '--config', CONFIG,
                      '--checkpoint', clip['ckpt'], '--stream',
                      '--propagate']) == 2


@pytest.fixture
def no_model(monkeypatch):
    """Fail if the demo builds its inferencer (the model load)."""
    import sam2love.apis

    def refuse(*args, **kwargs):
        raise AssertionError('the model was loaded before the input was '
                             'checked')

    monkeypatch.setattr(sam2love.apis, 'RefAVSInferencer', refuse)


@pytest.mark.parametrize('case,message', [
    ('missing_config', 'config {tmp}/nowhere.py does not exist'),
    ('bad_video', '{tmp}/bad.mp4: cannot open the video'),
    ('empty_text', "expression 0 is empty (' ')"),
    ('end_without_stream', '--end is used only with --stream'),
    ('end_before_start',
     'end must be a time after start (2 s), got 1.0'),
    ('bad_audio', '{tmp}/notes.wav: cannot read the audio file'),
    ('nan_audio', '{tmp}/nan.wav: the sound holds'),
])
def test_demo_checks_the_input_before_the_model_loads(clip, no_model, case,
                                                      message, capsys):
    demo = load_tool('demo')
    tmp = clip['tmp']
    args = [clip['mp4'], '--text', 'the red square', '--config', CONFIG,
            '--checkpoint', clip['ckpt'], '--no-progress',
            '--out', str(tmp / 'early_out')]
    if case == 'missing_config':
        args[4] = str(tmp / 'nowhere.py')
    elif case == 'bad_video':
        (tmp / 'bad.mp4').write_bytes(b'not a video')
        args[0] = str(tmp / 'bad.mp4')
    elif case == 'empty_text':
        args[2] = ' '
    elif case == 'end_without_stream':
        args += ['--end', '3']
    elif case == 'end_before_start':
        args += ['--stream', '--start', '2', '--end', '1']
    elif case == 'bad_audio':
        (tmp / 'notes.wav').write_bytes(b'some notes, not a sound' * 10)
        args += ['--audio', str(tmp / 'notes.wav')]
    elif case == 'nan_audio':
        soundfile.write(str(tmp / 'nan.wav'),
                        np.full(16000, np.nan, np.float32), 16000,
                        subtype='FLOAT')
        args += ['--audio', str(tmp / 'nan.wav')]
    assert demo.main(args) == 2
    assert f'error: {message.format(tmp=tmp)}' in capsys.readouterr().err


@pytest.mark.parametrize('content,message', [
    (b'notes, not a checkpoint\n', 'is not a readable torch file'),
    (b'', 'is empty (0 bytes)'),
    ('crafted', 'cannot be read with weights_only=True'),
])
def test_demo_names_a_checkpoint_that_is_not_one(clip, monkeypatch, content,
                                                 message, capsys):
    """A text file, an empty file, a crafted file that would run code: each
    named, before the model is built, and the crafted one runs nothing."""
    import sam2love.apis.inferencer as module

    def build(*args, **kwargs):
        raise AssertionError('the model was built before the checkpoint '
                             'was read')

    monkeypatch.setattr(module.MODELS, 'build', build)
    path = clip['tmp'] / 'given.pth'
    marker = clip['tmp'] / 'pwned'
    if content == 'crafted':
        sys.path.insert(0, osp.join(ROOT, 'tests', 'apis'))
        from test_checkpoint import payloads, save_crafted
        save_crafted(path, payloads(marker)['os.system'])
    else:
        path.write_bytes(content)
    demo = load_tool('demo')
    assert demo.main([clip['mp4'], '--text', 'the red square', '--config',
                      CONFIG, '--checkpoint', str(path), '--no-progress',
                      '--out', str(clip['tmp'] / 'ckpt_out')]) == 2
    assert f'error: checkpoint {path} {message}' in capsys.readouterr().err
    assert not marker.exists()
