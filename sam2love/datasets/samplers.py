"""``ClipGroupedSampler``: the expressions of a clip side by side in a batch.

Ref-AVS has several expressions per clip, most about different objects of
the same frames. Batched together, they give a contrastive loss on the
fused token (``ReferentAlignmentLoss``) negatives from the *same* frames:
the other objects, which the token must tell apart from its referent; with
uniformly shuffled rows nearly every negative comes from another clip.
"""
import itertools
from collections.abc import Iterator, Sized

import torch
from mmengine.dataset import InfiniteSampler
from mmseg.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class ClipGroupedSampler(InfiniteSampler):
    """An infinite stream of indices, whole clips at a time.

    Each pass shuffles the clips and the rows within each clip, then yields
    the rows clip after clip, so consecutive indices (a batch) come from a
    few whole clips. With several processes each takes every
    ``world_size``-th clip of the pass.

    Args:
        dataset (Sized): a data set whose ``get_data_info(i)`` has
            ``clip_name`` (``RefAVSDataset``).
        shuffle (bool): shuffle clips and rows. Defaults to True.
        seed (int | None): random seed (None: one shared by the processes).
    """

    def __init__(self, dataset: Sized, shuffle: bool = True,
                 seed: int | None = None) -> None:
        clips: dict[str, list[int]] = {}
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            if 'clip_name' not in info:
                raise KeyError(f'ClipGroupedSampler: row {i} of '
                               f'{type(dataset).__name__} has no clip_name')
            clips.setdefault(info['clip_name'], []).append(i)
        self.clips = list(clips.values())
        super().__init__(dataset, shuffle, seed)

    def _infinite_clips(self) -> Iterator[list[int]]:
        """Infinitely yield clips (lists of row indices)."""
        g = torch.Generator()
        g.manual_seed(self.seed)
        while True:
            order = torch.randperm(len(self.clips), generator=g).tolist() \
                if self.shuffle else range(len(self.clips))
            for c in order:
                rows = self.clips[c]
                if self.shuffle:
                    rows = [rows[j] for j in
                            torch.randperm(len(rows), generator=g).tolist()]
                yield rows

    def _indices_of_rank(self) -> Iterator[int]:
        """This rank's clips, flattened into row indices."""
        for rows in itertools.islice(self._infinite_clips(), self.rank,
                                     None, self.world_size):
            yield from rows
