"""Null references made at training time (``RefAVSDataset(null_negatives=)``,
:mod:`sam2love.datasets.null_negatives`)."""
from collections import Counter

import numpy as np
import pytest
import torch
from conftest import build_tree, real_metadata_rows
from inference_helpers import make_tiny_tree

from sam2love.datasets import RefAVSDataset, read_metadata
from sam2love.datasets.metadata import RefAVSRow
from sam2love.datasets.null_negatives import (
    NullNegativeSampler,
    null_share,
    words,
)

PIPELINE = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipAudio', sample_rate=16000),
    dict(type='LoadClipMasks'),
    dict(type='ResizeClip', scale=(32, 32)),
    dict(type='PackClipInputs'),
]


def row(line, clip, category, exp, split='train'):
    return RefAVSRow(line=line, vid=clip, uid=f'{clip}_{category}_1',
                     split=split, fid=0, exp=exp)


ROWS = [
    row(2, 'a', 'blue-square', 'The blue square.'),
    row(3, 'a', 'red-triangle', 'The object making a sound.'),
    row(4, 'b', 'blue-triangle', 'The blue triangle.'),
    row(5, 'b', 'green-star', 'The star.'),
    row(6, 'c', 'red-circle', 'The red circle.'),
    row(7, 'c', 'red-circle', 'The blue square.'),  # same text as line 2
    row(8, 'd', 'yellow-cross', 'The cross.', split='val'),
    row(9, 'null_c-e', 'null', 'The blue star.'),
    row(10, 'f', 'red-cross', 'The cross.'),
    row(11, 'f', 'red-cross', 'The first object to make a sound.'),
]


def test_an_expression_names_the_category_words_it_contains():
    sampler = NullNegativeSampler(ROWS, ROWS)
    assert sampler.vocabulary == words(
        'blue square red triangle green star circle yellow cross')
    assert sampler.named('The silent red triangle.') == {'red', 'triangle'}
    assert sampler.named('The object on the left.') == frozenset()


LENT = dict(
    # a shows blue-square and red-triangle: "the blue triangle" names no
    # object of it, but both its words are on screen; a text is lent once
    # per row that uses it (lines 2 and 7 say "the blue square"), never to
    # the clip of that row (c's own line 7)
    object=dict(a=['The blue triangle.', 'The star.', 'The red circle.',
                   'The cross.'],
                b=['The blue square.', 'The blue square.', 'The red circle.',
                   'The cross.'],
                c=['The blue square.', 'The blue triangle.', 'The star.',
                   'The cross.'],
                d=['The blue square.', 'The blue square.',
                   'The blue triangle.', 'The star.', 'The red circle.']),
    word=dict(a=['The star.', 'The cross.'],
              b=['The red circle.', 'The cross.'],
              c=['The blue square.', 'The blue triangle.', 'The star.',
                 'The cross.'],
              d=['The blue square.', 'The blue square.', 'The blue triangle.',
                 'The star.', 'The red circle.']))


@pytest.mark.parametrize('match', ['object', 'word'])
def test_a_lent_expression_names_nothing_its_clip_shows(match):
    train = [r for r in ROWS if r.split == 'train']
    sampler = NullNegativeSampler(ROWS, train, match)
    # every row lends, by what it names; never a null row nor one that
    # names nothing
    assert {' '.join(sorted(named)): [d.line for d in donors]
            for named, donors in sampler.donors.items()} == {
        'blue square': [2, 7], 'blue triangle': [4], 'star': [5],
        'circle red': [6], 'cross': [10]}
    # never the clip's own rows; what a clip shows comes from every split
    # (d, a val clip, shows a yellow cross)
    for clip, texts in LENT[match].items():
        lent = sampler.absent_expressions(clip)
        assert [d.text for d in lent] == texts
        assert len(lent) == len(texts) and lent[-1] == lent[len(texts) - 1]
        assert list(lent) == [lent[i] for i in range(len(lent))]
    with pytest.raises(IndexError):
        sampler.absent_expressions('a')[4]
    with pytest.raises(ValueError, match='match must be one of'):
        NullNegativeSampler(ROWS, train, 'any')


def test_a_text_is_lent_as_often_as_rows_use_it():
    train = [r for r in ROWS if r.split == 'train']
    sampler = NullNegativeSampler(ROWS, train, 'object')
    lent = sampler.absent_expressions('b')
    rng = np.random.RandomState(0)
    drawn = Counter(lent[rng.randint(len(lent))].text for _ in range(4000))
    # lines 2 and 7 say "the blue square": half of b's draws, not a third
    assert drawn['The blue square.'] / 4000 == pytest.approx(0.5, abs=0.03)
    assert drawn['The cross.'] / 4000 == pytest.approx(0.25, abs=0.03)


def test_lent_audio_is_for_sound_asking_expressions_and_unseen_objects():
    train = [r for r in ROWS if r.split == 'train']
    sampler = NullNegativeSampler(ROWS, train, 'object')
    asks = sampler.asks_for_sound
    assert asks('The first object to make a sound.')
    assert asks('The object with the lowest-pitched sound.')
    assert not asks('The silent object.')  # silence is not a sound
    assert not asks("The object that didn't make a sound.")
    assert not asks('The object on the left.')  # no sound asked
    assert not asks('The sounding cross.')  # names a category
    # clips a (blue-square, red-triangle), b (blue-triangle, green-star),
    # c (red-circle), f (red-cross): no object of b, c or f is one of a's
    # (by 'object'); only b shares no word with c (by 'word')
    assert sampler.absent_sounds('a') == ['b', 'c', 'f']
    assert sampler.absent_sounds('c') == ['a', 'b', 'f']
    assert NullNegativeSampler(ROWS, train, 'word').absent_sounds('c') == [
        'b']


def test_the_expected_share_of_null_rows_counts_the_rows_that_allow_one():
    train = [r for r in ROWS if r.split == 'train']
    sampler = NullNegativeSampler(ROWS, train, 'object')
    kinds = ('expression', 'audio', 'silence')
    lendable = sampler.lendable('f', 'The first object to make a sound.',
                                kinds)
    assert list(lendable) == list(kinds)
    assert lendable['audio'] == sampler.absent_sounds('f')
    assert lendable['silence'] == [True]
    assert list(sampler.lendable('f', 'The cross.', kinds)) == ['expression']
    assert sampler.lendable('f', 'The cross.', ('silence', )) == {}
    # 9 train rows: 1 null, 8 ordinary of which 2 ask for a sound
    assert null_share(ROWS, 'train', 0.5, kinds, 'object') == \
        pytest.approx((1 + 0.5 * 8) / 9)
    assert null_share(ROWS, 'train', 0.5, ('silence', ), 'object') == \
        pytest.approx((1 + 0.5 * 2) / 9)


@pytest.fixture(scope='module')
def tiny_tree(tmp_path_factory):
    return make_tiny_tree(str(tmp_path_factory.mktemp('negatives') / 'tree'))


def dataset(root, **kwargs):
    return RefAVSDataset(data_root=root, split='train', num_frames=4,
                         pipeline=PIPELINE, **kwargs)


def test_every_drawn_row_can_become_a_null_reference(tiny_tree):
    plain = dataset(tiny_tree)
    always = dataset(tiny_tree, null_negatives=dict(prob=1.0))
    never = dataset(tiny_tree, null_negatives=dict(prob=0.0))
    sampler = always.negative_sampler
    np.random.seed(0)
    made = lent_audio = silenced = 0
    for i in range(len(plain)):
        a, b, c = plain[i], always[i], never[i]
        info = a['data_samples'].metainfo
        assert c['data_samples'].metainfo['text'] == info['text']
        assert (c['inputs']['frames'] == a['inputs']['frames']).all()
        meta = b['data_samples'].metainfo
        if info['is_null'] or not sampler.absent_expressions(
                info['clip_name']):
            assert meta['text'] == info['text']
            continue
        made += 1
        assert meta['null_negative'] and meta['is_null']
        assert meta['uid'] == info['uid']
        # the clip's own frames, no mask
        assert (b['inputs']['frames'] == a['inputs']['frames']).all()
        assert b['data_samples'].gt_sem_seg.data.sum() == 0
        if meta['silent_audio']:
            silenced += 1
            assert meta['text'] == info['text'] and b['inputs']['silent_audio']
            continue
        if 'audio_clip' in meta:  # another clip's sound
            lent_audio += 1
            assert sampler.asks_for_sound(info['text'])
            assert meta['text'] == info['text']
            assert meta['audio_clip'] in sampler.absent_sounds(
                info['clip_name'])
            assert meta['audio_path'].endswith(
                f"{meta['audio_clip']}/audio.wav")
            assert not torch.equal(b['inputs']['audio'], a['inputs']['audio'])
            continue
        assert meta['text'] != info['text']
        assert not sampler.shows(info['clip_name'],
                                 sampler.named(meta['text']))
        assert (b['inputs']['audio'] == a['inputs']['audio']).all()
        assert a['data_samples'].gt_sem_seg.data.sum() > 0
    assert made > len(plain) // 2
    assert 0 < lent_audio < made and 0 < silenced < made


def test_a_silenced_row_keeps_its_expression_and_loses_its_sound(tiny_tree):
    plain = dataset(tiny_tree)
    silenced = dataset(tiny_tree, null_negatives=dict(prob=1.0,
                                                      kinds=('silence', )))
    sampler = silenced.negative_sampler
    made = 0
    for i in range(len(plain)):
        a, b = plain[i], silenced[i]
        info, meta = a['data_samples'].metainfo, b['data_samples'].metainfo
        assert 'silent_audio' in meta  # in every row, for batching
        assert meta['text'] == info['text']
        # the backbone silences the marked rows: the audio is the clip's
        assert torch.equal(b['inputs']['audio'], a['inputs']['audio'])
        assert bool(b['inputs']['silent_audio']) == meta['silent_audio']
        if info['is_null'] or not sampler.asks_for_sound(info['text']):
            assert not meta['silent_audio']
            continue
        made += 1
        assert meta['silent_audio'] and meta['null_negative']
        assert b['data_samples'].gt_sem_seg.data.sum() == 0
    assert made > 0


def test_null_negatives_are_for_training_only(tiny_tree):
    with pytest.raises(ValueError, match='training only'):
        dataset(tiny_tree, null_negatives=dict(prob=0.5), test_mode=True)
    for bad in (dict(prob=1.5), dict(p=0.5), dict(prob='0.5'),
                dict(prob=0.5, match='any'), dict(prob=0.5, kinds=()),
                dict(prob=0.5, kinds=('noise', ))):
        with pytest.raises(ValueError, match='dict\\(prob=p, match=m'):
            dataset(tiny_tree, null_negatives=bad)


def test_every_null_row_of_the_release_asks_for_a_sound(tmp_path):
    """The release's null rows (its test_n and the train / val ones) are
    what the audio and silence kinds make: sound-asking expressions that
    name no category."""
    build_tree(str(tmp_path), real_metadata_rows(), {})
    rows = read_metadata(str(tmp_path / 'metadata.csv'))
    sampler = NullNegativeSampler(rows, [])
    null = [r for r in rows if r.is_null]
    assert len(null) == 1708
    assert all(sampler.asks_for_sound(r.exp) for r in null)
