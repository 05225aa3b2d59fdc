"""``SAM2LOVE(name_check=...)``: is what the expression names on frame 0?
A row whose words no cell of frame 0 shows is found absent."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmseg.registry import MODELS
from test_sam2love_segmentor import (
    TINY,
    T,
    check_model,
    forward_loss,
    loss_trained_alone,
)

from sam2love.datasets import RefAVSDataset
from sam2love.models.decode_heads.names_on_screen import (
    NamesOnScreen,
    log_found,
)
from sam2love.models.decode_heads.presence import NO_OBJECT_LOGIT

WORDS = ('red', 'blue', 'square', 'cross')


def test_named_words_and_category_targets():
    check = NamesOnScreen(WORDS, size=16, width=4)
    assert check.vocabulary == ('blue', 'cross', 'red', 'square')
    named = check.named(['The red square.', 'The object making a sound.',
                         'The sounding cross after the blue one stops'])
    assert named.tolist() == [[0, 0, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0]]
    targets = check.category_targets(['blue-square', 'cross'])
    assert targets.tolist() == [[1, 0, 0, 1], [0, 1, 0, 0]]
    with pytest.raises(ValueError, match=r"'green-star' .*\['green', 'star'\]"):
        check.category_targets(['green-star'])
    with pytest.raises(ValueError, match='single words'):
        NamesOnScreen(['red square'])


def test_found_where_one_cell_shows_every_named_word():
    """Both words on one cell, not each on a cell of its own."""
    logits = torch.full((2, 2, 1, 2), -9.0)  # 2 words, 2 cells
    logits[0, :, 0, 1] = 9.0  # clip 0: a cell with both words
    logits[1, 0, 0, 0] = logits[1, 1, 0, 1] = 9.0  # clip 1: apart
    both = torch.ones(2, 2)
    found = log_found(logits, both).exp()
    assert found[0] > 0.99 and found[1] < 0.01
    none = log_found(logits, torch.zeros(2, 2)).exp()
    torch.testing.assert_close(none, torch.ones(2))


def test_turns_average_every_view_of_the_frame():
    """With ``turns`` the eval cell logits are the mean over the frame's
    eight quarter turns and mirrors: a turned frame is named as the frame
    turned; without, the one view."""
    torch.manual_seed(0)
    check = NamesOnScreen(WORDS, size=32, width=4).eval()
    frame = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        logits = check.cell_logits(frame)
        turned = check.cell_logits(torch.rot90(frame, 1, (-2, -1)))
        views = [torch.rot90(check._cell_logits(torch.rot90(
            seen, k, (-2, -1))), -k, (-2, -1))
            for seen in (frame, frame.flip(-1)) for k in range(4)]
        views[4:] = [v.flip(-1) for v in views[4:]]
        check.turns = False
        one = check.cell_logits(frame)
    torch.testing.assert_close(logits, torch.stack(views).mean(0))
    torch.testing.assert_close(turned, torch.rot90(logits, 1, (-2, -1)))
    torch.testing.assert_close(one, views[0])
    assert not torch.allclose(one, logits)



def test_a_clip_is_named_from_its_frame_0_and_learnt_from_each_map():
    """Given clips, the check names their frame 0; learning from several
    frames' maps is learning from each frame with its map."""
    check = NamesOnScreen(WORDS, size=16, width=4).eval()
    clips = torch.randn(2, 3, 3, 16, 16)
    texts = ['The red square.', 'The blue cross.']
    torch.testing.assert_close(check(clips, texts), check(clips[:, 0], texts))
    objects = torch.randint(0, 3, (2, 3, 16, 16))
    cats = [['red-square', 'blue-cross'], []]
    torch.testing.assert_close(
        check.loss(clips, objects, cats),
        check.loss(clips.flatten(0, 1), objects.flatten(0, 1),
                   [c for c in cats for _ in range(3)]))

def draw(colour: str, shape: str, x: int, y: int,
         frame: torch.Tensor) -> torch.Tensor:
    """A 16-pixel square or cross of pure red or blue on (3, H, W), at
    (x, y); its mask."""
    on = torch.zeros(frame.shape[1:], dtype=torch.bool)
    if shape == 'square':
        on[y:y + 16, x:x + 16] = True
    else:
        on[y + 5:y + 11, x:x + 16] = on[y:y + 16, x + 5:x + 11] = True
    frame[:, on] = torch.tensor([3.0, -1.0, -1.0] if colour == 'red'
                                else [-1.0, -1.0, 3.0])[:, None]
    return on


def scenes(pairs, n: int, seed: int, per_frame: int | None = None):
    """n 96-pixel frames, each with one object of each (colour, shape) in
    ``pairs`` (or of ``per_frame`` of them drawn at random) in random
    corners; their objects' maps (n, 96, 96) (k + 1 on the k-th drawn)
    and categories."""
    gen = torch.Generator().manual_seed(seed)
    frames = torch.randn(n, 3, 96, 96, generator=gen) * 0.3
    objects = torch.zeros(n, 96, 96, dtype=torch.long)
    categories = []
    for i in range(n):
        drawn = torch.randperm(len(pairs), generator=gen)[:per_frame]
        slots = torch.randperm(4, generator=gen)
        for k, (j, slot) in enumerate(zip(drawn.tolist(), slots.tolist())):
            x, y = 8 + 64 * (slot % 2), 8 + 64 * (slot // 2)
            objects[i][draw(*pairs[j], x, y, frames[i])] = k + 1
        categories.append(['-'.join(pairs[j]) for j in drawn.tolist()])
    return frames, objects, categories


def test_cells_are_named_by_the_object_covering_them():
    check = NamesOnScreen(WORDS, size=16, width=4)
    objects = torch.zeros(2, 8, 8, dtype=torch.long)
    objects[0, :4, :4] = 1  # cell (0, 0): red square
    objects[0, 4:, :3] = 2  # cell (1, 0): 3 / 4 blue cross
    objects[0, 4:, 4:5] = 1  # cell (1, 1): 1 / 4 red square
    objects[1, :4, :4] = 1  # a clip no row refers to: not named
    targets, labelled = check.cell_targets(
        objects, [['red-square', 'blue-cross'], []], (2, 2))
    assert targets[0, :, 0, 0].tolist() == [0, 0, 1, 1]
    assert targets[0, :, 1, 0].tolist() == [1, 1, 0, 0]
    assert labelled.tolist() == [[[True, True], [True, False]],
                                 [[False, False], [False, False]]]
    assert targets[0, :, 0, 1].sum() == 0  # nothing there: no word


def test_unseen_colour_shape_pairs_are_named():
    """Trained on frames of two of red squares, red crosses and blue
    squares (the cells named by the objects covering them), the check
    finds a blue cross, which it never saw, and finds none beside a blue
    square and a red cross (both words, not on one object), nor where no
    cross or nothing blue is."""
    torch.manual_seed(0)
    check = NamesOnScreen(WORDS, size=96, width=8)
    frames, objects, categories = scenes(SEEN, 128, seed=0, per_frame=2)
    optim = torch.optim.Adam(check.parameters(), 3e-3)
    gen = torch.Generator().manual_seed(1)
    for _ in range(250):
        idx = torch.randint(128, (8, ), generator=gen)
        loss = check.loss(frames[idx], objects[idx],
                          [categories[i] for i in idx.tolist()])
        optim.zero_grad()
        loss.backward()
        optim.step()
    names_unseen_pairs(check.eval())


#: the colour-shape pairs the checks are trained on
SEEN = [('red', 'square'), ('red', 'cross'), ('blue', 'square')]


def names_unseen_pairs(check) -> torch.Tensor:
    """A check trained on ``SEEN`` finds a blue cross and none beside a
    blue square and a red cross, nor where no cross or nothing blue is;
    one frame serves every expression. Returns the blue-cross frames."""
    unseen = scenes([('blue', 'cross'), ('red', 'square')], 8, 2)[0]
    apart = scenes([('blue', 'square'), ('red', 'cross')], 8, 3)[0]
    no_cross = scenes([('blue', 'square'), ('red', 'square')], 8, 4)[0]
    no_blue = scenes([('red', 'cross'), ('red', 'square')], 8, 5)[0]
    found = check(torch.cat([unseen, apart, no_cross, no_blue]),
                  ['The blue cross.'] * 32)
    assert found[:8].min() > 0.5 > found[8:].max()
    texts = ['The blue cross.', 'The red cross.']
    torch.testing.assert_close(check(unseen[:1], texts),
                               check(unseen[:1].expand(2, -1, -1, -1), texts))
    return unseen


def names_model(threshold: float = 0.5, train_only=None, **settings):
    return check_model(train_only, name_check=dict(
        vocabulary=('blue', 'green', 'red', 'yellow', 'circle', 'cross',
                    'diamond', 'square', 'star', 'triangle'),
        threshold=threshold, size=32, width=4, **settings))


def test_needs_the_presence_switch():
    cfg = Config.fromfile(TINY)
    cfg.model.name_check = dict(vocabulary=WORDS)
    with pytest.raises(ValueError, match='name_check .* presence'):
        MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def two_rows(tiny_root):
    """A row and a row whose expression was lent (absent), with frame 0's
    map of their clips' referred objects."""
    dataset = RefAVSDataset(tiny_root, 'train', num_frames=T, pipeline=[
        dict(type='LoadClipFrames'), dict(type='LoadClipAudio'),
        dict(type='LoadClipMasks'), dict(type='LoadClipObjects'),
        dict(type='ResizeClip', scale=128), dict(type='PackClipInputs')])
    first, lent = dataset[0], copy.deepcopy(dataset[1])
    lent['data_samples'].set_metainfo(dict(is_null=True, null_negative=True,
                                           text='The red triangle.'))
    return pseudo_collate([first, lent])


def test_rows_it_finds_absent_are_emptied(two_rows):
    """Under its threshold a row's masks are emptied and its presence is
    0 on every frame, in the test path and the streamed one alike;
    above it the model predicts as without the check."""
    with torch.no_grad():
        kept = names_model(threshold=0.0).eval()  # finds nothing absent
        vetoed = names_model(threshold=1.1).eval()  # finds every row absent
        data = kept.data_preprocessor(two_rows)
        metas = [s.metainfo for s in data['data_samples']]
        inputs = data['inputs']
        texts = [m['text'] for m in metas]
        assert kept.names_presence(inputs, texts).shape == (2, )
        out = kept._predict_clip(inputs, metas)
        kept.name_check = None
        torch.testing.assert_close(out['logits'],
                                   kept._predict_clip(inputs, metas)['logits'])
        empty = vetoed._predict_clip(inputs, metas)
        one = {k: v[:1] for k, v in inputs.items()}
        prompt = vetoed.prompts(one, texts)
        streamed = next(vetoed.track(
            prompt, one['frames'][0], vetoed=vetoed.names_absent(one, texts)))
    assert (empty['logits'] == NO_OBJECT_LOGIT).all()
    assert (empty['presence'] == 0).all()
    assert (streamed['logits'] == NO_OBJECT_LOGIT).all()
    assert (streamed['presence'] == 0).all()


def test_head_rows_sound_asking_leaves_the_rows_found_by_sight_to_it(
        two_rows):
    """``head_rows='sound-asking'``: the head's threshold (here ~1:
    every row under it) empties only the rows asking for a sound; a row
    found by sight is kept unless the names check finds it absent, in the
    test path and the streamed one alike. By default the head judges
    every row."""
    texts = ['The object making a sound.', 'The red triangle.']
    with torch.no_grad():
        models = dict(spare=names_model(threshold=0.0,
                                        head_rows='sound-asking').eval(),
                      every=names_model(threshold=0.0).eval())
        for model in models.values():
            model.decode_head.presence['threshold'] = 1.1
        data = models['spare'].data_preprocessor(two_rows)
        metas = [dict(s.metainfo, text=t)
                 for s, t in zip(data['data_samples'], texts)]
        inputs = data['inputs']
        outs = {k: m._predict_clip(inputs, metas) for k, m in models.items()}
        spare = models['spare']
        assert spare.head_spared(texts).tolist() == [False, True]
        assert models['every'].head_spared(texts) is None
        streamed = [next(spare.track(
            spare.prompts({k: v[i:i + 1] for k, v in inputs.items()},
                          texts[i:i + 1]),
            inputs['frames'][i],
            **spare.presence_overrides(
                {k: v[i:i + 1] for k, v in inputs.items()}, texts[i:i + 1])))
            for i in range(2)]
        spare.decode_head.presence['threshold'] = 0.0  # none absent
        kept = spare._predict_clip(inputs, metas)
    assert (outs['every']['presence'] == 0).all()
    assert (outs['spare']['presence'][0] == 0).all()
    assert (outs['spare']['presence'][1] > 0).all()
    torch.testing.assert_close(outs['spare']['logits'][1], kept['logits'][1])
    assert (streamed[0]['presence'] == 0).all()
    assert (streamed[1]['presence'] > 0).all()
    with pytest.raises(ValueError, match='head_rows must be one of'):
        names_model(head_rows='sight')


def test_trained_alone_from_its_own_loss(two_rows):
    """``train_only=('names_on_screen', )``: its loss alone, its gradients
    alone; the cells are named from the objects' map whatever the
    expression."""
    model = names_model(train_only=('names_on_screen', ))
    # seed 1: the same colour shuffle and mirror as below
    loss = loss_trained_alone(model, two_rows, 'names_on_screen')
    with torch.no_grad():
        data = model.data_preprocessor(two_rows, training=True)
        samples = data['data_samples']
        torch.manual_seed(1)
        objects = torch.stack([s.gt_objects.data[0] for s in samples])
        cats = [s.metainfo['object_categories'] for s in samples]
        alone = model.names_on_screen.loss(
            data['inputs']['frames'][:, 0], objects, cats)
    torch.testing.assert_close(loss, alone)
    assert cats[0] and objects[0].max() == len(cats[0])


def test_learning_needs_the_objects_map(two_rows):
    model = names_model(train_only=('names_on_screen', ))
    batch = copy.deepcopy(two_rows)
    for sample in batch['data_samples']:
        del sample.gt_objects
    with pytest.raises(KeyError, match='LoadClipObjects'):
        forward_loss(model, batch)
