"""RefAVSInferencer: an mp4 of a clip gives the data set's masks."""
import os.path as osp

import av
import numpy as np
import pytest
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

from sam2love.apis import CheckpointMismatchError, RefAVSInferencer
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
