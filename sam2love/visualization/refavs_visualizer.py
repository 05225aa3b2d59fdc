"""``RefAVSVisualizer``: the one drawing path of referring clip masks."""
import os.path as osp
from collections.abc import Iterator, Sequence

import mmcv
import numpy as np
from mmengine.dist import master_only
from mmseg.registry import VISUALIZERS
from mmseg.visualization import SegLocalVisualizer

from ..datasets.media import load_frames
from .drawing import (
    draw_caption,
    draw_label,
    draw_legend,
    expression_colours,
    font_size_for,
    overlay_masks,
    resize_frame,
    stack_rows,
    tile_grid,
    upscale_size,
)


@VISUALIZERS.register_module()
class RefAVSVisualizer(SegLocalVisualizer):
    """Draw the masks of one or several expressions over a clip.

    One drawing path serves the inference demo (overlay video, contact
    sheet, through :class:`~sam2love.apis.RefAVSInferencer`) and testing:
    set as the config's ``visualizer``, ``ClipVisualizationHook``
    (``tools/test.py --show-dir DIR``) calls :meth:`add_datasample` with a
    clip's data sample, which draws a contact sheet of the whole clip
    (predicted masks, and ground truth when drawn) and saves it as
    ``DIR/vis_data/vis_image/test_<index>_<uid>_<step>.png``.

    Args:
        alpha (float): mask opacity. Defaults to 0.5.
        min_height (int): frames of overlay videos lower than this are
            enlarged by an integer factor, so small clips stay legible.
        thumb_height (int): height of the contact sheets' frames.
        sheet_columns (int): frames per row of a contact sheet.
        **kwargs: :class:`mmseg.visualization.SegLocalVisualizer`'s
            (``name``, ``vis_backends``, ``save_dir``, ...).
    """

    def __init__(self,
                 name: str = 'visualizer',
                 alpha: float = 0.5,
                 min_height: int = 360,
                 thumb_height: int = 144,
                 sheet_columns: int = 5,
                 **kwargs) -> None:
        super().__init__(name=name, alpha=alpha, **kwargs)
        self.min_height = min_height
        self.thumb_height = thumb_height
        self.sheet_columns = sheet_columns

    # ------------------------------------------------------------ drawing
    @staticmethod
    def _check(frames: Sequence[np.ndarray], masks: np.ndarray,
               texts: Sequence[str]) -> np.ndarray:
        masks = np.asarray(masks)
        if masks.ndim != 4 or masks.shape[:2] != (len(texts), len(frames)):
            raise ValueError(
                f'masks must be (K={len(texts)}, T={len(frames)}, H, W), '
                f'got {masks.shape}')
        return masks

    def iter_clip(self, frames: Sequence[np.ndarray], masks: np.ndarray,
                  texts: Sequence[str], captions: Sequence[str] | None = None,
                  opacity: float | None = None) -> Iterator[np.ndarray]:
        """Overlay frames of a video, each with the legend below it, drawn
        one at a time (for writing long videos).

        Args:
            frames (Sequence[np.ndarray]): T uint8 RGB (H, W, 3) frames.
            masks (np.ndarray): (K, T, h, w) masks (bool or {0, 1}) of K
                expressions, any size (resized to the frames).
            texts (Sequence[str]): the K expressions.
            captions (Sequence[str], optional): T captions (e.g. times).
            opacity (float, optional): defaults to ``alpha``.

        Yields:
            np.ndarray: uint8 RGB images of one size: the frame (enlarged
            when lower than ``min_height``) over the legend.
        """
        masks = self._check(frames, masks, texts)
        opacity = self.alpha if opacity is None else opacity
        colours = expression_colours(len(texts))
        size = upscale_size(*frames[0].shape[:2], self.min_height)
        legend = draw_legend(size[1], self._legend_texts(texts), colours)
        for t, frame in enumerate(frames):
            img = overlay_masks(resize_frame(frame, size), masks[:, t],
                                colours, opacity)
            if captions is not None:
                img = draw_caption(img, captions[t])
            yield stack_rows([img, legend])

    def draw_clip(self, frames: Sequence[np.ndarray], masks: np.ndarray,
                  texts: Sequence[str], captions: Sequence[str] | None = None,
                  opacity: float | None = None) -> list[np.ndarray]:
        """All the frames of :meth:`iter_clip` as a list."""
        return list(self.iter_clip(frames, masks, texts, captions, opacity))

    def draw_contact_sheet(self, frames: Sequence[np.ndarray],
                           mask_rows: Sequence[np.ndarray],
                           texts: Sequence[str],
                           row_labels: Sequence[str] | None = None,
                           captions: Sequence[str] | None = None,
                           columns: int | None = None,
                           opacity: float | None = None) -> np.ndarray:
        """A grid of the clip's frames with overlays, and the legend.

        Args:
            frames (Sequence[np.ndarray]): T uint8 RGB (H, W, 3) frames.
            mask_rows (Sequence[np.ndarray]): one or several (K, T, h, w)
                mask sets (e.g. prediction and ground truth), each drawn as
                its own block of the sheet.
            texts (Sequence[str]): the K expressions.
            row_labels (Sequence[str], optional): a title per block.
            captions (Sequence[str], optional): T frame captions.
            columns (int, optional): frames per row; defaults to
                ``sheet_columns``.

        Returns:
            np.ndarray: uint8 RGB sheet.
        """
        opacity = self.alpha if opacity is None else opacity
        colours = expression_colours(len(texts))
        h, w = frames[0].shape[:2]
        size = (self.thumb_height, max(1, round(w * self.thumb_height / h)))
        thumbs = [resize_frame(f, size) for f in frames]
        blocks = []
        for b, masks in enumerate(mask_rows):
            masks = self._check(frames, masks, texts)
            tiles = []
            for t, thumb in enumerate(thumbs):
                tile = overlay_masks(thumb, masks[:, t], colours, opacity)
                if captions is not None:
                    tile = draw_caption(tile, captions[t],
                                        font_size_for(4 * size[1]))
                tiles.append(tile)
            grid = tile_grid(tiles, columns or self.sheet_columns)
            if row_labels is not None:
                blocks.append(draw_label(grid.shape[1], row_labels[b]))
            blocks.append(grid)
        width = max(b.shape[1] for b in blocks)
        blocks.append(draw_legend(width, self._legend_texts(texts), colours))
        return stack_rows(blocks, width)

    @staticmethod
    def _legend_texts(texts: Sequence[str]) -> list[str]:
        return [f'{i + 1}. {t}' for i, t in enumerate(texts)] \
            if len(texts) > 1 else [str(t) for t in texts]

    # ----------------------------------------------------- mmseg's hook
    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample=None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: str | None = None,
                       step: int = 0,
                       with_labels: bool | None = True) -> None:
        """Draw a clip sample's contact sheet and save it to the backends.

        ``SegVisualizationHook`` passes frame 0 as ``image`` and names the
        window after its file (``test_0.jpg`` for every clip); the sheet
        reads all T frames from the sample's ``frame_paths`` and is named
        ``<mode>_<sample_idx>_<uid>`` instead. Rows: prediction
        (``pred_sem_seg``, (T, H, W)), then ground truth (``gt_sem_seg``)
        when ``draw_gt``. Samples without clip metainfo are drawn by
        :class:`~mmseg.visualization.SegLocalVisualizer`.
        """
        meta = data_sample.metainfo if data_sample is not None else {}
        if 'frame_paths' not in meta:
            return super().add_datasample(
                name, image, data_sample, draw_gt, draw_pred, show,
                wait_time, out_file, step, with_labels)
        frames = load_frames(meta['frame_paths'])
        rows, labels = [], []
        for key, label, wanted in (('pred_sem_seg', 'prediction', draw_pred),
                                   ('gt_sem_seg', 'ground truth', draw_gt)):
            if wanted and key in data_sample:
                masks = data_sample.get(key).data.cpu().numpy()
                rows.append(masks[None] > 0)
                labels.append(label)
        if not rows:
            rows, labels = [np.zeros((1, len(frames), 1, 1), bool)], ['clip']
        seconds = meta.get('clip_seconds', len(frames)) / len(frames)
        sheet = self.draw_contact_sheet(
            frames, rows, [meta.get('text', '')], row_labels=labels,
            captions=[f'{i * seconds:g} s' for i in range(len(frames))],
            columns=len(frames))
        name = self._sample_name(name, meta)
        if show:
            self.show(sheet, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(sheet), out_file)
        else:
            self.add_image(name, sheet, step)

    @staticmethod
    def _sample_name(name: str, meta: dict) -> str:
        """``<mode>_<sample_idx>_<uid>`` for the hook's ``<mode>_0.jpg``."""
        frame0 = osp.basename(meta.get('img_path') or '')
        if not frame0 or not name.endswith('_' + frame0):
            return name
        mode = name[:-len(frame0) - 1]
        parts = [mode]
        if meta.get('sample_idx') is not None:
            parts.append(f'{meta["sample_idx"]:05d}')
        if meta.get('uid'):
            parts.append(str(meta['uid']))
        return '_'.join(parts)
