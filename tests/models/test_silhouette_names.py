"""``SilhouetteNames``: names read from each object's silhouette, on every
frame; ``SAM2LOVE(name_check=dict(type='SilhouetteNames', ...))``."""
import copy

import pytest
import torch
from mmengine.dataset import pseudo_collate
from test_names_on_screen import SEEN, WORDS, draw, names_unseen_pairs, scenes
from test_sam2love_segmentor import T, check_model, loss_trained_alone

from sam2love.datasets import RefAVSDataset
from sam2love.models.decode_heads.silhouette_names import (
    SilhouetteNames,
    silhouettes,
)


def test_vocabulary_and_category_words():
    check = SilhouetteNames(WORDS, width=4)
    assert check.colours == ('blue', 'red')
    assert check.shapes == ('cross', 'square')
    assert check.category_words('blue-square') == (0, 1)
    with pytest.raises(ValueError, match="'red-green-square'"):
        check.category_words('red-green-square')
    with pytest.raises(ValueError, match='colour words and others'):
        SilhouetteNames(('square', 'cross'))


def test_a_silhouette_is_its_bounding_square_wherever_it_is():
    masks = torch.zeros(3, 64, 64, dtype=torch.bool)
    masks[0, 4:20, 4:20] = True  # a square
    masks[1, 40:56, 30:46] = True  # the same square elsewhere
    masks[2, 10:42, 10:42] = True  # twice as large
    sil = silhouettes(masks, 32)
    assert sil.shape == (3, 1, 32, 32)
    torch.testing.assert_close(sil[0], sil[1])
    assert (sil[2] - sil[0]).abs().mean() < 0.05
    assert sil[0, 0, 16, 16] == 1 and sil[0, 0, 0, 0] == 0


def trained(seen, steps: int = 150) -> SilhouetteNames:
    torch.manual_seed(0)
    check = SilhouetteNames(WORDS, size=96, min_area=40, width=8)
    frames, objects, categories = scenes(seen, 64, seed=0, per_frame=2)
    optim = torch.optim.Adam(check.parameters(), 3e-3)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        idx = torch.randint(64, (8, ), generator=gen)
        loss = check.loss(frames[idx, None], objects[idx, None],
                          [categories[i] for i in idx.tolist()])
        optim.zero_grad()
        loss.backward()
        optim.step()
    return check.eval()


def test_unseen_colour_shape_pairs_are_named():
    """Trained on red squares, red crosses and blue squares, the check
    finds a blue cross, which it never saw, and finds none beside a blue
    square and a red cross (both words, not on one object), nor where no
    cross or nothing blue is; an expression naming no word of its
    vocabulary is found."""
    check = trained(SEEN)
    unseen = names_unseen_pairs(check)
    assert check(unseen[:1], ['The object making a sound.']).item() == 1.0


def test_an_object_on_any_frame_is_found():
    """A clip's score is its best frame's: a blue cross drawn on its
    second frame only is found."""
    check = trained(SEEN)
    clip = scenes([('red', 'square')], 2, 6)[0]  # (2 frames, 3, 96, 96)
    alone = check(clip[None, :1], ['The blue cross.'])
    draw('blue', 'cross', 40, 40, clip[1])
    assert alone.item() < 0.5 < check(clip[None], ['The blue cross.']).item()


@pytest.fixture(scope='module')
def two_rows(tiny_root):
    """Two rows with the maps of their clips' referred objects on frames
    0 and 1."""
    dataset = RefAVSDataset(tiny_root, 'train', num_frames=T, pipeline=[
        dict(type='LoadClipFrames'), dict(type='LoadClipAudio'),
        dict(type='LoadClipMasks'), dict(type='LoadClipObjects', frame=(0, 1)),
        dict(type='ResizeClip', scale=128), dict(type='PackClipInputs')])
    return pseudo_collate([dataset[0], copy.deepcopy(dataset[1])])


def silhouette_model(threshold: float = 0.5, train_only=None):
    return check_model(train_only, name_check=dict(
        type='SilhouetteNames',
        vocabulary=('blue', 'green', 'red', 'yellow', 'circle', 'cross',
                    'diamond', 'square', 'star', 'triangle'),
        threshold=threshold, size=64, width=4))


def test_in_the_model_learnt_from_the_maps_of_its_frames(two_rows):
    """Trained alone (``train_only=('names_on_screen', )``), from the
    frames the maps are of; in eval mode it scores every frame of the
    clip."""
    model = silhouette_model(train_only=('names_on_screen', ))
    loss = loss_trained_alone(model, two_rows, 'names_on_screen')
    with torch.no_grad():
        data = model.data_preprocessor(two_rows, training=True)
        samples = data['data_samples']
        assert [s.metainfo['object_frames'] for s in samples] == [[0, 1]] * 2
        objects = torch.stack([s.gt_objects.data for s in samples])
        assert objects.shape[:2] == (2, 2)
        torch.manual_seed(1)
        alone = model.names_on_screen.loss(
            data['inputs']['frames'][:, :2], objects,
            [s.metainfo['object_categories'] for s in samples])
    torch.testing.assert_close(loss, alone)
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(two_rows)
        texts = ['The red triangle.', 'The object making a sound.']
        found = model.names_presence(data['inputs'], texts)
        frames = data['inputs']['frames']
        torch.testing.assert_close(found, model.names_on_screen(frames,
                                                                 texts))
    assert found[1] == 1.0


def test_other_check_types_are_refused():
    with pytest.raises(KeyError, match='Cells'):
        check_model(None, name_check=dict(type='Cells', vocabulary=WORDS))
    with pytest.raises(TypeError, match="'CrossEntropyLoss' is not a names"):
        check_model(None, name_check=dict(type='CrossEntropyLoss',
                                          avg_non_ignore=True))
