"""ClipGroupedSampler: whole clips side by side."""
import itertools

import pytest
from mmengine.registry import init_default_scope
from mmseg.registry import DATA_SAMPLERS

from sam2love.datasets import ClipGroupedSampler


class Rows:
    """A data set of 9 rows over 4 clips."""

    clip_of = ['a', 'a', 'b', 'c', 'c', 'c', 'd', 'b', 'a']

    def __len__(self):
        return len(self.clip_of)

    def get_data_info(self, i):
        return dict(clip_name=self.clip_of[i])


def clips_in_order(indices):
    """The clip of each index, consecutive repeats merged."""
    return [c for c, _ in itertools.groupby(Rows.clip_of[i] for i in indices)]


def test_each_pass_yields_every_row_clip_by_clip():
    sampler = ClipGroupedSampler(Rows(), seed=0)
    stream = list(itertools.islice(iter(sampler), 3 * len(Rows.clip_of)))
    for k in range(3):
        one_pass = stream[k * 9:(k + 1) * 9]
        assert sorted(one_pass) == list(range(9))
        assert sorted(clips_in_order(one_pass)) == ['a', 'b', 'c', 'd']
    assert stream[:9] != stream[9:18]  # reshuffled each pass
    again = list(itertools.islice(iter(ClipGroupedSampler(Rows(), seed=0)),
                                  27))
    assert again == stream


def test_without_shuffle_clips_keep_their_first_appearance_order():
    sampler = ClipGroupedSampler(Rows(), shuffle=False, seed=0)
    assert list(itertools.islice(iter(sampler), 9)) == \
        [0, 1, 8, 2, 7, 3, 4, 5, 6]


def test_ranks_share_out_whole_clips(monkeypatch):
    passes = []
    for rank in (0, 1):
        monkeypatch.setattr('mmengine.dataset.sampler.get_dist_info',
                            lambda rank=rank: (rank, 2))
        sampler = ClipGroupedSampler(Rows(), seed=0)
        passes.append(list(itertools.islice(iter(sampler), 4)))
    assert not set(clips_in_order(passes[0])) & set(clips_in_order(passes[1]))


def test_registered_and_needs_clip_names():
    init_default_scope('mmseg')
    sampler = DATA_SAMPLERS.build(dict(type='ClipGroupedSampler'),
                                  default_args=dict(dataset=Rows(), seed=1))
    assert isinstance(sampler, ClipGroupedSampler)

    class NoClip(Rows):
        def get_data_info(self, i):
            return {}
    with pytest.raises(KeyError, match='clip_name'):
        ClipGroupedSampler(NoClip(), seed=0)
