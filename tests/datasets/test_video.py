"""Video reading with PyAV: sampling at the clip rate, audio tracks,
other containers (the videos written with ``write_video``)."""
import numpy as np
import pytest
import soundfile

from sam2love.datasets import MediaError, fit_clip_audio, load_clip_audio
from sam2love.datasets.transforms import (
    LoadClipAudioFromNDArray,
    LoadClipFramesFromNDArray,
)
from sam2love.datasets.video import (
    FrameSampler,
    read_audio_track,
    read_video_frames,
    sample_frame_list,
)
from sam2love.datasets.video_writer import write_video


def frames_of(n, h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def run_sampler(times, **kwargs):
    sampler = FrameSampler(**kwargs)
    for t in times:
        if not sampler.push(t, t):
            break
    else:
        sampler.finish(times[-1] + (times[1] - times[0]))
    return [sampler.frames[i] for i in sampler.sampled], sampler.frames


@pytest.mark.parametrize('times,kwargs,expected', [
    # 25 fps: the frame shown at second i is the one stamped i
    (np.arange(250) / 25, dict(num_frames=10), list(range(10))),
    # 29.97 fps: frames never fall on whole seconds; the last one before
    (np.arange(300) * 1001 / 30000, dict(num_frames=3),
     [0.0, 29 * 1001 / 30000, 59 * 1001 / 30000]),
    # 0.5 fps: a frame is shown for two sampling times
    (np.arange(5) * 2.0, dict(num_frames=4), [0.0, 0.0, 2.0, 2.0]),
    # a 4 s video gives 4 frames, not 10
    (np.arange(4.0), dict(num_frames=10), [0.0, 1.0, 2.0, 3.0]),
    # start inside a frame's display
    (np.arange(100) / 10, dict(num_frames=2, start=2.55), [2.5, 3.5]),
])
def test_frame_sampler_picks_the_frame_shown(times, kwargs, expected):
    sampled, _ = run_sampler(list(times), **kwargs)
    np.testing.assert_allclose(sampled, expected)


def test_frame_sampler_keeps_the_window_when_asked():
    _, kept = run_sampler(list(np.arange(250) / 25), num_frames=3, start=1,
                          keep_all=True)
    np.testing.assert_allclose(kept, np.arange(25, 100) / 25)


def test_read_errors_name_the_file(tmp_path):
    bad = tmp_path / 'bad.mkv'
    bad.write_bytes(b'\x00' * 1000)
    with pytest.raises(MediaError, match='bad.mkv: cannot open the video'):
        read_video_frames(str(bad), 10)
    silent = str(tmp_path / 'silent.mp4')
    write_video(silent, frames_of(2), 1)
    with pytest.raises(MediaError, match='silent.mp4: holds no audio track'):
        read_audio_track(silent)
    with pytest.raises(MediaError, match='ends before start'):
        read_video_frames(silent, 10, start=5)


def test_in_memory_frames_sample_like_a_video():
    frames = frames_of(8)
    clip = sample_frame_list(frames, fps=2, num_frames=3)
    assert clip.times == [0.0, 1.0, 2.0] and clip.sampled == [0, 1, 2]
    assert all(a is b for a, b in zip(clip.sampled_frames, frames[::2]))
    every = sample_frame_list(frames, fps=2, num_frames=3, all_frames=True)
    assert every.times == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]  # [0, 3 s)
    assert every.sampled == [0, 2, 4]


def test_in_memory_transforms_match_the_file_loaders(tmp_path):
    """A track fitted in memory is the dataset's fitted wav; frames of
    mixed sizes are refused."""
    rng = np.random.default_rng(0)
    samples = rng.uniform(-0.5, 0.5, (44100 * 3, 2)).astype(np.float32)
    path = str(tmp_path / 'a.wav')
    soundfile.write(path, samples, 44100, subtype='FLOAT')
    from_file, fix = load_clip_audio(path, 4.0)
    results = LoadClipAudioFromNDArray()(dict(
        raw_audio=samples, raw_audio_sample_rate=44100, clip_seconds=4.0))
    np.testing.assert_array_equal(results['audio'], from_file)
    assert results['audio_fix'] == fix.to_dict()
    assert fix.resampled and fix.downmixed and fix.padded_samples > 0
    assert np.array_equal(fit_clip_audio(samples, 44100, 4.0)[0], from_file)
    out = LoadClipFramesFromNDArray()(dict(frames=np.stack(frames_of(3))))
    assert out['ori_shape'] == (24, 32) and len(out['frames']) == 3
    with pytest.raises(ValueError, match='frame 1 is 16x24'):
        LoadClipFramesFromNDArray()(dict(
            frames=[frames_of(1)[0], frames_of(1, 24, 16)[0]]))


@pytest.mark.parametrize('ext', ['mkv', 'mov', 'avi'])
def test_other_containers_sample_the_same_frames(tmp_path, ext):
    """AVI stores B-frames with decode-order timestamps: they are put back
    in presentation order."""
    frames = [np.full((48, 64, 3), 60 * (i // 10), np.uint8)
              for i in range(30)]
    path = str(tmp_path / f'clip.{ext}')
    tone = np.zeros(48000 * 3, np.float32)
    write_video(path, frames, 10, tone, 48000)
    video = read_video_frames(path, num_frames=10, all_frames=True)
    np.testing.assert_allclose(video.times, np.arange(30) / 10, atol=1e-6)
    assert [int(round(video.frames[i].mean())) for i in video.sampled] == \
        pytest.approx([0, 60, 120], abs=2)
    track, rate = read_audio_track(path, video.origin, 3.0)
    assert rate == 48000 and len(track) >= 48000 * 2.9
