"""``SAM2LOVE(sound_check=...)``: is the sound made on screen? A clip
whose loud seconds show nothing active is heard as silence by the
presence check."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmseg.registry import MODELS
from test_sam2love_segmentor import TINY, check_model, loss_trained_alone

from sam2love.models.decode_heads.sound_on_screen import (
    MIN_ROOM,
    SoundOnScreen,
    loud_clip_bce,
    loud_seconds,
    sync_scores,
)


def test_loud_seconds_per_clip():
    second = torch.ones(50)
    loud = torch.cat([0.5 * second, 0.003 * second, 0.04 * second])
    quiet = torch.full((150, ), 0.003)  # the noise floor alone
    assert loud_seconds(torch.stack([loud, quiet]), 3).tolist() == [
        [True, False, False], [False, False, False]]
    assert loud_seconds(loud[None], 3, rel=0.05).tolist() == [
        [True, False, True]]


def test_loud_seconds_are_above_the_floor_and_the_clips_loudest():
    second = torch.ones(100)
    audio = torch.cat([0.5 * second, 0.002 * second, 0.02 * second,
                       0.04 * second])[None]
    assert loud_seconds(audio, 4, floor=0.01, rel=0.1).tolist() == [[
        True, False, False, False]]  # 0.02 and 0.04 under 0.1 x 0.5
    assert loud_seconds(audio, 4, floor=0.01, rel=0.01).tolist() == [[
        True, False, True, True]]
    quiet = torch.full((1, 400), 0.003)  # the noise floor alone
    assert not loud_seconds(quiet, 4, 0.01, 0.1).any()


def test_sync_scores_are_the_largest_activity_in_the_loud_seconds():
    activity = torch.tensor([[0.9, 0.1, 0.3, 0.2], [0.9, 0.1, 0.3, 0.2]])
    loud = torch.tensor([[False, True, True, False], [False] * 4])
    torch.testing.assert_close(sync_scores(activity, loud),
                               torch.tensor([0.3, 0.0]))


def test_sync_is_the_largest_activity_over_the_loud_seconds():
    check = SoundOnScreen(size=8).eval()
    logits = torch.tensor([[3.0, -2.0, 0.0], [3.0, -2.0, 0.0]])
    check.activity = lambda frames: logits
    second = torch.ones(10)
    audio = torch.stack([torch.cat([0.003 * second, second, second]),
                         torch.full((30, ), 0.003)])
    sync = check(torch.zeros(2, 3, 3, 8, 8), audio)
    torch.testing.assert_close(sync, torch.tensor([0.5, 0.0]))


def test_loud_clip_bce_raises_a_clips_best_loud_second_and_lowers_quiet_ones():
    """Only the clip's most active loud second and its quiet seconds are
    taught: a loud second showing nothing is left as it is."""
    logits = torch.tensor([[2.0, -1.0, 0.5, 1.0], [0.0, 3.0, -2.0, 1.0]],
                          requires_grad=True)
    loud = torch.tensor([[True, True, False, False], [False] * 4])
    loss = loud_clip_bce(logits, loud)
    positive = torch.nn.functional.softplus(-torch.tensor(2.0))
    quiet = torch.nn.functional.softplus(torch.tensor(
        [0.5, 1.0, 0.0, 3.0, -2.0, 1.0])).mean()
    torch.testing.assert_close(loss, (positive + quiet) / 2)
    loss.backward()
    assert logits.grad[0, 0] < 0 and logits.grad[0, 1] == 0
    assert (logits.grad[0, 2:] > 0).all() and (logits.grad[1] > 0).all()
    # clips all loud or all quiet: one half alone
    torch.testing.assert_close(
        loud_clip_bce(torch.tensor([[1.0, -1.0]]), torch.ones(1, 2).bool()),
        torch.nn.functional.softplus(torch.tensor(-1.0)))
    torch.testing.assert_close(
        loud_clip_bce(torch.tensor([[1.0, -1.0]]), torch.zeros(1, 2).bool()),
        torch.nn.functional.softplus(torch.tensor([1.0, -1.0])).mean())


def test_brightening_is_what_grew_lighter_in_every_colour():
    """A pale ring over the background raises every channel of its
    frame above the clip's median frame; a coloured object moving in
    raises one and lowers the others, and reads as no brightening."""
    check = SoundOnScreen(size=8, inputs=('brightening', 'frame'))
    frames = torch.zeros(1, 3, 3, 8, 8)
    frames[0, 1, :, 2, 2] = 1.0  # pale: every channel lighter
    frames[0, 2, :, 5, 5] = torch.tensor([2.0, -1.0, -1.0])  # red
    x = check.channels(frames)
    assert x.shape == (1, 3, 4, 8, 8)
    torch.testing.assert_close(x[:, :, 1:], frames)
    assert x[0, 1, 0, 2, 2] == 1.0 and x[0, 2, 0, 5, 5] == -1.0
    assert x[0, :, 0].clamp(min=0).sum() == 1.0


MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


def test_whitening_is_the_share_of_the_way_to_white():
    """A ring blended halfway to white reads 0.5 over a dark and over a
    pale background (its brightening differs fivefold), darkening is
    clipped to -1, and a background with no room left to white is
    divided by MIN_ROOM levels, not by nothing."""
    check = SoundOnScreen(size=8, inputs=('whitening', 'brightening'),
                          mean=MEAN, std=STD)
    mean = torch.tensor(MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 1, 3, 1, 1)
    pixels = torch.full((1, 3, 3, 8, 8), 55.0)
    pixels[..., 4:, :] = 215.0  # the lower half is pale
    pixels[..., 7, :] = 255.0  # and the last row white
    pixels[:, 1, :, 2, 2] = (55.0 + 255) / 2  # rings, halfway to white
    pixels[:, 1, :, 5, 5] = (215.0 + 255) / 2
    pixels[:, 1, :, 7, 0] = 255.0 - MIN_ROOM / 2  # off-white on white
    pixels[:, 2, :, 5, 3] = 0.0  # darker
    x = check.channels((pixels - mean) / std)
    whitening, brightening = x[0, :, 0], x[0, :, 1]
    torch.testing.assert_close(whitening[1, 2, 2], torch.tensor(0.5))
    torch.testing.assert_close(whitening[1, 5, 5], torch.tensor(0.5))
    torch.testing.assert_close(brightening[1, 2, 2] / brightening[1, 5, 5],
                               torch.tensor(5.0), rtol=1e-4, atol=0)
    torch.testing.assert_close(whitening[1, 7, 0], torch.tensor(-0.5))
    assert whitening[2, 5, 3] == -1.0
    assert whitening[0].abs().max() < 1e-6


def test_whitening_needs_the_normalisation():
    with pytest.raises(ValueError, match='whitening needs'):
        SoundOnScreen(inputs=('whitening', ))


def test_unknown_inputs_are_refused():
    with pytest.raises(ValueError, match='inputs must be some of'):
        SoundOnScreen(inputs=('frame', 'motion'))


def test_an_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        SoundOnScreen(loss='max')


def clips_and_loudness(b: int = 8, t: int = 6):
    """Noise frames (b, t, 3, 16, 16), each clip's loud seconds (about
    half; the first loud, the second quiet) and a sound to match."""
    torch.manual_seed(0)
    frames = torch.randn(b, t, 3, 16, 16) * 0.1
    loud = torch.rand(b, t) < 0.5
    loud[:, :2] = torch.tensor([True, False])
    audio = (loud.float() * 0.5 + 0.003).repeat_interleave(20, 1)
    return frames, loud, audio


def fitted_check(frames, audio, steps: int) -> SoundOnScreen:
    check = SoundOnScreen(size=16, width=8)
    optim = torch.optim.Adam(check.parameters(), 1e-2)
    for _ in range(steps):
        loss = check.loss(frames, audio)
        optim.zero_grad()
        loss.backward()
        optim.step()
    return check.eval()


def test_activity_is_learnt_from_the_loud_seconds_alone():
    """A bright spot in most loud seconds, never in the quiet ones: the
    loudness of each second teaches it, and clips whose sound is not
    their own are left out."""
    frames, loud, audio = clips_and_loudness()
    b, t = loud.shape
    spot = loud & (torch.rand(b, t) < 0.8)
    frames[..., 6, 9] += 3.0 * spot[..., None].float()
    check = fitted_check(frames, audio, 60)
    act = check.activity(frames).sigmoid()
    assert act[spot].min() > act[~loud].max()
    # a clip with another clip's sound, or silenced, is left out
    lent = torch.zeros(b, dtype=torch.bool)
    assert check.loss(frames, audio, lent) == 0
    one = check.loss(frames[:1], audio[:1])
    torch.testing.assert_close(check.loss(frames, audio, lent.index_fill(
        0, torch.tensor([0]), True)), one)


def test_what_stays_on_screen_is_not_activity():
    """The same bright spot in every frame of half the clips (a static
    background edge that looks like the cue), and in the loud seconds of
    the others: only the difference from the clip's median frame tells
    them apart, and the check learns to."""
    frames, loud, audio = clips_and_loudness()
    b, t = loud.shape
    static = torch.arange(b) % 2 == 0
    spot = torch.where(static[:, None], torch.ones(b, t, dtype=torch.bool),
                       loud)
    frames[..., 6, 9] += 3.0 * spot[..., None].float()
    act = fitted_check(frames, audio, 80).activity(frames).sigmoid()
    cue = ~static[:, None] & loud
    assert act[static[:, None] & ~loud].max() < 0.5 < act[cue].min()


def sound_model(threshold: float = 0.5, train_only=None,
                silence_rows: str = 'all'):
    return check_model(train_only, sound_check=dict(
        threshold=threshold, size=32, width=8, silence_rows=silence_rows))


def test_needs_the_presence_query():
    cfg = Config.fromfile(TINY)
    cfg.model.sound_check = dict()
    with pytest.raises(ValueError, match="sound_check .* presence_query"):
        MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def two_clips(tiny_samples):
    silenced = copy.deepcopy(tiny_samples[1])
    silenced['data_samples'].set_metainfo(dict(silent_audio=True))
    return pseudo_collate([tiny_samples[0], silenced])


def test_a_sound_not_made_on_screen_is_heard_as_silence(two_clips):
    """Under the threshold only the presence query's sound changes, to
    what silence gives; above it the prompt is the model's; the prompts
    of a streamed clip do the same."""
    heard = sound_model(threshold=-1.0).eval()  # every sound on screen
    unseen = sound_model(threshold=2.0).eval()  # none
    with torch.no_grad():
        data = heard.data_preprocessor(two_clips)
        inputs, texts = data['inputs'], [s.text for s in data['data_samples']]
        assert heard.sound_sync(inputs).shape == (2, )
        kept = heard.extract_feat(inputs, texts)
        quiet = unseen.extract_feat(inputs, texts)
        silent = heard.extract_feat(dict(inputs, silent_audio=torch.ones(
            2, dtype=torch.bool)), texts)
        heard.sound_check = None
        torch.testing.assert_close(kept, heard.extract_feat(inputs, texts))
        streamed = unseen.prompts(
            {k: v[:1] for k, v in inputs.items()}, texts)
    rows = [0, 1] + list(range(3, kept.size(1)))
    torch.testing.assert_close(quiet[:, rows], kept[:, rows])
    torch.testing.assert_close(quiet[:, 2], silent[:, 2])
    assert not torch.allclose(kept[:, 2], quiet[:, 2])
    torch.testing.assert_close(streamed[:1, 2], quiet[:1, 2])


def test_only_the_rows_asking_for_a_sound_hear_silence_by_default(
        two_clips):
    """``silence_rows='sound-asking'`` (the default): a clip whose sound
    is not made on screen is heard as silence by the rows whose
    expression asks for a sound; the others keep the model's prompt."""
    asking = check_model(None, sound_check=dict(
        threshold=2.0, size=32, width=8)).eval()
    every = sound_model(threshold=2.0).eval()
    texts = ['The object making a sound.', 'The object on the left.']
    with torch.no_grad():
        inputs = asking.data_preprocessor(two_clips)['inputs']
        quiet = every.extract_feat(inputs, texts)
        prompt = asking.extract_feat(inputs, texts)
        asking.sound_check = None
        kept = asking.extract_feat(inputs, texts)
    torch.testing.assert_close(prompt[0], quiet[0])
    torch.testing.assert_close(prompt[1], kept[1])
    assert not torch.allclose(prompt[1, 2], quiet[1, 2])


def test_silence_rows_must_be_known():
    with pytest.raises(ValueError, match='silence_rows must be one of'):
        sound_model(silence_rows='sounding')


def test_whitening_reads_the_data_preprocessors_normalisation(two_clips):
    """``inputs=('whitening', )`` takes the model's mean and std (its
    white is the preprocessor's) and scores clips through the model."""
    model = check_model(None, sound_check=dict(
        size=32, width=8, inputs=('whitening', ))).eval()
    norm = model.data_preprocessor
    torch.testing.assert_close(model.sound_on_screen.white,
                               (255 - norm.mean) / norm.std)
    with torch.no_grad():
        inputs = norm(two_clips)['inputs']
        assert model.sound_sync(inputs).shape == (2, )


def test_trained_alone_from_its_own_loss(two_clips):
    """``train_only=('sound_on_screen', )``: its loss alone (no frame-0
    loss is computed), its gradients alone; the silenced clip is left out
    of it."""
    model = sound_model(train_only=('sound_on_screen', ))
    # seed 1: the same random mirroring as below
    loss = loss_trained_alone(model, two_clips, 'sound_on_screen')
    check = model.sound_on_screen
    with torch.no_grad():
        data = model.data_preprocessor(two_clips, training=True)
        torch.manual_seed(1)
        alone = check.loss(data['inputs']['frames'][:1],
                           data['inputs']['audio'][:1])
    torch.testing.assert_close(loss, alone)
