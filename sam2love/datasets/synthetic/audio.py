"""Sound: category tones, envelopes, the clip's track and who sounds when."""
from functools import cache

import numpy as np

from .categories import CATEGORIES

AUDIO_LEVEL = 0.12  # amplitude of one sound at gain 1 (RMS)
AUDIO_NOISE = 0.003  # background noise (std)


@cache
def category_tone(name: str, sample_rate: int) -> np.ndarray:
    """One second of a category's sound, RMS 1: (sample_rate,) float32.

    Every partial has an integer frequency, so the second loops seamlessly.
    """
    category = CATEGORIES[name]
    f0, timbre = category.pitch_hz, category.timbre
    t = np.arange(sample_rate) / sample_rate
    nyquist = 0.45 * sample_rate
    if timbre == 'noise-band':
        rng = np.random.default_rng(list(CATEGORIES).index(name))
        spectrum = np.fft.rfft(rng.standard_normal(sample_rate))
        freqs = np.fft.rfftfreq(sample_rate, 1 / sample_rate)
        band = ((freqs > 0.85 * f0) & (freqs < 1.18 * f0)) \
            + 0.4 * ((freqs > 1.7 * f0) & (freqs < 2.35 * f0))
        tone = np.fft.irfft(spectrum * band, n=sample_rate)
    else:
        if timbre == 'sine':
            partials = [(1, 1.0), (2, 0.1)]
        elif timbre == 'square':
            partials = [(n, 1 / n) for n in range(1, 16, 2)]
        elif timbre == 'triangle':
            partials = [(n, 1 / n**2) for n in range(1, 16, 2)]
        elif timbre == 'saw':
            partials = [(n, 1 / n) for n in range(1, 9)]
        elif timbre == 'bell':
            partials = [(1, 1.0), (2.76, 0.6), (5.40, 0.4), (8.93, 0.25)]
        else:
            raise ValueError(f'unknown timbre {timbre!r}')
        tone = np.zeros(sample_rate)
        for ratio, amp in partials:
            f = round(f0 * ratio)
            if f < nyquist:
                tone += amp * np.sin(2 * np.pi * f * t)
    return (tone / np.sqrt(np.mean(tone**2))).astype(np.float32)


@cache
def rhythm_envelope(rhythm_hz: int, sample_rate: int) -> np.ndarray:
    """One second of on / off pulses (duty 1/2, 8 ms ramps): (sr,) float32."""
    if rhythm_hz == 0:
        return np.ones(sample_rate, np.float32)
    phase = np.mod(np.arange(sample_rate) * rhythm_hz / sample_rate, 1.0)
    ramp = 0.008 * rhythm_hz  # 8 ms in periods
    env = np.clip(np.minimum(phase, 0.5 - phase) / ramp, 0, 1)
    return env.astype(np.float32)


def gain_envelope(gains: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-second gains (T,) as a sample envelope (T * sr,), 10 ms fades."""
    env = np.repeat(gains.astype(np.float32), sample_rate)
    fade = sample_rate // 100
    previous = 0.0
    for s, g in enumerate(gains):
        if g != previous:
            a = max(0, s * sample_rate - fade // 2)
            env[a:a + fade] = np.linspace(previous, g, fade)
        previous = g
    return env


def synthesize_audio(categories: list, schedule: np.ndarray,
                     sample_rate: int, rng: np.random.Generator
                     ) -> np.ndarray:
    """The clip's sound track: (T * sample_rate,) float32 in [-1, 1].

    Args:
        categories (list): category of each sound source (n,).
        schedule (np.ndarray): (n, T) gain of each source in each second
            (0 = silent).
    """
    num_seconds = schedule.shape[1]
    audio = rng.normal(0, AUDIO_NOISE, num_seconds * sample_rate)
    for category, gains in zip(categories, schedule):
        if not gains.any():
            continue
        c = CATEGORIES[category]
        loop = category_tone(category, sample_rate) \
            * rhythm_envelope(c.rhythm_hz, sample_rate)
        audio += AUDIO_LEVEL * np.tile(loop, num_seconds) \
            * gain_envelope(gains, sample_rate)
    return np.clip(audio, -1, 1).astype(np.float32)


def _segment(rng, num_seconds: int, min_len: int = 1) -> tuple:
    """A random [start, end) second range of at least ``min_len``."""
    min_len = min(min_len, num_seconds)
    length = int(rng.integers(min_len, num_seconds + 1))
    start = int(rng.integers(0, num_seconds - length + 1))
    return start, start + length


def sample_schedule(rng: np.random.Generator, num_objects: int,
                    num_seconds: int, prefer: tuple = ()) -> np.ndarray:
    """Who sounds when and how loud: (n, T) float32 gains.

    Scenarios: ``single`` (one object sounds, all along or for a while),
    ``turns`` (2-3 objects start one after another, in sequence or
    overlapping) and ``together`` (one loud object all along, 1-2 quieter
    ones for a while). ``prefer`` lists objects to pick as the single source
    first (e.g. one of two look-alikes).
    """
    gains = np.zeros((num_objects, num_seconds), np.float32)
    scenario = rng.choice(['single', 'turns', 'together'], p=[.35, .35, .3])
    order = [int(i) for i in rng.permutation(num_objects)]
    if prefer and rng.random() < 0.6:
        scenario = 'single'
        order.remove(prefer[0])
        order.insert(0, prefer[0])
    if scenario == 'single' or num_seconds < 2:
        if rng.random() < 0.5:
            a, b = 0, num_seconds
        else:
            a, b = _segment(rng, num_seconds, max(2, num_seconds // 3))
        gains[order[0], a:b] = rng.uniform(0.5, 1.0)
    elif scenario == 'turns':
        k = min(num_objects, int(rng.choice([2, 3])), num_seconds)
        onsets = np.sort(rng.choice(num_seconds, k, replace=False))
        if rng.random() < 0.5:
            onsets[0] = 0
        sequential = rng.random() < 0.5  # each stops before the next starts
        for j in range(k):
            last = onsets[j + 1] if sequential and j + 1 < k else num_seconds
            end = int(rng.integers(onsets[j] + 1, last + 1))
            gains[order[j], onsets[j]:end] = rng.uniform(0.4, 1.0)
    else:
        k = min(num_objects, 2 + int(rng.random() < 0.3))
        gains[order[0]] = rng.uniform(0.8, 1.0)
        for j in range(1, k):
            a, b = _segment(rng, num_seconds, 2)
            gains[order[j], a:b] = rng.uniform(0.25, 0.45)
    return gains
