"""``RefAVSInferencer``: referring audio-visual segmentation of a user's
video, in the style of mmseg's ``MMSegInferencer``.

>>> from sam2love.apis import RefAVSInferencer
>>> inferencer = RefAVSInferencer(
...     'configs/sam2love_tiny_1xb16-stage2_synthetic.py',
...     weights='work_dirs/sam2love_tiny_1xb16-stage2_synthetic/iter_150.pth')
>>> result = inferencer('clip.mp4', ['the red square', 'what sounds first'],
...                     out_dir='demo_out')
>>> result['predictions'][0]['masks'].shape   # (T, H, W) uint8, T = 10

The frames and the track are decoded in memory (PyAV, no ``ffmpeg``
binary) and go through the config's own test pipeline, with its two
loading steps replaced by their in-memory twins, and the model's own data
preprocessor: a clip gives the same masks from an mp4 as from the data set.
"""
import copy
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS, VISUALIZERS
from rich.progress import track

from ..visualization import RefAVSVisualizer
from .checkpoint import load_weights_strict
from .media import (
    ClipMedia,
    OutputFrames,
    check_texts,
    load_clip_media,
    output_frames,
)
from .outputs import frame_captions, write_outputs

#: Loading steps of a dataset pipeline and their in-memory twins.
IN_MEMORY_LOADERS = {
    'LoadClipFrames': 'LoadClipFramesFromNDArray',
    'LoadClipAudio': 'LoadClipAudioFromNDArray',
}
#: Dataset steps that need ground truth, dropped for inference.
GROUND_TRUTH_STEPS = ('LoadClipMasks', )


def _type_name(step: dict) -> str:
    t = step['type']
    return (t if isinstance(t, str) else t.__name__).split('.')[-1]


#: Config keys of component weight files that a full checkpoint replaces.
INIT_CHECKPOINT_KEYS = ('checkpoint', 'pca_checkpoint')


def drop_init_checkpoints(model_cfg: dict) -> list[str]:
    """Set the component weight files of a model config to None (not in
    ``init_cfg``); returns the dotted keys changed."""
    dropped = []

    def walk(node, prefix):
        if isinstance(node, dict):
            for key, value in node.items():
                path = f'{prefix}{key}'
                if key in INIT_CHECKPOINT_KEYS and isinstance(value, str):
                    node[key] = None
                    dropped.append(path)
                elif key != 'init_cfg':
                    walk(value, path + '.')
        elif isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(item, f'{prefix}{i}.')

    walk(model_cfg, '')
    return dropped


class RefAVSInferencer(BaseInferencer):
    """Segment the objects that sentences refer to in a video with sound.

    Args:
        model (str | Config | dict): the config (file or object).
        weights (str, optional): a checkpoint of that config, loaded
            strictly (:func:`~sam2love.apis.checkpoint.load_weights_strict`);
            None keeps the random init (with a warning).
        device (str, optional): e.g. ``'cpu'``, ``'cuda:0'``; defaults to
            CUDA when available.
        scope (str): registry scope. Defaults to ``'mmseg'``.
        show_progress (bool): show progress bars.
        num_frames (int, optional): T, frames per clip; defaults to the
            config's test dataset ``num_frames`` (10 for Ref-AVS).
        seconds_per_frame (float, optional): the clip rate; defaults to the
            test dataset's ``seconds_per_frame`` (1 s).
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = {'propagate'}
    visualize_kwargs: set = {'out_dir', 'opacity', 'sheet_colours',
                             'return_vis'}
    postprocess_kwargs: set = {'return_datasamples'}

    def __init__(self,
                 model: str | Config | dict,
                 weights: str | None = None,
                 device: str | None = None,
                 scope: str = 'mmseg',
                 show_progress: bool = True,
                 num_frames: int | None = None,
                 seconds_per_frame: float | None = None) -> None:
        import sam2love  # noqa: F401  (registers the components)
        init_default_scope(scope)
        self._config_name = model if isinstance(model, str) else None
        super().__init__(model=model, weights=weights, device=device,
                         scope=scope, show_progress=show_progress)
        dataset = self.cfg.test_dataloader.dataset
        self.num_frames = num_frames or dataset.get('num_frames', 10)
        self.seconds_per_frame = seconds_per_frame or dataset.get(
            'seconds_per_frame', 1.0)

    # ------------------------------------------------------------ set-up
    def _init_model(self, cfg: ConfigDict, weights: str | None,
                    device: str = 'cpu') -> torch.nn.Module:
        """Build the model and load ``weights``. With weights, the
        component weight files the config names (``checkpoint`` /
        ``pca_checkpoint``: SAM2 ``.pt``, VGGish) are not read: every
        weight comes from the checkpoint (as mmengine's inferencer drops
        ``pretrained``)."""
        if weights is not None:
            drop_init_checkpoints(cfg.model)
        model = MODELS.build(cfg.model)
        model.cfg = cfg
        self._load_weights_to_model(model, weights, cfg)
        return model.to(device).eval()

    def _load_weights_to_model(self, model, checkpoint, cfg) -> None:
        """Load ``checkpoint`` (a path) strictly, see
        :func:`~sam2love.apis.checkpoint.load_weights_strict`."""
        if checkpoint is None:
            warnings.warn('No checkpoint given: the masks come from a '
                          'randomly initialised model.', stacklevel=2)
            return
        load_weights_strict(model, checkpoint, self._config_name)

    def _init_collate(self, cfg: ConfigDict):
        """mmengine's ``pseudo_collate`` unless the config names another."""
        if cfg.test_dataloader.get('collate_fn') is None:
            return pseudo_collate
        return super()._init_collate(cfg)

    def _init_pipeline(self, cfg: ConfigDict) -> Compose:
        """The config's test pipeline with in-memory loading steps and
        without ground-truth steps."""
        steps, found = [], set()
        for step in copy.deepcopy(cfg.test_dataloader.dataset.pipeline):
            name = _type_name(step)
            if name in GROUND_TRUTH_STEPS:
                continue
            if name in IN_MEMORY_LOADERS:
                found.add(name)
                twin = dict(type=IN_MEMORY_LOADERS[name])
                if name == 'LoadClipAudio':
                    twin['sample_rate'] = step.get('sample_rate', 16000)
                step = twin
            steps.append(step)
        if found != set(IN_MEMORY_LOADERS):
            missing = sorted(set(IN_MEMORY_LOADERS) - found)
            raise ValueError(
                'RefAVSInferencer needs a test pipeline that loads clips '
                f'with {", ".join(IN_MEMORY_LOADERS)}; {missing} not found '
                'in test_dataloader.dataset.pipeline')
        return Compose(steps)

    def _init_visualizer(self, cfg: ConfigDict) -> RefAVSVisualizer:
        """The config's visualizer when it is a ``RefAVSVisualizer``, else
        a default one; it only draws (files are written by
        :func:`~sam2love.apis.outputs.write_outputs`)."""
        vis_cfg = dict(cfg.get('visualizer') or {})
        vis_cfg.pop('vis_backends', None)
        vis_cfg.pop('save_dir', None)
        vis_cfg['name'] = f'refavs_inferencer_{id(self)}'
        visualizer = VISUALIZERS.build(vis_cfg) if vis_cfg.get('type') else None
        if not isinstance(visualizer, RefAVSVisualizer):
            visualizer = RefAVSVisualizer(name=vis_cfg['name'] + '_default')
        return visualizer

    # ------------------------------------------------------------ calling
    def __call__(self,
                 video,
                 texts: str | Sequence[str],
                 audio=None,
                 *,
                 start: float = 0.0,
                 propagate: bool = False,
                 video_fps: float | None = None,
                 batch_size: int = 1,
                 out_dir: str | None = None,
                 opacity: float | None = None,
                 sheet_colours: int | None = None,
                 return_vis: bool = False,
                 return_datasamples: bool = False) -> dict:
        """Segment what each expression refers to.

        Args:
            video (str | np.ndarray | list[np.ndarray]): a video file (any
                container / codec PyAV reads), a folder of frames (a
                Ref-AVS clip folder with ``frames/`` and ``audio.wav``, or
                images), or uint8 RGB frames ((T, H, W, 3) or a list).
            texts (str | Sequence[str]): one or several expressions.
            audio (str | tuple, optional): a ``.wav`` (or any file with a
                track), or ``(samples, sample_rate)`` in memory; defaults
                to the video's own track.
            start (float): where the clip starts in the video (s); the clip
                covers ``num_frames * seconds_per_frame`` seconds from
                there (less when the video ends first).
            propagate (bool): also track the object through every decoded
                frame of the clip (the prompt still comes from the sampled
                frames and the audio); masks are then returned for all of
                them.
            video_fps (float, optional): rate of a folder / list of frames;
                by default they are taken as already at the clip rate.
            batch_size (int): expressions per forward pass.
            out_dir (str, optional): write the overlay video, the mask PNGs,
                the contact sheet and ``predictions.json`` there.
            opacity (float, optional): mask opacity of the drawings.
            sheet_colours (int, optional): palette size of the contact
                sheet PNG (e.g. 256 for a small file); full colour by
                default.
            return_vis (bool): also return the drawn overlay frames.
            return_datasamples (bool): return ``SegDataSample`` s instead of
                arrays.

        Returns:
            dict: ``predictions``, one per expression: ``text``, ``masks``
            (uint8 (N, H, W) in {0, 1}) and ``logits`` (float32 (N, H, W))
            at the frame size, N = T sampled frames (or every frame of the
            clip with ``propagate``); ``frame_times`` (N seconds from the
            video's start), ``sampled`` (the T indices of the sampled
            frames among the N), ``clip_seconds``, ``audio_source``;
            ``visualization``: ``outputs`` (the files written) and, with
            ``return_vis``, ``frames`` (N drawn uint8 RGB images).
        """
        texts = check_texts(texts)
        media = load_clip_media(
            video, audio, num_frames=self.num_frames,
            seconds_per_frame=self.seconds_per_frame, start=start,
            all_frames=propagate, video_fps=video_fps)
        batches = list(self.preprocess(media, texts, batch_size=batch_size,
                                       propagate=propagate))
        preds = []
        for batch in (track(batches, description='Inference')
                      if self.show_progress else batches):
            preds.extend(self.forward(batch, propagate=propagate))
        self._track_frames = None
        frames = output_frames(media, propagate, self.seconds_per_frame)
        visualization = self.visualize(media, texts, preds, frames,
                                       out_dir=out_dir, opacity=opacity,
                                       sheet_colours=sheet_colours,
                                       return_vis=return_vis)
        return self.postprocess(preds, visualization, return_datasamples,
                                media=media, texts=texts, frames=frames)

    def _pack(self, media: ClipMedia, frames: list, text: str) -> dict:
        """Run the pipeline on in-memory frames and the track."""
        return self.pipeline(dict(
            frames=frames, raw_audio=media.audio,
            raw_audio_sample_rate=media.sample_rate,
            clip_seconds=media.clip_seconds, num_frames=len(frames),
            img_path=media.source, text=text))

    def preprocess(self, media: ClipMedia, texts: list[str],
                   batch_size: int = 1, propagate: bool = False):
        """Yield collated batches of expressions over the sampled frames.

        The pipeline runs once for the clip; each expression gets its own
        data sample (``text`` metainfo) sharing the packed inputs. With
        ``propagate``, every frame of the clip is packed too and kept,
        normalised by the model's data preprocessor, in
        ``self._track_frames`` (1, N, 3, H, W).
        """
        packed = self._pack(media, media.video.sampled_frames, texts[0])
        self._track_frames = None
        if propagate:
            every = self._pack(media, media.video.frames, texts[0])
            self._track_frames = self.model.data_preprocessor(
                self.collate_fn([every]), False)['inputs']['frames']
        items = []
        for text in texts:
            sample = packed['data_samples'].clone()
            sample.set_metainfo(dict(text=text))
            items.append(dict(inputs=packed['inputs'], data_samples=sample))
        for chunk in self._get_chunk_data(items, batch_size):
            yield self.collate_fn(chunk)

    @torch.no_grad()
    def forward(self, inputs: dict, propagate: bool = False) -> list:
        """Predict a batch: the model's ``test_step``; with ``propagate``,
        the prompt of the sampled frames tracked through every frame."""
        if not propagate:
            return self.model.test_step(inputs)
        model = self.model
        if not hasattr(model, 'extract_feat') or \
                not hasattr(model.decode_head, 'predict'):
            raise TypeError(f'{type(model).__name__} cannot propagate: it '
                            'needs extract_feat() and decode_head.predict()')
        data = model.data_preprocessor(inputs, False)
        samples = data['data_samples']
        prompt = model.extract_feat(data['inputs'], [s.text for s in samples])
        frames = self._track_frames.expand(len(samples),
                                           *self._track_frames.shape[1:])
        logits = model.decode_head.predict(prompt, frames)
        return model.postprocess_result(logits, samples)

    def visualize(self, media: ClipMedia, texts: list[str], preds: list,
                  frames: OutputFrames, out_dir: str | None = None,
                  opacity: float | None = None,
                  sheet_colours: int | None = None,
                  return_vis: bool = False) -> dict | None:
        """Draw the overlays and write the outputs (see
        :func:`~sam2love.apis.outputs.write_outputs`)."""
        if not out_dir and not return_vis:
            return None
        masks = np.stack([p.pred_sem_seg.data.cpu().numpy() for p in preds])
        vis = dict(outputs=None)
        if out_dir:
            vis['outputs'] = write_outputs(
                out_dir, self.visualizer, media, texts, masks, frames.frames,
                frames.times, frames.sampled, frames.fps, opacity=opacity,
                sheet_colours=sheet_colours, show_progress=self.show_progress)
        if return_vis:
            vis['frames'] = self.visualizer.draw_clip(
                frames.frames, masks, texts,
                captions=frame_captions(frames.times), opacity=opacity)
        return vis

    def postprocess(self, preds: list, visualization: dict | None,
                    return_datasamples: bool = False, *,
                    media: ClipMedia, texts: list[str],
                    frames: OutputFrames) -> dict:
        """Arrays per expression (or the data samples) and the frames'
        timing."""
        if return_datasamples:
            predictions = preds
        else:
            predictions = [dict(
                text=text,
                masks=p.pred_sem_seg.data.cpu().numpy().astype(np.uint8),
                logits=p.seg_logits.data.cpu().numpy().astype(np.float32))
                for text, p in zip(texts, preds)]
        return dict(predictions=predictions,
                    frame_times=list(frames.times),
                    sampled=list(frames.sampled),
                    clip_seconds=media.clip_seconds,
                    audio_source=media.audio_source,
                    visualization=visualization)


__all__ = ['RefAVSInferencer']
