"""``HeardNames`` and ``SAM2LOVE(heard_check=...)``: each loud second's
sound named with the names check's words; a clip whose sound an object
on screen is named by keeps it, whatever its synchrony."""
import numpy as np
import pytest
import torch
from test_sam2love_segmentor import check_model, loss_trained_alone
from test_silhouette_names import two_rows  # noqa: F401 (fixture)

from sam2love.datasets.synthetic.audio import AUDIO_NOISE, synthesize_audio
from sam2love.datasets.synthetic.categories import (
    CATEGORIES,
    UNSEEN_CATEGORIES,
)
from sam2love.models.decode_heads.heard_names import (
    HeardNames,
    log_frequency_bank,
)

WORDS = ('blue', 'green', 'red', 'yellow', 'circle', 'cross', 'diamond',
         'square', 'star', 'triangle')
SR = 16000


def test_log_frequency_bands_sum_to_one_and_rise():
    bank = log_frequency_bank(513, 16000, 150.0, 7000.0, 12)
    assert bank.shape == (67, 513)
    torch.testing.assert_close(bank.sum(1), torch.ones(67))
    peaks = bank.argmax(1)
    assert (peaks[1:] >= peaks[:-1]).all()
    # a band an octave up sits twice as high
    fft = torch.linspace(0, 8000, 513)
    assert abs(float(fft[peaks[24]] / fft[peaks[12]]) - 2) < 0.1


def test_vocabulary_names_and_category_words():
    namer = HeardNames(WORDS)
    assert namer.colours == ('blue', 'green', 'red', 'yellow')
    assert namer.others[0] == 'circle' and len(namer.others) == 6
    assert len(namer.names()) == 24 and namer.names()[1] == 'blue cross'
    assert namer.category_words('green-star') == (1, 4)
    with pytest.raises(ValueError, match="'red' is not one word"):
        namer.category_words('red')
    shapes = HeardNames(('guitar', 'drum'))
    assert shapes.names() == ['drum', 'guitar']
    assert shapes.category_words('drum') == (None, 0)
    with pytest.raises(ValueError, match='single words'):
        HeardNames(('red', 'acoustic guitar'))
    with pytest.raises(ValueError, match='under half the sample rate'):
        HeardNames(WORDS, sample_rate=8000)


def clip_sound(categories, seconds: int = 3, seed: int = 0) -> np.ndarray:
    """Each category sounding alone in one of ``seconds`` seconds, the
    others silent (at the set's gains)."""
    rng = np.random.default_rng(seed)
    schedule = np.zeros((len(categories), seconds), np.float32)
    for k in range(len(categories)):
        schedule[k, k] = rng.uniform(0.5, 1.0)
    return synthesize_audio(list(categories), schedule, SR, rng)


def trained_namer(steps: int = 200) -> HeardNames:
    """Learnt from clips of two seen categories each, which one sounds in
    which second unknown (the set's loss)."""
    torch.manual_seed(0)
    seen = [c for c in CATEGORIES if c not in UNSEEN_CATEGORIES]
    namer = HeardNames(WORDS, sample_rate=SR, width=16)
    optim = torch.optim.Adam(namer.parameters(), 3e-3)
    rng = np.random.default_rng(0)
    for step in range(steps):
        pairs = [[seen[i] for i in rng.choice(len(seen), 2, replace=False)]
                 for _ in range(8)]
        audio = torch.from_numpy(np.stack([
            clip_sound(p, seconds=2, seed=step * 8 + k)
            for k, p in enumerate(pairs)]))
        loss = namer.loss(audio, 2, pairs)
        optim.zero_grad()
        loss.backward()
        optim.step()
    return namer.eval()


@pytest.fixture(scope='module')
def namer():
    return trained_namer()


def test_unseen_colour_shape_pairs_are_named_from_their_parts(namer):
    """Pitch gives the colour, the partials' pattern the shape: the six
    pairs train never plays are named (every colour and shape is), and
    every seen pair."""
    audio = torch.from_numpy(np.stack([clip_sound([c], seconds=1, seed=k)
                                       for k, c in enumerate(CATEGORIES)]))
    with torch.no_grad():
        probs, loud = namer.heard(audio, 1)
    assert loud.all() and probs.shape == (24, 1, 4, 6)
    torch.testing.assert_close(probs.sum((-2, -1)), torch.ones(24, 1))
    best = probs[:, 0].flatten(1).argmax(1)
    named = [f'{namer.colours[i // 6]}-{namer.others[i % 6]}'
             for i in best.tolist()]
    assert named == list(CATEGORIES)


def test_a_match_is_the_heard_names_on_screen_over_the_loud_seconds(namer):
    """The clip plays a yellow star then nothing: its match is the names
    check's yellow star where one is on screen, and quiet seconds do not
    count."""
    audio = torch.from_numpy(clip_sound(['yellow-star'], seconds=2))[None]
    names = namer.names()
    star = torch.zeros(1, len(names))
    star[0, names.index('yellow star')] = 0.9
    with torch.no_grad():
        on = namer.match(audio, 2, star)
        off = namer.match(audio, 2, 1 - star / 0.9)  # everything but it
        silent = namer.match(torch.full((1, 2 * SR), AUDIO_NOISE), 2, star)
    assert on.item() > 0.8 and off.item() < 0.1
    assert silent.item() == 0.0


def heard_model(threshold: float, train_only=None, sync: float = 0.0,
                names_threshold: float = 0.5, unmade_below: float = 0.0):
    model = check_model(
        train_only, sound_check=dict(threshold=0.5, size=32, width=8),
        name_check=dict(type='SilhouetteNames', vocabulary=WORDS, size=64,
                        width=4, threshold=names_threshold),
        heard_check=dict(threshold=threshold, width=4,
                         unmade_below=unmade_below))
    model.sound_on_screen.forward = lambda frames, audio: torch.full(
        (len(frames), ), sync)
    return model


def test_needs_the_sound_and_the_names_checks():
    with pytest.raises(ValueError, match='needs sound_check and name_check'):
        check_model(None, sound_check=dict(size=32, width=8),
                    heard_check=dict())


def test_does_not_move_the_random_state_of_the_other_checks():
    torch.manual_seed(0)
    heard_model(0.5)
    after = torch.rand(3)
    torch.manual_seed(0)
    check_model(None, sound_check=dict(threshold=0.5, size=32, width=8),
                name_check=dict(type='SilhouetteNames', vocabulary=WORDS,
                                size=64, width=4))
    torch.testing.assert_close(after, torch.rand(3))


def test_a_sound_named_on_screen_is_made_on_screen(two_rows):  # noqa: F811
    """Sync under the sound check's threshold: the clip's sound is unmade
    unless its match reaches the heard check's threshold; with a sync
    over it, the match is not asked."""
    kept, lost = heard_model(-1.0).eval(), heard_model(2.0).eval()
    with torch.no_grad():
        inputs = kept.data_preprocessor(two_rows)['inputs']
        match = kept.heard_match(inputs)
        assert match.shape == (2, ) and ((match >= 0) & (match <= 1)).all()
        assert not kept.sound_unmade(inputs).any()
        assert lost.sound_unmade(inputs).all()
        synced = heard_model(2.0, sync=1.0).eval()
        synced.heard_match = None  # never called
        assert not synced.sound_unmade(inputs).any()


def test_a_sound_named_nowhere_on_screen_is_unmade_whatever_its_sync(
        two_rows):  # noqa: F811
    """``unmade_below``: a clip whose match is under it has its sound
    unmade even where its sync passes; the heard check's own threshold
    still keeps the sound of the clips whose sync misses."""
    taken = heard_model(-1.0, sync=1.0, unmade_below=2.0).eval()
    kept = heard_model(-1.0, sync=0.0, unmade_below=2.0).eval()
    left = heard_model(2.0, sync=1.0, unmade_below=-1.0).eval()
    with torch.no_grad():
        inputs = taken.data_preprocessor(two_rows)['inputs']
        assert taken.sound_unmade(inputs).all()
        assert not kept.sound_unmade(inputs).any()
        assert not left.sound_unmade(inputs).any()


def test_on_screen_is_what_the_names_check_finds(two_rows):  # noqa: F811
    """A name counts as on screen where the names check's probability
    reaches its threshold, not by that probability: every name seen at
    0.7 is on screen under a threshold of 0.6, none under 0.8."""
    matches = []
    for names_threshold in (0.6, 0.8):
        model = heard_model(0.5, names_threshold=names_threshold).eval()
        inputs = model.data_preprocessor(two_rows)['inputs']
        batch, seconds = len(inputs['audio']), inputs['frames'].size(1)
        names = model.heard_names.names()
        model.names_on_screen.forward = lambda frames, texts: torch.full(
            (len(texts), ), 0.7)
        heard = (torch.full((batch, seconds, len(names)), 1 / len(names)
                            ).view(batch, seconds,
                                   len(model.heard_names.colours), -1),
                 torch.ones(batch, seconds, dtype=torch.bool))
        model.heard_names.heard = lambda audio, num_seconds, out=heard: out
        with torch.no_grad():
            matches.append(model.heard_match(inputs))
    torch.testing.assert_close(matches[0], torch.ones(2))
    torch.testing.assert_close(matches[1], torch.zeros(2))


def test_trained_alone_from_the_referred_objects_categories(
        two_rows):  # noqa: F811
    """``train_only=('heard_names', )``: its loss alone, from each clip's
    audio and its referred objects' categories, its gradients alone."""
    model = heard_model(0.5, train_only=('heard_names', ))
    loss = loss_trained_alone(model, two_rows, 'heard_names')
    model.heard_names.shifts.manual_seed(0)  # the shifts drawn above
    with torch.no_grad():
        data = model.data_preprocessor(two_rows, training=True)
        state = torch.get_rng_state()
        alone = model.heard_names.loss(
            data['inputs']['audio'], data['inputs']['frames'].size(1),
            [s.metainfo['object_categories'] for s in data['data_samples']])
    torch.testing.assert_close(loss, alone)
    # its shifts are its own random numbers: the global state is untouched
    assert torch.equal(torch.get_rng_state(), state)
