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
