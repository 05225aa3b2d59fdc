"""``ClipVisualizationHook``: ``SegVisualizationHook`` that can run in a
test-only runner."""
import os.path as osp
from collections.abc import Sequence

import mmcv
import mmengine.fileio as fileio
from mmengine.runner import Runner
from mmseg.engine.hooks import SegVisualizationHook
from mmseg.registry import HOOKS
from mmseg.structures import SegDataSample


@HOOKS.register_module()
class ClipVisualizationHook(SegVisualizationHook):
    """Draw each ``interval``-th clip of the val / test loop.

    Same arguments and drawing as mmseg's ``SegVisualizationHook`` (the
    config's visualizer, :class:`~sam2love.visualization.RefAVSVisualizer`,
    draws a contact sheet of the whole clip). The difference: mmseg stamps
    every drawing with ``runner.iter``, which builds the *train* loop and
    with it the train dataset, so ``tools/test.py --show-dir`` failed on a
    machine holding only the test split. Here a test drawing's step is 0
    and a validation drawing's step is the training iteration reached.
    """

    def _after_iter(self,
                    runner: Runner,
                    batch_idx: int,
                    data_batch: dict,
                    outputs: Sequence[SegDataSample],
                    mode: str = 'val') -> None:
        if self.draw is False or mode == 'train':
            return
        if not self.every_n_inner_iters(batch_idx, self.interval):
            return
        step = runner.iter if mode == 'val' else 0
        for output in outputs:
            img = mmcv.imfrombytes(
                fileio.get(output.img_path, backend_args=self.backend_args),
                channel_order='rgb')
            self._visualizer.add_datasample(
                f'{mode}_{osp.basename(output.img_path)}',
                img,
                data_sample=output,
                show=self.show,
                wait_time=self.wait_time,
                step=step)
