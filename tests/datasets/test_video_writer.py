"""sam2love.datasets.video_writer: lossless videos decode to the exact
frames and samples; playable ones keep their timing and sound."""
import numpy as np
import pytest

from sam2love.datasets.video import read_audio_track, read_video_frames
from sam2love.datasets.video_writer import write_video


def test_lossless_round_trip_of_frames_and_16_and_24_bit_audio(tmp_path):
    pixels = np.random.default_rng(0)
    frames = [pixels.integers(0, 256, (23, 31, 3), dtype=np.uint8)
              for _ in range(5)]  # odd sizes stay exact
    rng = np.random.default_rng(1)
    for bits, channels, rate in ((16, 1, 16000), (24, 2, 48000)):
        scale = 2.0 ** (bits - 1)
        audio = (rng.integers(-scale, scale, (rate * 5, channels))
                 / scale).astype(np.float32)
        path = str(tmp_path / f'clip{bits}.mp4')
        assert write_video(path, frames, 1, audio, rate, lossless=True) == 5
        video = read_video_frames(path, num_frames=10)
        assert video.times == [0, 1, 2, 3, 4] and video.fps == 1
        for a, b in zip(video.sampled_frames, frames):
            np.testing.assert_array_equal(a, b)
        track, track_rate = read_audio_track(path)
        assert track_rate == rate
        np.testing.assert_array_equal(track, audio)


def test_playable_video_keeps_timing_and_sound(tmp_path):
    """H.264 4:2:0 + AAC: lossy, but aligned (AAC priming removed)."""
    rate = 16000
    t = np.arange(3 * rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * (t > 1)).astype(np.float32)
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(6)]
    path = str(tmp_path / 'play.mp4')
    write_video(path, [f for f in frames for _ in range(2)], 4, tone, rate)
    video = read_video_frames(path, num_frames=3, all_frames=True)
    assert len(video.frames) == 12 and video.sampled == [0, 4, 8]
    assert [int(video.frames[i].mean()) for i in video.sampled] == \
        pytest.approx([0, 80, 160], abs=3)
    track, _ = read_audio_track(path, 0.0, 3.0)
    onset = np.flatnonzero(np.abs(track[:, 0]) > 0.1)[0] / rate
    assert onset == pytest.approx(1.0, abs=0.01)
    later, _ = read_audio_track(path, 0.5, 1.0, margin=0)
    assert len(later) == rate
    np.testing.assert_allclose(later[:, 0], track[rate // 2:rate * 3 // 2, 0],
                               atol=1e-6)
