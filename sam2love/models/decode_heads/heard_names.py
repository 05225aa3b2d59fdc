"""Is the sound heard made by an object on screen? Each loud second's
sound named with the names check's words, and the names looked for on
screen.

:class:`~.sound_on_screen.SoundOnScreen` asks whether something on screen
is *active* while the sound is loud; a clip whose sounding object shows no
activity cue (about one sound-asking clip in 30 on the synthetic set, and
any real clip whose instrument barely moves) reads as a mismatched one.
Naming whole categories from their sound does not carry over to unseen
colour-shape pairs (docs/presence.md), but a category's sound is made of
parts, as its name is: on the synthetic set the pitch comes from the
colour and the timbre from the shape (``categories.py``). :class:`HeardNames`
reads one word of each group from each loud second: a colour word from
where the sound's partials sit on a log-frequency axis, any other word
(the shape) from their pattern wherever it sits (a convolution along the
axis, max-pooled over it: the same pattern a fifth higher is the same
word). A clip's sound is matched to the scene through the names check: the
chance that an object on screen carries the words heard, averaged over
the loud seconds.

It learns from what ``metadata.csv`` gives: each loud second of a clip's
own sound is made by one of the objects its ordinary rows refer to (their
uids' categories), which one unknown: the loss is that of the set
(``-log`` of the probability given to the clip's categories together).
"""
from collections.abc import Sequence

import torch
import torch.nn as nn
import torchaudio
from mmseg.registry import MODELS

from ...datasets.null_negatives import words
from .names_on_screen import COLOUR_WORDS, category_word_indices
from .sound_on_screen import loud_seconds


def log_frequency_bank(num_fft_bins: int, sample_rate: int, f_min: float,
                       f_max: float, bins_per_octave: int) -> torch.Tensor:
    """(F, num_fft_bins) triangular filters centred on log-spaced
    frequencies, each at least two FFT bins wide and summing to 1 (a
    partial weighs the same wherever it falls)."""
    octaves = torch.log2(torch.tensor(f_max / f_min))
    count = int(octaves * bins_per_octave) + 1
    centres = f_min * 2 ** (torch.arange(count) / bins_per_octave)
    fft = torch.linspace(0, sample_rate / 2, num_fft_bins)
    step = fft[1] - fft[0]
    half = torch.maximum(centres * (2 ** (1 / bins_per_octave) - 1),
                         2 * step)
    bank = (1 - (fft[None] - centres[:, None]).abs() / half[:, None]
            ).clamp(min=0)
    return bank / bank.sum(1, keepdim=True)


def shifted(rows: torch.Tensor, shift: torch.Tensor, fill: float
            ) -> torch.Tensor:
    """(N, F) rows, each moved along F by its ``shift`` (N, 1) ints,
    ``fill`` let in."""
    bands = rows.size(1)
    source = torch.arange(bands, device=rows.device)[None] - shift
    inside = (source >= 0) & (source < bands)
    return torch.where(inside, rows.gather(1, source.clamp(0, bands - 1)),
                       rows.new_full((), fill))


@MODELS.register_module()
class HeardNames(nn.Module):
    """Per loud second of a clip's sound, a colour word and another word
    of the vocabulary; per clip, how much what is heard is on screen.

    The seconds' power spectra (mean over the frames of a second), on
    ``bins_per_octave`` log-spaced bands from ``f_min`` to ``f_max`` in
    dB under the second's loudest band, go through a 1-D CNN along
    frequency (a receptive field of 61 bands: five octaves at 12 an
    octave). ``n_fft`` is long (8192 points, 2 Hz bins at 16 kHz) so that
    a band stays wider than a partial's peak down to ``f_min``: a pattern
    of partials then looks the same at every pitch. The other words are
    read from the CNN's features max-pooled over frequency (wherever the
    pattern sits); the colour words from where along it they respond (a
    linear read-out of each band's score). The two are heard
    independently: a second with two sounds at once is named by their
    crossings too (docs/presence.md).

    Args:
        vocabulary (Sequence[str]): the names check's words; those in
            :data:`~.names_on_screen.COLOUR_WORDS` (may be none: one word
            a category) and the others.
        sample_rate (int): of the waveforms (``LoadClipAudio``'s).
        n_fft, hop_length (int): the spectrogram's.
        f_min, f_max (float): the bands' range (Hz).
        bins_per_octave (int): bands an octave.
        width (int): channels of the CNN.
        floor_db (float): depth under the loudest band kept (dB).
        pitch_shift (float): largest shift (octaves) of the spectra the
            other words are learnt from.
        loud_floor, loud_rel (float): the loud seconds
            (:func:`~.sound_on_screen.loud_seconds`).
        seed (int): of the shifts' random numbers.
    """

    def __init__(self, vocabulary: Sequence[str], sample_rate: int = 16000,
                 n_fft: int = 8192, hop_length: int = 2048,
                 f_min: float = 100.0, f_max: float = 7000.0,
                 bins_per_octave: int = 12, width: int = 32,
                 floor_db: float = 60.0, pitch_shift: float = 0.6,
                 loud_floor: float = 0.01, loud_rel: float = 0.1,
                 seed: int = 0) -> None:
        super().__init__()
        vocabulary = sorted({str(w).lower() for w in vocabulary})
        self.colours = tuple(w for w in vocabulary if w in COLOUR_WORDS)
        self.others = tuple(w for w in vocabulary if w not in COLOUR_WORDS)
        if not self.others or any(words(w) != {w} for w in vocabulary):
            raise ValueError('HeardNames: vocabulary must be single words, '
                             f'some of them not colour words, got '
                             f'{vocabulary!r}')
        if not 0 < f_min < f_max <= sample_rate / 2:
            raise ValueError(f'HeardNames: bands from f_min {f_min} to '
                             f'f_max {f_max} Hz must lie under half the '
                             f'sample rate ({sample_rate} Hz)')
        self.sample_rate = sample_rate
        self.floor_db = floor_db
        self.max_shift = int(round(pitch_shift * bins_per_octave))
        # the shifts' own random numbers: the other checks trained beside
        # this one draw theirs as they would without it
        self.shifts = torch.Generator().manual_seed(seed)
        self.loud_floor, self.loud_rel = loud_floor, loud_rel
        self.spectrogram = torchaudio.transforms.Spectrogram(
            n_fft=n_fft, hop_length=hop_length, power=2.0)
        self.register_buffer('bank', log_frequency_bank(
            n_fft // 2 + 1, sample_rate, f_min, f_max, bins_per_octave),
            persistent=False)
        layers, channels = [], 1
        for dilation in (1, 2, 4, 8):
            layers += [nn.Conv1d(channels, width, 5, padding=2 * dilation,
                                 dilation=dilation), nn.ReLU(inplace=True)]
            channels = width
        self.trunk = nn.Sequential(*layers)
        self.other_head = nn.Linear(width, len(self.others))
        self.colour_score = nn.Conv1d(width, 1, 1)
        self.colour_head = nn.Linear(self.bank.size(0), len(self.colours)) \
            if self.colours else None

    # ------------------------------------------------------------ hearing
    def seconds(self, audio: torch.Tensor, num_seconds: int) -> tuple:
        """(B, L) waveforms of ``num_seconds`` seconds -> the seconds'
        spectra (B, T, F), 1 + dB under each second's loudest band over
        ``floor_db`` (in [0, 1]: a band ``floor_db`` or more under it is
        0, as the CNN's zero padding past the bands is: nothing heard
        there), and the loud seconds (B, T) bool."""
        loud = loud_seconds(audio, num_seconds, self.loud_floor,
                            self.loud_rel)
        size = audio.size(1) // num_seconds
        parts = audio.float()[:, :size * num_seconds].view(
            len(audio), num_seconds, size)
        power = self.spectrogram(parts).mean(-1)  # (B, T, K)
        db = 10 * torch.log10(power @ self.bank.T + 1e-12)
        db = db - db.amax(-1, keepdim=True)
        return (1 + db / self.floor_db).clamp(min=0), loud

    def log_probs(self, spectra: torch.Tensor) -> torch.Tensor:
        """(N, F) spectra -> (N, C, O) log-probabilities of each colour
        word and other word heard together (C = 1 without colour words):
        the colour words' and the others' log-probabilities summed.

        While training, the others are read from the spectra shifted by
        up to ``pitch_shift`` octaves (bands past the axis silent): where
        every category has its own pitch, the CNN, which sees the axis's
        ends, could otherwise name a shape from the pitch train pairs it
        with and not from the partials' pattern.
        """
        spectra = spectra.float()
        feats = self.trunk(spectra[:, None])  # (N, W, F)
        seen = feats
        if self.training and self.max_shift:
            shift = torch.randint(-self.max_shift, self.max_shift + 1,
                                  (len(spectra), 1), generator=self.shifts
                                  ).to(spectra.device)
            seen = self.trunk(shifted(spectra, shift, 0.0)[:, None])
        others = self.other_head(seen.amax(-1)).log_softmax(-1)  # (N, O)
        if self.colour_head is None:
            return others[:, None]
        score = self.colour_score(feats)[:, 0]  # (N, F)
        colours = self.colour_head(score).log_softmax(-1)  # (N, C)
        return colours[:, :, None] + others[:, None]

    def heard(self, audio: torch.Tensor, num_seconds: int) -> tuple:
        """(B, L) waveforms -> probabilities (B, T, C, O) of each colour
        word and other word heard together in each second (C = 1 without
        colour words), and the loud seconds (B, T)."""
        spectra, loud = self.seconds(audio, num_seconds)
        probs = self.log_probs(spectra.flatten(0, 1)).exp()
        return probs.view(*loud.shape, *probs.shape[1:]), loud

    # ------------------------------------------------------------ naming
    def category_words(self, category: str) -> tuple:
        """(colour index or None, other index) of a category.

        Raises:
            ValueError: it is not one word of the others and, where the
                vocabulary has colour words, one of those.
        """
        return category_word_indices('HeardNames', category, self.colours,
                                     self.others)

    def names(self) -> list[str]:
        """Every category the vocabulary can name, ``'<colour> <other>'``
        (colour-major; the others alone without colour words)."""
        if not self.colours:
            return list(self.others)
        return [f'{c} {o}' for c in self.colours for o in self.others]

    def match(self, audio: torch.Tensor, num_seconds: int,
              on_screen: torch.Tensor) -> torch.Tensor:
        """How much of what each clip sounds like is on screen.

        Args:
            audio (Tensor): (B, L) waveforms.
            num_seconds (int): T.
            on_screen (Tensor): (B, N) probability that an object of each
                clip shows each of :meth:`names` (the names check's).

        Returns:
            Tensor: (B,) the mean over the loud seconds of the chance that
            the words heard are an object's on screen (0 where no second
            is loud).
        """
        probs, loud = self.heard(audio, num_seconds)
        grid = on_screen.float().view(len(audio), *probs.shape[2:])
        per_second = torch.einsum('btco,bco->bt', probs, grid)
        count = loud.sum(1)
        return (per_second * loud).sum(1) / count.clamp(min=1)

    # ---------------------------------------------------------- learning
    def loss(self, audio: torch.Tensor, num_seconds: int,
             categories: Sequence[Sequence[str]]) -> torch.Tensor:
        """Each loud second is made by one of its clip's categories: minus
        the log of the probability the namer gives them together.

        Args:
            audio (Tensor): (B, L) each clip's own waveform.
            num_seconds (int): T.
            categories (Sequence[Sequence[str]]): each clip's referred
                objects' categories (empty: the clip is not learnt from).
        """
        return self.spectra_loss(*self.seconds(audio, num_seconds),
                                 categories)

    def spectra_loss(self, spectra: torch.Tensor, loud: torch.Tensor,
                     categories: Sequence[Sequence[str]]) -> torch.Tensor:
        """:meth:`loss` of the seconds' spectra (B, T, F) and loud
        seconds (B, T) (:meth:`seconds`)."""
        keep = loud & torch.tensor([len(c) > 0 for c in categories],
                                   device=loud.device)[:, None]
        if not keep.any():  # nothing to learn from: a zero that keeps
            return sum(p.sum() * 0 for p in self.parameters())  # the graph
        rows = keep.nonzero()[:, 0]
        log_probs = self.log_probs(spectra[keep])  # (N, C, O)
        loss = []
        for n, row in enumerate(rows.tolist()):
            pairs = sorted({self.category_words(c) for c in categories[row]},
                           key=str)
            terms = torch.stack([log_probs[n, c or 0, o] for c, o in pairs])
            loss.append(-torch.logsumexp(terms, 0))
        return torch.stack(loss).mean()
