"""``RefAVSInferencer``: referring audio-visual segmentation of a user's
video, in the style of mmseg's ``MMSegInferencer``.

>>> result = RefAVSInferencer(CONFIG, weights=CHECKPOINT)(
...     'clip.mp4', ['the red square', 'what sounds first'], out_dir='out')
>>> result['predictions'][0]['masks'].shape   # (T, H, W) uint8, T = 10

The frames and the track are decoded in memory (PyAV, no ``ffmpeg``
binary) and go through the config's own test pipeline, with its two
loading steps replaced by their in-memory twins, and the model's own data
preprocessor: a clip gives the same masks from an mp4 as from the data set.
"""
import os
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from rich.progress import track

from ..visualization import RefAVSVisualizer
from .checkpoint import load_weights_strict, read_state_dict
from .inference_config import (
    clip_settings,
    drawing_visualizer,
    drop_init_checkpoints,
    frames_only,
    in_memory_pipeline,
)
from .media import (
    ClipMedia,
    OutputFrames,
    check_texts,
    check_window,
    load_clip_media,
    output_frames,
)
from .outputs import frame_captions, write_outputs
from .streaming import StreamingMixin


class RefAVSInferencer(StreamingMixin, BaseInferencer):
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
        if isinstance(model, (str, os.PathLike)):
            model = str(model)
            if not os.path.isfile(model):
                raise FileNotFoundError(f'config {model} does not exist')
        self._config_name = model if isinstance(model, str) else None
        super().__init__(model=model, weights=weights, device=device,
                         scope=scope, show_progress=show_progress)
        default_frames, default_spacing = clip_settings(self.cfg)
        self.num_frames = num_frames or default_frames
        self.seconds_per_frame = seconds_per_frame or default_spacing

    def _init_model(self, cfg: ConfigDict, weights: str | None,
                    device: str = 'cpu') -> torch.nn.Module:
        """Build the model and load ``weights``. With weights, the
        component weight files the config names (``checkpoint`` /
        ``pca_checkpoint``: SAM2 ``.pt``, VGGish) are not read: every
        weight comes from the checkpoint (as mmengine's inferencer drops
        ``pretrained``). The checkpoint is read first: a file that cannot
        be used fails before the model is built."""
        self._checkpoint = None
        if weights is not None:
            self._checkpoint = read_state_dict(weights)
            drop_init_checkpoints(cfg.model)
        model = MODELS.build(cfg.model)
        model.cfg = cfg
        self._load_weights_to_model(model, weights, cfg)
        self._checkpoint = None
        return model.to(device).eval()

    def _load_weights_to_model(self, model, checkpoint, cfg) -> None:
        """Load ``checkpoint`` (a path) strictly (``load_weights_strict``)."""
        if checkpoint is None:
            warnings.warn('No checkpoint given: the masks come from a '
                          'randomly initialised model.', stacklevel=2)
            return
        load_weights_strict(model, checkpoint, self._config_name,
                            checkpoint=getattr(self, '_checkpoint', None))

    def _init_collate(self, cfg: ConfigDict):
        """mmengine's ``pseudo_collate`` unless the config names another."""
        if cfg.test_dataloader.get('collate_fn') is None:
            return pseudo_collate
        return super()._init_collate(cfg)

    def _init_pipeline(self, cfg: ConfigDict) -> Compose:
        """:func:`~.inference_config.in_memory_pipeline`; its frames-only
        twin (:func:`~.inference_config.frames_only`) is kept beside it."""
        pipeline = in_memory_pipeline(cfg)
        self._frame_pipeline = frames_only(pipeline)
        return pipeline

    def _init_visualizer(self, cfg: ConfigDict) -> RefAVSVisualizer:
        """:func:`~.inference_config.drawing_visualizer`: it only draws
        (files are written by :func:`~sam2love.apis.outputs.write_outputs`)."""
        return drawing_visualizer(cfg, f'refavs_inferencer_{id(self)}')


    def __call__(self,
                 video,
                 texts: str | Sequence[str],
                 audio=None,
                 *,
                 start: float = 0.0,
                 propagate: bool = False,
                 stream: bool = False,
                 end: float | None = None,
                 video_fps: float | None = None,
                 batch_size: int | None = None,
                 out_dir: str | None = None,
                 masks_format: str = 'png',
                 overlay: bool = True,
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
            stream (bool): track the object through every frame from
                ``start`` to ``end`` (the video's end by default), decoding,
                tracking and writing each frame as it comes, in memory that
                does not grow with the video (see :meth:`stream`); the
                prompt comes from the clip window as without it. The masks
                of every frame go to ``out_dir``; the returned ``masks`` /
                ``logits`` are those of the T sampled frames only.
            end (float, optional): with ``stream``, where to stop (s);
                after ``start``.
            video_fps (float, optional): rate of a folder / list of frames;
                by default they are taken as already at the clip rate.
            batch_size (int, optional): expressions per pass; the frozen
                encoders and SAM2's image encoder run once per pass for all
                of its expressions. Defaults to all of them in one pass.
            out_dir (str, optional): write the overlay video, the mask PNGs,
                the contact sheet and ``predictions.json`` there.
            masks_format (str): with ``stream``: ``'png'`` (one PNG a frame
                and expression), ``'rle'`` (``masks.jsonl``, one line of
                COCO RLEs a frame) or ``'none'``.
            overlay (bool): with ``stream``, write ``overlay.mp4``.
            opacity (float, optional): mask opacity of the drawings.
            sheet_colours (int, optional): palette size of the contact
                sheet PNG (e.g. 256 for a small file); full colour by
                default.
            return_vis (bool): also return the drawn overlay frames (not
                with ``stream``).
            return_datasamples (bool): return ``SegDataSample`` s instead of
                arrays (not with ``stream``).

        Returns:
            dict: ``predictions``, one per expression: ``text``, ``masks``
            (uint8 (N, H, W) in {0, 1}), ``logits`` (float32 (N, H, W))
            at the frame size and ``object_scores`` (float32 (N,), SAM2's
            object-score logits: > 0 where it finds the object), N = T
            sampled frames (or every frame of the clip with
            ``propagate``) and, with a head that decides presence,
            ``presence`` (float32 (N,) in [0, 1], as ``SAM2LOVE.predict``'s
            ``pred_presence``); ``frame_times`` (N seconds from the video's
            start), ``sampled`` (the T indices of the sampled frames among
            the N), ``clip_seconds``, ``audio_source``, ``warnings``
            (what is degraded about the input: a video shorter than the
            clip, sound padded with silence; also in ``predictions.json``,
            see :func:`~.media.degraded_input_warnings`); ``visualization``:
            ``outputs`` (the files written) and, with ``return_vis``,
            ``frames`` (N drawn uint8 RGB images). With ``stream``, N is
            every frame streamed: ``object_scores`` and ``frame_times``
            cover them all, ``masks`` / ``logits`` only the sampled ones
            (``mask_frames``: their indices among the N), and each
            prediction adds ``frames_with_object``; ``num_frames`` = N.

        Raises:
            MediaError: the video or the audio cannot be used (unreadable,
                no frame at ``start``, no sound, NaN samples).
            TypeError: ``texts`` or ``audio`` of the wrong type.
            ValueError: no or an empty expression, ``start`` < 0, ``end``
                not after ``start`` or without ``stream``, an invalid
                sample rate.
        """
        texts = check_texts(texts)
        check_window(start, end)
        if end is not None and not stream:
            raise ValueError('end is used only with stream=True (the clip '
                             'window is num_frames * seconds_per_frame from '
                             'start)')
        if stream:
            if propagate or return_vis or return_datasamples:
                raise ValueError('stream=True does not combine with '
                                 'propagate, return_vis or '
                                 'return_datasamples')
            return self._call_streaming(
                video, texts, audio, start=start, end=end,
                video_fps=video_fps, batch_size=batch_size, out_dir=out_dir,
                masks_format=masks_format, overlay=overlay, opacity=opacity,
                sheet_colours=sheet_colours)
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

    def _normalised_frames(self, media: ClipMedia,
                           frames: list) -> torch.Tensor:
        """(N, 3, H, W) frames through the test pipeline and the data
        preprocessor, as the model sees them."""
        packed = self._frame_pipeline(dict(
            frames=frames, num_frames=len(frames), img_path=media.source,
            text=''))
        return self.model.data_preprocessor(
            self.collate_fn([packed]), False)['inputs']['frames'][0]

    @property
    def shares_encoders(self) -> bool:
        """Whether the model predicts a clip's K expressions in one pass
        (``SAM2LOVE.prompts`` / ``track``), not ``test_step`` per one."""
        return callable(getattr(self.model, 'prompts', None)) and \
            callable(getattr(self.model, 'track', None))

    def preprocess(self, media: ClipMedia, texts: list[str],
                   batch_size: int | None = None, propagate: bool = False):
        """Yield batches of expressions over the sampled frames.

        The pipeline runs once for the clip; each batch holds the packed
        inputs once (``inputs``: lists of one clip) and a data sample per
        expression (``text`` metainfo). With ``propagate``, every frame of
        the clip is packed too and kept, normalised by the model's data
        preprocessor, in ``self._track_frames`` (1, N, 3, H, W).
        """
        packed = self._pack(media, media.video.sampled_frames, texts[0])
        self._track_frames = None
        if propagate:
            self._track_frames = self._normalised_frames(
                media, media.video.frames)[None]
        samples = []
        for text in texts:
            sample = packed['data_samples'].clone()
            sample.set_metainfo(dict(text=text))
            samples.append(sample)
        inputs = self.collate_fn([packed])['inputs']
        size = batch_size or len(samples)
        for i in range(0, len(samples), size):
            yield dict(inputs=inputs, data_samples=samples[i:i + size])

    @torch.no_grad()
    def forward(self, inputs: dict, propagate: bool = False) -> list:
        """Predict a batch of one clip's expressions: the encoders run
        once (``SAM2LOVE.prompts``), SAM2 encodes each frame once and
        tracks the K objects as a batch (``SAM2LOVE.track``); with
        ``propagate``, the prompt of the sampled frames is tracked through
        every frame."""
        samples = inputs['data_samples']
        if not self.shares_encoders:
            if propagate:
                raise TypeError(f'{type(self.model).__name__} cannot '
                                'propagate: it needs prompts() and track() '
                                '(SAM2LOVE)')
            k = len(samples)
            return self.model.test_step(dict(
                inputs={key: value * k for key, value
                        in inputs['inputs'].items()},
                data_samples=samples))
        data = self.model.data_preprocessor(dict(inputs=inputs['inputs']),
                                            False)['inputs']
        texts = [s.text for s in samples]
        prompt = self.model.prompts(data, texts)
        frames = self._track_frames[0] if propagate else data['frames'][0]
        outs = list(self.model.track(
            prompt, frames, num_frames=len(frames),
            **self.model.presence_overrides(data, texts)))
        preds = self.model.postprocess_result(
            torch.stack([o['logits'] for o in outs], 1), samples)
        scores = torch.stack([o['object_score_logits'] for o in outs], 1)
        presence = torch.stack([o['presence'] for o in outs], 1)
        for k, pred in enumerate(preds):
            pred.set_field(scores[k].cpu(), 'object_scores',
                           field_type='data')
            pred.pred_presence = presence[k].cpu()
        return preds

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
                logits=p.seg_logits.data.cpu().numpy().astype(np.float32),
                **({'object_scores': p.object_scores.numpy().astype(
                    np.float32)} if 'object_scores' in p else {}),
                **({'presence': p.pred_presence.cpu().numpy().astype(
                    np.float32)} if 'pred_presence' in p else {}))
                for text, p in zip(texts, preds)]
        return dict(predictions=predictions,
                    frame_times=list(frames.times),
                    sampled=list(frames.sampled),
                    clip_seconds=media.clip_seconds,
                    audio_source=media.audio_source,
                    warnings=list(media.warnings),
                    visualization=visualization)


__all__ = ['RefAVSInferencer', 'clip_settings']
