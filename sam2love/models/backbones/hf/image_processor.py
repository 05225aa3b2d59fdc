"""A local folder's image processor settings (``preprocessor_config.json``):
the normalisation and input size a vision encoder was trained with."""
import json
import os.path as osp


def read_processor_config(folder: str | None) -> dict:
    """``folder/preprocessor_config.json`` (empty when there is none)."""
    if folder is None:
        return {}
    path = osp.join(folder, 'preprocessor_config.json')
    if not osp.isfile(path):
        return {}
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f'{path}: not valid JSON ({err})') from err


def read_image_stats(folder: str | None) -> dict:
    """``image_mean`` / ``image_std`` of ``folder/preprocessor_config.json``
    (empty when there is no such file; 0 / 1 when it says
    ``do_normalize: false``)."""
    processor = read_processor_config(folder)
    if processor.get('do_normalize') is False:
        return dict(image_mean=(0.0, 0.0, 0.0), image_std=(1.0, 1.0, 1.0))
    return {key: processor[key] for key in ('image_mean', 'image_std')
            if key in processor}


def processor_image_size(folder: str | None) -> int | None:
    """Side of the square input the folder's image processor makes
    (``crop_size`` when it crops, else ``size``), or None."""
    processor = read_processor_config(folder)
    for key in ('crop_size', 'size'):
        if key == 'crop_size' and processor.get('do_center_crop') is False:
            continue
        size = processor.get(key)
        if isinstance(size, int):
            return size
        if isinstance(size, dict):
            if 'height' in size and size['height'] == size.get('width'):
                return int(size['height'])
            if 'shortest_edge' in size:
                return int(size['shortest_edge'])
    return None
