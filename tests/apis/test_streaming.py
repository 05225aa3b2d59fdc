"""Streaming to the video's end: the clip window's masks, a bounded
memory bank, files written frame by frame, K expressions in one pass."""
import json
import os
import os.path as osp

import av
import cv2
import numpy as np
import pytest
import torch
from inference_helpers import (
    CONFIG,
    OBJ_SCORE_BIAS,
    build_tiny_model,
    clip_dir_of,
    make_tiny_tree,
    save_checkpoint,
    tiny_dataset,
)

from sam2love.apis import RefAVSInferencer
from sam2love.apis.outputs import rle_to_mask
from sam2love.datasets.audio import decode_audio
from sam2love.datasets.media import load_frames
from sam2love.datasets.video import write_video
from sam2love.models.sam2 import memory_window

FPS = 5
SECONDS = 8  # the tiny clip (4 s) twice: the stream outlasts the window
WINDOW = 4  # frames of the prompt window, one a second


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('streaming')
    root = make_tiny_tree(str(tmp / 'tree'))
    model = build_tiny_model()
    ckpt = save_checkpoint(model, str(tmp / 'tiny.pth'))
    dataset = tiny_dataset(root)
    clip = clip_dir_of(dataset[0])
    texts = [dataset.get_data_info(i)['text'] for i in range(3)]
    frames = load_frames([osp.join(clip, 'frames', f'{i}.jpg')
                          for i in range(4)])
    wav, rate = decode_audio(osp.join(clip, 'audio.wav'))
    mp4 = str(tmp / 'long.mp4')
    write_video(mp4, [f for f in frames * 2 for _ in range(FPS)], FPS,
                np.concatenate([wav, wav]), rate, lossless=True)
    inferencer = RefAVSInferencer(CONFIG, ckpt, device='cpu',
                                  show_progress=False, num_frames=WINDOW)
    return dict(tmp=tmp, mp4=mp4, texts=texts, inferencer=inferencer,
                model=inferencer.model)


def test_stream_equals_propagate_over_the_clip_window(setup):
    """The first 4 s of the stream are the windowed path's 20 frames."""
    inferencer, texts = setup['inferencer'], setup['texts'][:2]
    window = inferencer(setup['mp4'], texts, propagate=True)
    streamed = list(inferencer.stream(setup['mp4'], texts))
    assert len(streamed) == SECONDS * FPS
    n = len(window['frame_times'])
    assert n == WINDOW * FPS
    np.testing.assert_allclose([o['time'] for o in streamed[:n]],
                               window['frame_times'], atol=1e-6)
    assert [o['index'] for o in streamed if o['sampled']] == \
        window['sampled']
    for k, pred in enumerate(window['predictions']):
        masks = np.stack([o['masks'][k] for o in streamed[:n]])
        logits = np.stack([o['logits'][k] for o in streamed[:n]])
        np.testing.assert_array_equal(masks, pred['masks'])
        np.testing.assert_allclose(logits, pred['logits'], atol=1e-5)
        np.testing.assert_allclose(
            [o['object_scores'][k] for o in streamed[:n]],
            pred['object_scores'], atol=1e-5)
    assert 0 < np.mean([o['masks'].mean() for o in streamed]) < 1
    held = [o['memory_frames'] for o in streamed]
    sam = inferencer.model.decode_head.sam
    assert max(held) == memory_window(sam) + 1 < len(streamed)


def test_memory_bank_is_bounded_and_pruning_changes_nothing(setup):
    """40 frames tracked one at a time keep at most memory_window + 1
    outputs in SAM2's bank, and give track_clip's logits (which keeps all
    40): what is pruned is never read."""
    model = setup['model']
    head = model.decode_head
    torch.manual_seed(0)
    prompt = torch.randn(1, 1, head.prompt_proj[0].in_features)
    frames = torch.randn(1, SECONDS * FPS, 3, 128, 128)
    with torch.no_grad():
        reference = head.predict(prompt, frames)[0]
    outs = list(head.track(prompt, frames[0], num_frames=SECONDS * FPS))
    logits = torch.stack([o['logits'][0] for o in outs])
    window = memory_window(head.sam)
    assert window < SECONDS * FPS - 1
    assert max(o['memory_frames'] for o in outs) == window + 1
    torch.testing.assert_close(logits, reference, atol=1e-5, rtol=0)


def test_streamed_call_writes_every_frame(setup, tmp_path):
    inferencer, texts = setup['inferencer'], setup['texts'][:2]
    out = str(tmp_path / 'png')
    result = inferencer(setup['mp4'], texts, stream=True, out_dir=out)
    frames = SECONDS * FPS
    assert result['num_frames'] == len(result['frame_times']) == frames
    assert result['mask_frames'] == [0, 5, 10, 15]
    files = result['visualization']['outputs']
    with av.open(files['overlay']) as container:
        assert container.streams.audio
        assert sum(1 for _ in container.decode(video=0)) == frames
    with open(files['summary']) as f:
        summary = json.load(f)
    assert summary['num_frames'] == frames
    for k, pred in enumerate(result['predictions']):
        folder = files['masks'][k]
        assert len(os.listdir(folder)) == frames
        assert pred['object_scores'].shape == (frames,)
        assert pred['masks'].shape == (WINDOW, 48, 64)
        first = cv2.imread(osp.join(folder, '00000.png'), 0) > 0
        np.testing.assert_array_equal(first, pred['masks'][0] > 0)
        assert summary['expressions'][k]['frames_with_object'] == \
            pred['frames_with_object']
    rle = str(tmp_path / 'rle')
    ended = inferencer(setup['mp4'], texts, stream=True, end=6,
                       out_dir=rle, masks_format='rle', overlay=False)
    assert ended['num_frames'] == 6 * FPS
    with open(osp.join(rle, 'masks.jsonl')) as f:
        lines = [json.loads(line) for line in f]
    assert [line['frame'] for line in lines] == list(range(6 * FPS))
    for line in lines[::7]:
        for k, folder in enumerate(files['masks']):
            png = cv2.imread(osp.join(folder, f'{line["frame"]:05d}.png'), 0)
            np.testing.assert_array_equal(rle_to_mask(line['masks'][k]),
                                          png > 0)
    assert not osp.exists(osp.join(rle, 'overlay.mp4'))


def test_k_expressions_in_one_pass_equal_k_single_runs(setup):
    """Three expressions share the encoders and SAM2's image encoder and
    are tracked as one batch: the same masks as three separate runs."""
    inferencer, texts = setup['inferencer'], setup['texts']
    together = list(inferencer.stream(setup['mp4'], texts, end=3))
    for k, text in enumerate(texts):
        alone = list(inferencer.stream(setup['mp4'], [text], end=3))
        np.testing.assert_allclose(
            np.stack([o['logits'][k] for o in together]),
            np.stack([o['logits'][0] for o in alone]), atol=1e-5)
    windowed = inferencer(setup['mp4'], texts)
    single = [inferencer(setup['mp4'], [t])['predictions'][0] for t in texts]
    for pred, ref in zip(windowed['predictions'], single):
        np.testing.assert_allclose(pred['logits'], ref['logits'], atol=1e-5)
        np.testing.assert_array_equal(pred['masks'], ref['masks'])


def test_stream_reports_bad_input(setup, tmp_path):
    from sam2love.datasets import MediaError
    bad = tmp_path / 'broken.mp4'
    bad.write_bytes(b'not a video' * 10)
    with pytest.raises(MediaError, match='broken.mp4: cannot open'):
        setup['inferencer'](str(bad), ['x'], stream=True)
    with pytest.raises(ValueError, match='does not combine'):
        setup['inferencer'](setup['mp4'], ['x'], stream=True, propagate=True)


@pytest.mark.parametrize('config', [
    'sam2love_tiny-presence_1xb16-stage2-cached_synthetic.py',
    'sam2love_tiny-presence-verify_1xb16-stage3-cached_synthetic.py',
    'sam2love_tiny-presence-scene_1xb16-stage3-cached_synthetic.py',
    'sam2love_tiny-presence-scene-sound-names_1xb16-stage5_synthetic.py'])
@pytest.mark.parametrize('threshold', [1e-6, 1 - 1e-6])
def test_presence_is_applied_as_the_model_applies_it(setup, tmp_path,
                                                     threshold, config):
    """With the head's presence switch (the token's; the checks', which
    read the neck's presence query and frame 0's kept mask or every
    object listed on it) the
    inferencer's windowed and streamed paths give SAM2LOVE.predict's
    presence; a clip found absent (threshold ~1) has empty masks on every
    frame. With the names check (stage 5) the threshold is its own, the
    head's at ~0: the rows it finds absent are emptied the same way."""
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    from sam2love.apis.media import load_clip_media
    cfg = Config.fromfile(osp.join(osp.dirname(CONFIG), config))
    cfg.model.decode_head.checkpoint = None
    cfg.model.decode_head.presence.threshold = threshold
    if 'name_check' in cfg.model:  # (a random names check may say 0.0)
        cfg.model.name_check.threshold = threshold if threshold > 0.5 else 0
        cfg.model.decode_head.presence.threshold = 1e-6
    cfg.test_dataloader.dataset.num_frames = WINDOW
    torch.manual_seed(0)
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model).eval()
    with torch.no_grad():  # real masks, as build_tiny_model
        model.state_dict()[OBJ_SCORE_BIAS].add_(20.0)
    ckpt = save_checkpoint(model, str(tmp_path / 'presence.pth'))
    inferencer = RefAVSInferencer(cfg, ckpt, device='cpu',
                                  show_progress=False, num_frames=WINDOW)
    texts = setup['texts'][:1]
    if 'name_check' in cfg.model:  # an expression it reads (a colour and
        texts = ['The red star.']  # a shape: under 1 whatever it sees)
    windowed = inferencer(setup['mp4'], texts)['predictions'][0]
    media = load_clip_media(setup['mp4'], num_frames=WINDOW)
    packed = inferencer._pack(media, media.video.sampled_frames, texts[0])
    with torch.no_grad():
        ref = inferencer.model.test_step(pseudo_collate([packed]))[0]
    np.testing.assert_allclose(windowed['presence'],
                               ref.pred_presence.numpy(), atol=1e-5)
    np.testing.assert_array_equal(windowed['masks'],
                                  ref.pred_sem_seg.data.numpy())
    every = inferencer(setup['mp4'], texts, propagate=True)['predictions'][0]
    streamed = list(inferencer.stream(setup['mp4'], texts, end=2))
    np.testing.assert_allclose([o['presence'][0] for o in streamed],
                               every['presence'][:2 * FPS], atol=1e-5)
    assert every['presence'][0] == pytest.approx(windowed['presence'][0])
    if threshold > 0.5:
        assert not windowed['masks'].any()
        assert not any(o['masks'].any() for o in streamed)
        assert not any(o['presence'].any() for o in streamed)
    else:
        assert windowed['masks'].any()
    # predictions.json says whether each expression was found; an absent
    # one is marked "not found" in the legend (both paths)
    import json

    from sam2love.visualization.drawing import NOT_FOUND, mark_not_found
    assert mark_not_found(['a', 'b'], [True, False]) == [
        'a', f'b ({NOT_FOUND})']
    for name, kwargs in (('windowed', {}), ('streamed', dict(stream=True,
                                                             end=2))):
        out = inferencer(setup['mp4'], texts, out_dir=str(tmp_path / name),
                         **kwargs)['visualization']['outputs']
        with open(out['summary']) as f:
            expression = json.load(f)['expressions'][0]
        assert expression['found'] == (threshold < 0.5), name
