"""Is the sound made on screen? Audio-visual synchrony for the presence
check, learnt from the sound alone.

The presence checks hear *that* something sounds, not *what*: naming
which object makes which sound is learnt from the pairs train shows and
does not carry over to unseen pairs (docs/presence.md), so a sound that
nothing on screen makes (a mismatched sound: the release's ``null_c-``
clips) passes for the referent's. Synchrony asks less, and the same of
every object: is something on screen active in the seconds the sound is
loud? :class:`SoundOnScreen` learns a frame's activity from its own
clip's loudness in that second (no annotation) and scores a clip by the
largest activity over its loud seconds. ``SAM2LOVE(sound_check=...)``
then lets the presence check hear silence where the sound is not made on
screen: for the referent, a sound nothing on screen makes is no sound.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

#: what ``SoundOnScreen`` can read of each frame, and its channels: the
#: frame, its difference from the clip's median frame, and the least of
#: that difference over the colour channels (what grew lighter in every
#: colour: a pale ring drawn over the background does, a coloured object
#: moving over it does not), and that least share of the way to white
#: (``whitening``: a ring blended halfway to white reads 0.5 on a dark and
#: on a pale background alike, where its brightening shrinks with the
#: room left above the background; clipped to [-1, 1], what darkened
#: counting as -1 at most)
INPUT_CHANNELS = dict(frame=3, change=3, brightening=1, whitening=1)
#: the least room to white (in 0-255 levels) ``whitening`` divides by: a
#: background near white leaves no room, and the sensor noise would fill it
MIN_ROOM = 16.0
#: ``SoundOnScreen(loss=...)``: :func:`balanced_bce` of every frame, or
#: :func:`loud_clip_bce`
LOSSES = ('frames', 'loud-clip')


def loud_seconds(audio: torch.Tensor, seconds: int, floor: float = 0.01,
                 rel: float = 0.1) -> torch.Tensor:
    """The seconds in which the sound is loud: RMS above ``floor`` and
    above ``rel`` times the clip's loudest second.

    Args:
        audio (Tensor): (B, L) waveforms.
        seconds (int): T, the clip's seconds (one per frame).

    Returns:
        Tensor: (B, T) bool.
    """
    rms = torch.stack([part.float().pow(2).mean(1).sqrt() for part in
                       torch.tensor_split(audio, seconds, dim=1)], 1)
    return (rms > floor) & (rms > rel * rms.amax(1, keepdim=True))


def balanced_bce(logits: torch.Tensor, target: torch.Tensor
                 ) -> torch.Tensor:
    """BCE with the loud and the quiet seconds weighing half each: a
    frame where nothing is active then scores under 0.5 however often the
    sound is loud."""
    share = target.mean().clamp(1e-3, 1 - 1e-3)
    weight = torch.where(target > 0, 0.5 / share, 0.5 / (1 - share))
    return F.binary_cross_entropy_with_logits(logits, target, weight)


def loud_clip_bce(logits: torch.Tensor, loud: torch.Tensor
                  ) -> torch.Tensor:
    """Multiple-instance BCE: a clip's largest activity over its loud
    seconds is pushed up (something on screen makes the sound in at least
    one of them) and every quiet second's down, the two halves weighing
    alike. A loud second that shows nothing active is not pushed up: the
    activity cue is in only some of the sounding seconds, and a frame
    target of 1 for each loud second teaches whatever else those frames
    show (a moving object's edge) to pass for activity.

    Args:
        logits (Tensor): (B, T) activity logits.
        loud (Tensor): (B, T) bool loud seconds.
    """
    sounding = loud.any(1)
    parts = []
    if sounding.any():
        best = logits.masked_fill(~loud, float('-inf')).amax(1)[sounding]
        parts.append(F.binary_cross_entropy_with_logits(
            best, torch.ones_like(best)))
    if (~loud).any():
        quiet = logits[~loud]
        parts.append(F.binary_cross_entropy_with_logits(
            quiet, torch.zeros_like(quiet)))
    return torch.stack(parts).mean()


def sync_scores(activity: torch.Tensor, loud: torch.Tensor
                ) -> torch.Tensor:
    """(B, T) activity probabilities and (B, T) bool loud seconds ->
    (B,) the largest activity over the loud seconds, 0 where none is."""
    return activity.masked_fill(~loud, 0).amax(1)


class SoundOnScreen(nn.Module):
    """Per frame, is something on screen active; per clip, the largest
    activity over the seconds its sound is loud.

    A CNN reads each frame beside its difference from the clip's median
    frame (what changes in the clip: a static background, whose edges can
    pass for activity in a single frame, cancels), or what of it grew
    lighter in every colour (``inputs``), max-pooled twice (a line a pixel
    wide survives a max, not an average) and then dilated (a receptive
    field of about 46 pixels: an arc around an object, not an edge); a
    frame's activity is its largest response.

    Args:
        size (int): side the frames are pooled to (the synthetic set's
            activity cue is a ring a pixel or two wide on 128-pixel
            frames: 128 keeps it whole).
        width (int): channels of the CNN (half of them in its first
            layer).
        loud_floor, loud_rel (float): :func:`loud_seconds`'s.
        loss (str): ``'frames'``, each frame's activity against its
            second's loudness (:func:`balanced_bce`), or ``'loud-clip'``,
            the clip's most active loud second against 1 and its quiet
            seconds against 0 (:func:`loud_clip_bce`: for a cue shown in
            only some of the sounding seconds).
        inputs (tuple[str]): what the CNN reads of each frame, some of
            :data:`INPUT_CHANNELS`: ``'frame'``, ``'change'`` (its
            difference from the clip's median frame), ``'brightening'``
            (the least of that difference over the colours),
            ``'whitening'`` (the least over the colours of that difference
            over the room the median frame leaves to white).
        mean, std (tuple[float], optional): the RGB normalisation of the
            frames, 0-255 scale; ``whitening`` needs them (``SAM2LOVE``
            passes its data preprocessor's).
    """

    def __init__(self, size: int = 128, width: int = 32,
                 loud_floor: float = 0.01, loud_rel: float = 0.1,
                 loss: str = 'frames',
                 inputs: tuple = ('frame', 'change'),
                 mean: tuple | None = None,
                 std: tuple | None = None) -> None:
        super().__init__()
        unknown = set(inputs) - set(INPUT_CHANNELS)
        if unknown or not inputs:
            raise ValueError(f'SoundOnScreen: inputs must be some of '
                             f'{tuple(INPUT_CHANNELS)}, got {inputs!r}')
        self.inputs = tuple(inputs)
        if 'whitening' in self.inputs:
            if mean is None or std is None or len(mean) != 3 \
                    or len(std) != 3:
                raise ValueError('SoundOnScreen: whitening needs the frames\' '
                                 f'RGB mean and std, got {mean!r}, {std!r}')
            mean, std = torch.tensor(mean), torch.tensor(std)
            # in the normalised frames: a white pixel, and MIN_ROOM levels
            self.register_buffer('white', ((255 - mean) / std).view(
                1, 1, 3, 1, 1), persistent=False)
            self.register_buffer('min_room', (MIN_ROOM / std).view(
                1, 1, 3, 1, 1), persistent=False)
        if loss not in LOSSES:
            raise ValueError(f'SoundOnScreen: loss must be one of {LOSSES}, '
                             f'got {loss!r}')
        self.loss_type = loss
        self.size = size
        self.loud_floor, self.loud_rel = loud_floor, loud_rel
        half = max(1, width // 2)
        self.net = nn.Sequential(
            nn.Conv2d(sum(INPUT_CHANNELS[k] for k in self.inputs), half, 3,
                      padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(half, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=2, dilation=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=2, dilation=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 1, 1))

    def channels(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) normalised frames -> (B, T, C, size, size)
        what the CNN reads of each frame (``inputs``, in their order)."""
        b, t = frames.shape[:2]
        x = F.adaptive_avg_pool2d(frames.flatten(0, 1).float(),
                                  self.size).view(b, t, 3, self.size,
                                                  self.size)
        median = x.median(1, keepdim=True).values
        change = x - median
        read = dict(frame=x, change=change)
        if 'brightening' in self.inputs:
            read['brightening'] = change.amin(2, keepdim=True)
        if 'whitening' in self.inputs:
            room = torch.maximum(self.white - median, self.min_room)
            read['whitening'] = (change / room).amin(
                2, keepdim=True).clamp(-1, 1)
        return torch.cat([read[k] for k in self.inputs], 2)

    def activity(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) normalised frames -> (B, T) activity logits."""
        b, t = frames.shape[:2]
        x = self.channels(frames)
        if self.training and torch.rand(()) < 0.5:
            x = x.flip(4)
        return self.net(x.flatten(0, 1)).flatten(1).amax(1).view(b, t)

    def loud(self, audio: torch.Tensor, seconds: int) -> torch.Tensor:
        """(B, L) waveforms -> (B, T) bool loud seconds."""
        return loud_seconds(audio, seconds, self.loud_floor, self.loud_rel)

    def loss(self, frames: torch.Tensor, audio: torch.Tensor,
             own: torch.Tensor | None = None) -> torch.Tensor:
        """:func:`balanced_bce` of each frame's activity against its
        clip's loudness in that second.

        Args:
            frames (Tensor): (B, T, 3, H, W) normalised.
            audio (Tensor): (B, L) waveforms.
            own (Tensor, optional): (B,) bool, the clips whose sound is
                their own (not lent nor silenced by a null reference made
                at training time); the others are left out.
        """
        logits = self.activity(frames)
        loud = self.loud(audio, frames.size(1))
        if own is not None:
            if not own.any():
                return logits.sum() * 0
            logits, loud = logits[own], loud[own]
        if self.loss_type == 'loud-clip':
            return loud_clip_bce(logits, loud)
        return balanced_bce(logits, loud.float())

    @torch.no_grad()
    def forward(self, frames: torch.Tensor, audio: torch.Tensor
                ) -> torch.Tensor:
        """(B, T, 3, H, W) normalised frames and (B, L) waveforms -> (B,)
        sync in [0, 1]: the largest activity probability over the loud
        seconds, 0 where none is loud."""
        return sync_scores(self.activity(frames).sigmoid(),
                           self.loud(audio, frames.size(1)))
