"""RefAVSInferencer: an mp4 of a clip gives the data set's masks; bad or
degraded input gets a clear error or a warning."""
import json
import os.path as osp
import re

import av
import numpy as np
import pytest
import soundfile
import torch
from inference_helpers import (
    CONFIG,
    build_tiny_model,
    clip_dir_of,
    dataset_predictions,
    make_tiny_tree,
    save_checkpoint,
    tiny_dataset,
)
from mmengine.config import Config

from sam2love.apis import (
    CheckpointError,
    CheckpointMismatchError,
    RefAVSInferencer,
)
from sam2love.datasets import MediaError
from sam2love.datasets.audio import decode_audio
from sam2love.datasets.media import load_frames
from sam2love.datasets.video import (
    read_audio_track,
    read_video_frames,
    write_clip_video,
    write_video,
)

T = 4  # frames of the tiny preset (4 s clips)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Tree, random checkpoint, dataset-path predictions of one clip's
    expressions, the clip as a lossless mp4, and the inferencer."""
    tmp = tmp_path_factory.mktemp('inferencer')
    root = make_tiny_tree(str(tmp / 'tree'))
    model = build_tiny_model()
    ckpt = save_checkpoint(model, str(tmp / 'tiny.pth'))
    dataset = tiny_dataset(root)
    first = dataset[0]
    clip = clip_dir_of(first)
    indices = [i for i in range(len(dataset))
               if dataset.get_data_info(i)['clip_name'] == osp.basename(clip)]
    assert len(indices) >= 2
    reference = dataset_predictions(model, dataset, indices)
    mp4 = str(tmp / 'clip.mp4')
    write_clip_video(clip, mp4, lossless=True)
    inferencer = RefAVSInferencer(CONFIG, ckpt, device='cpu',
                                  show_progress=False)
    return dict(tmp=tmp, root=root, ckpt=ckpt, clip=clip, mp4=mp4,
                reference=reference, inferencer=inferencer,
                texts=[r.text for r in reference],
                sample=first)


def assert_same(result, reference, exact=True):
    """Bit-identical with one expression per pass; K expressions in one
    pass (shared encoders, K objects tracked as a batch) agree to float
    rounding."""
    assert len(result['predictions']) == len(reference)
    for pred, ref in zip(result['predictions'], reference):
        assert pred['text'] == ref.text
        logits = ref.seg_logits.data.numpy()
        masks = ref.pred_sem_seg.data.numpy()
        assert pred['logits'].shape == logits.shape == (T, 48, 64)
        if exact:
            np.testing.assert_array_equal(pred['logits'], logits)
            np.testing.assert_array_equal(pred['masks'], masks)
        else:
            np.testing.assert_allclose(pred['logits'], logits, atol=1e-5)
            assert (pred['masks'] != masks).mean() < 1e-3


def test_mp4_round_trip_gives_the_clip_frames_and_track(setup):
    clip = setup['clip']
    frames = load_frames([osp.join(clip, 'frames', f'{i}.jpg')
                          for i in range(T)])
    wav, rate = decode_audio(osp.join(clip, 'audio.wav'))
    video = read_video_frames(setup['mp4'], num_frames=10)
    assert video.num_sampled == T  # a 4 s video: 4 frames, not 10
    assert video.times == [0.0, 1.0, 2.0, 3.0]
    for decoded, original in zip(video.sampled_frames, frames):
        np.testing.assert_array_equal(decoded, original)
    track, track_rate = read_audio_track(setup['mp4'], 0.0, T)
    assert track_rate == rate == 16000
    assert track.shape == wav.shape == (T * 16000, 1)
    np.testing.assert_array_equal(track, wav)


def test_masks_from_the_mp4_equal_the_dataset_path(setup):
    """Same checkpoint, same clip: the mp4 (lossless: H.264 RGB qp 0 +
    FLAC) gives bit-identical logits to RefAVSDataset + test_step."""
    result = setup['inferencer'](setup['mp4'], setup['texts'], batch_size=1)
    assert result['frame_times'] == [0.0, 1.0, 2.0, 3.0]
    assert result['sampled'] == [0, 1, 2, 3]
    assert result['clip_seconds'] == T
    assert_same(result, setup['reference'])
    # a random model with a forced object score: masks are not trivial
    masks = np.stack([p['masks'] for p in result['predictions']])
    assert 0 < masks.mean() < 1


def test_clip_folder_and_in_memory_inputs_equal_the_dataset_path(setup):
    inferencer, clip = setup['inferencer'], setup['clip']
    assert_same(inferencer(clip, setup['texts'], batch_size=1),
                setup['reference'])
    frames = np.stack(load_frames([osp.join(clip, 'frames', f'{i}.jpg')
                                   for i in range(T)]))
    wav, rate = decode_audio(osp.join(clip, 'audio.wav'))
    result = inferencer(frames, setup['texts'], audio=(wav, rate))
    assert_same(result, setup['reference'], exact=False)
    assert result['audio_source'] == '<samples in memory>'


def test_a_separate_wav_and_batches_of_expressions(setup, tmp_path):
    """A video without sound plus the clip's wav; two expressions per
    forward pass give the same masks (logits to float tolerance)."""
    clip = setup['clip']
    frames = load_frames([osp.join(clip, 'frames', f'{i}.jpg')
                          for i in range(T)])
    silent = str(tmp_path / 'silent.mp4')
    write_video(silent, frames, 1, lossless=True)
    with pytest.raises(MediaError, match='no audio track'):
        setup['inferencer'](silent, setup['texts'])
    result = setup['inferencer'](silent, setup['texts'],
                                 audio=osp.join(clip, 'audio.wav'),
                                 batch_size=2)
    for pred, ref in zip(result['predictions'], setup['reference']):
        np.testing.assert_allclose(pred['logits'], ref.seg_logits.data,
                                   atol=1e-4)


def test_propagate_tracks_every_decoded_frame(setup, tmp_path):
    """At 5 fps the clip has 20 frames; the prompt still comes from the 4
    sampled ones, and frame 0 (decoded from the prompt alone) is the same
    as without propagation (to float rounding: resizing 20 rather than 4
    frames' logits at once vectorises differently)."""
    mp4 = str(tmp_path / 'clip_5fps.mp4')
    write_clip_video(setup['clip'], mp4, fps=5, lossless=True)
    texts = setup['texts'][:1]
    result = setup['inferencer'](mp4, texts, propagate=True)
    assert result['sampled'] == [0, 5, 10, 15]
    np.testing.assert_allclose(result['frame_times'],
                               np.arange(20) / 5, atol=1e-3)
    pred = result['predictions'][0]
    assert pred['masks'].shape == pred['logits'].shape == (20, 48, 64)
    ref = setup['reference'][0].seg_logits.data.numpy()
    np.testing.assert_allclose(pred['logits'][0], ref[0], atol=1e-6)
    np.testing.assert_array_equal(
        pred['masks'][0], setup['reference'][0].pred_sem_seg.data[0])
    sampled = setup['inferencer'](mp4, texts)
    assert sampled['frame_times'] == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_array_equal(sampled['predictions'][0]['logits'], ref)


def test_start_selects_the_clip_window(setup):
    result = setup['inferencer'](setup['mp4'], setup['texts'][:1], start=1)
    assert result['frame_times'] == [1.0, 2.0, 3.0]
    assert result['clip_seconds'] == 3
    assert result['predictions'][0]['masks'].shape == (3, 48, 64)


def test_out_dir_writes_the_demo_outputs(setup, tmp_path):
    out = str(tmp_path / 'out')
    result = setup['inferencer'](setup['mp4'], setup['texts'][:2],
                                 out_dir=out, return_vis=True)
    files = result['visualization']['outputs']
    assert osp.isfile(files['overlay']) and osp.isfile(files['summary'])
    with av.open(files['overlay']) as container:
        assert container.streams.audio
        assert sum(1 for _ in container.decode(video=0)) == T
    drawn = result['visualization']['frames']
    assert len(drawn) == T and drawn[0].shape[0] >= 360


@pytest.mark.parametrize('texts,match', [
    ([], 'at least one expression'),
    (['the red square', '  '], 'expression 1 is empty'),
])
def test_empty_expressions_are_refused(setup, texts, match):
    with pytest.raises(ValueError, match=match):
        setup['inferencer'](setup['mp4'], texts)


def test_unreadable_or_missing_video(setup, tmp_path):
    bad = tmp_path / 'broken.mp4'
    bad.write_bytes(b'this is not a video' * 10)
    with pytest.raises(MediaError, match='broken.mp4: cannot open'):
        setup['inferencer'](str(bad), ['the red square'])
    with pytest.raises(MediaError, match='does not exist'):
        setup['inferencer'](str(tmp_path / 'nothing.mp4'), ['x'])
    with pytest.raises(MediaError, match='no audio track'):
        setup['inferencer'](np.zeros((T, 8, 8, 3), np.uint8), ['x'])


def test_checkpoint_of_another_model_names_the_keys(setup, tmp_path):
    state = torch.load(setup['ckpt'], weights_only=True)['state_dict']
    missing = sorted(k for k in state if k.startswith('neck.'))[0]
    del state[missing]
    state['neck.extra.weight'] = torch.zeros(2)
    proj = 'decode_head.prompt_proj.0.weight'
    state[proj] = torch.zeros(3, 3)
    path = str(tmp_path / 'other.pth')
    torch.save({'state_dict': state, 'meta': {}}, path)
    with pytest.raises(CheckpointMismatchError) as info:
        RefAVSInferencer(CONFIG, path, device='cpu', show_progress=False)
    message = str(info.value)
    assert path in message and CONFIG in message
    assert '1 missing key(s) (in the model, not in the checkpoint): ' \
        f'{missing}' in message
    assert '1 unexpected key(s) (in the checkpoint, not in the model): ' \
        'neck.extra.weight' in message
    assert f'{proj} (checkpoint (3, 3), model (128, 32))' in message


def test_component_weight_files_are_not_needed_with_a_checkpoint(setup):
    """A config that names a SAM2 .pt (stage 2 on top of stage 1) builds
    without that file: the checkpoint holds every weight."""
    cfg = Config.fromfile(CONFIG)
    cfg.model.decode_head.checkpoint = '/nowhere/sam2_stage1.pt'
    inferencer = RefAVSInferencer(cfg, setup['ckpt'], device='cpu',
                                  show_progress=False)
    assert inferencer.cfg.model.decode_head.checkpoint is None
    assert_same(inferencer(setup['mp4'], setup['texts'][:1]),
                setup['reference'][:1])


# ---------------------------------------------------------------- bad input
def test_a_truncated_wav_is_padded_with_a_warning(setup, tmp_path):
    """A WAV whose header says 4 s but that holds 1000 bytes: the sound is
    padded with silence, and the output says so."""
    with open(osp.join(setup['clip'], 'audio.wav'), 'rb') as f:
        data = f.read()
    cut = tmp_path / 'cut.wav'
    cut.write_bytes(data[:1000])
    out = str(tmp_path / 'out')
    result = setup['inferencer'](setup['mp4'], setup['texts'][:1],
                                 audio=str(cut), out_dir=out)
    warning = result['warnings'][-1]
    assert re.fullmatch(
        rf'{cut}: the sound lasts 0\.03 s from 0 s, the clip {T} s: padded '
        r'with 3\.97 s of silence \(the file is truncated: its header says '
        rf'{T} s\)', warning), warning
    with open(osp.join(out, 'predictions.json')) as f:
        assert json.load(f)['warnings'] == result['warnings']


def test_nan_audio_is_refused(setup, tmp_path):
    nan = np.full(T * 16000, np.nan, np.float32)
    with pytest.raises(MediaError, match=r'<samples in memory>: the sound '
                       rf'holds {T * 16000} NaN or infinite sample\(s\)'):
        setup['inferencer'](setup['mp4'], setup['texts'][:1],
                            audio=(nan, 16000))
    path = str(tmp_path / 'nan.wav')
    soundfile.write(path, nan, 16000, subtype='FLOAT')
    with pytest.raises(MediaError, match=f'{path}: the sound holds'):
        setup['inferencer'](setup['mp4'], setup['texts'][:1], audio=path)


@pytest.mark.parametrize('frames,ends', [(1, 0.04), (12, 0.48)])
def test_a_video_shorter_than_a_frame_gives_one_frame_and_a_warning(
        setup, tmp_path, frames, ends):
    """A 1-frame and a 0.48 s video (25 fps): one frame, as documented,
    and warnings (video and sound shorter than the clip) in the result
    and in predictions.json, also when streamed."""
    frame = load_frames([osp.join(setup['clip'], 'frames', '0.jpg')])[0]
    wav, rate = decode_audio(osp.join(setup['clip'], 'audio.wav'))
    path = str(tmp_path / 'short.mp4')
    write_video(path, [frame] * frames, 25, wav[:int(rate * ends)], rate)
    inferencer = setup['inferencer']
    for stream in (False, True):
        out = str(tmp_path / f'out_{stream}')
        result = inferencer(path, setup['texts'][:1], stream=stream,
                            out_dir=out)
        assert result['predictions'][0]['masks'].shape == (1, 48, 64)
        video_warning, audio_warning = result['warnings']
        assert video_warning == (
            f'{path}: the video ends at {ends:g} s: the clip has 1 of the '
            f"model's {inferencer.num_frames} frames (from 0 s)")
        assert audio_warning.startswith(f'{path}: the sound lasts 0.')
        assert 'padded with 0.' in audio_warning
        with open(osp.join(out, 'predictions.json')) as f:
            assert json.load(f)['warnings'] == result['warnings']


@pytest.mark.parametrize('kwargs,match', [
    (dict(stream=True, start=2, end=1),
     r'end must be a time after start \(2 s\), got 1'),
    (dict(stream=True, start=2, end=2),
     r'end must be a time after start \(2 s\), got 2'),
    (dict(end=3), 'end is used only with stream=True'),
    (dict(start=-1), r'start must be a time >= 0 \(s\), got -1'),
    (dict(start=float('nan')), 'start must be a time >= 0'),
])
def test_a_bad_time_window_is_refused(setup, kwargs, match):
    with pytest.raises(ValueError, match=match):
        setup['inferencer'](setup['mp4'], setup['texts'][:1], **kwargs)
    if kwargs.get('stream'):
        with pytest.raises(ValueError, match=match):
            next(setup['inferencer'].stream(
                setup['mp4'], setup['texts'][:1], start=kwargs['start'],
                end=kwargs['end']))


@pytest.mark.parametrize('texts,match', [
    (None, r'texts must be an expression \(str\) or a list of them, got '
     'NoneType'),
    (3, 'got int'),
    (b'the cat', 'texts must be str, not bytes: decode them first'),
    (['the cat', 7], r'expression 1 is of type int \(7\), not str'),
    ([b'the cat'], r"expression 0 is bytes \(b'the cat'\), not str"),
])
def test_expressions_of_another_type_are_named(setup, texts, match):
    with pytest.raises(TypeError, match=match):
        setup['inferencer'](setup['mp4'], texts)


@pytest.mark.parametrize('rate', [0, -16000, 16000.5, float('nan'), None])
def test_a_bad_sample_rate_is_named(setup, rate):
    samples = np.zeros(T * 16000, np.float32)
    with pytest.raises(ValueError, match='the audio sample rate must be a '
                       f'positive whole number of Hz, got {rate!r}'):
        setup['inferencer'](setup['mp4'], setup['texts'][:1],
                            audio=(samples, rate))
    with pytest.raises(TypeError, match=r'audio must be a file or \(samples, '
                       r'sample_rate\), got tuple'):
        setup['inferencer'](setup['mp4'], setup['texts'][:1],
                            audio=(samples, 16000, 1))


def test_an_unreadable_audio_file_is_called_audio(setup, tmp_path):
    bad = tmp_path / 'notes.wav'
    bad.write_bytes(b'this is not a sound file' * 10)
    with pytest.raises(MediaError) as info:
        setup['inferencer'](setup['mp4'], setup['texts'][:1], audio=str(bad))
    message = str(info.value)
    assert message.startswith(f'{bad}: cannot read the audio file: cannot '
                              'decode audio (')
    assert 'FFmpeg: cannot open the file to read its sound' in message
    assert 'video' not in message and 'BytesIO' not in message


def test_a_start_after_the_frames_names_the_folder(setup):
    frames = osp.join(setup['clip'], 'frames')
    with pytest.raises(MediaError, match=f'{frames}: the {T} frames at 1.0 fps '
                       'end before start=9 s'):
        setup['inferencer'](setup['clip'], setup['texts'][:1], start=9)
    with pytest.raises(MediaError, match='the video ends before start=9'):
        setup['inferencer'](setup['mp4'], setup['texts'][:1], start=9)


def test_a_missing_config_is_named(tmp_path):
    missing = str(tmp_path / 'no_such_config.py')
    with pytest.raises(FileNotFoundError,
                       match=f'config {missing} does not exist'):
        RefAVSInferencer(missing, device='cpu', show_progress=False)


@pytest.mark.parametrize('content,match', [
    (b'a text file, not a checkpoint\n', 'is not a readable torch file'),
    (b'', r'is empty \(0 bytes\)')])
def test_a_bad_checkpoint_fails_before_the_model_is_built(
        tmp_path, monkeypatch, content, match):
    import sam2love.apis.inferencer as module

    def build(*args, **kwargs):
        raise AssertionError('the model was built before the checkpoint '
                             'was read')

    monkeypatch.setattr(module.MODELS, 'build', build)
    path = tmp_path / 'notes.pth'
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=f'checkpoint {path} {match}'):
        RefAVSInferencer(CONFIG, str(path), device='cpu',
                         show_progress=False)
