"""Where the files of a Ref-AVS clip live (the release layout)."""
import os.path as osp


def clip_files(data_root: str, name: str, num_frames: int,
               media_dir: str = 'media') -> dict:
    """Frames and audio of clip folder ``name``.

    Returns:
        dict: ``frame_dir``, ``frame_paths`` (``frames/0.jpg`` ...
        ``frames/{T-1}.jpg``) and ``audio_path`` (``audio.wav``).
    """
    clip = osp.join(data_root, media_dir, name)
    return dict(
        frame_dir=osp.join(clip, 'frames'),
        frame_paths=[osp.join(clip, 'frames', f'{i}.jpg')
                     for i in range(num_frames)],
        audio_path=osp.join(clip, 'audio.wav'))


def mask_files(data_root: str, name: str, fid: int, num_frames: int,
               mask_dir: str = 'gt_mask') -> dict:
    """Masks of object ``fid`` in clip ``name``.

    Returns:
        dict: ``mask_dir`` (``gt_mask/<name>/fid_<fid>``) and
        ``mask_paths`` (``00000.png`` ... ``{T-1:05d}.png``).
    """
    folder = osp.join(data_root, mask_dir, name, f'fid_{fid}')
    return dict(mask_dir=folder,
                mask_paths=[osp.join(folder, f'{i:05d}.png')
                            for i in range(num_frames)])


def data_root_of_frames(frame_path: str, media_dir: str = 'media') -> str:
    """The data root of a frame ``<root>/<media_dir>/<name>/frames/<i>.jpg``
    (``frame_paths`` of a :class:`~sam2love.datasets.RefAVSDataset` sample;
    ``media_dir`` is one folder name, the dataset's default ``'media'``).

    Raises:
        ValueError: the path is not in that layout.
    """
    frames_dir = osp.dirname(osp.normpath(frame_path))
    media = osp.dirname(osp.dirname(frames_dir))
    if osp.basename(frames_dir) != 'frames' or \
            osp.basename(media) != media_dir:
        raise ValueError(
            f'{frame_path}: not a frame of the release layout '
            f'<root>/{media_dir}/<name>/frames/<i>.jpg; cannot tell its data '
            'root')
    return osp.dirname(media) or '.'
