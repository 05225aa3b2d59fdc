"""Reading back what :func:`~.synthetic.make_synthetic_refavs` records in
``synthetic_info.json`` about each row (analysis tools only: the Ref-AVS
release has no such file)."""
import json
import os.path as osp


def read_synthetic_info(data_root: str) -> dict:
    """``<data_root>/synthetic_info.json``, with a clear error when the data
    set has none."""
    path = osp.join(data_root, 'synthetic_info.json')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: missing; a data set written by '
            f'tools/make_synthetic_refavs.py is needed')
    with open(path) as f:
        return json.load(f)


def read_referents(data_root: str) -> tuple[dict, list, list]:
    """Expression kind and referred category of every row.

    Returns:
        tuple: ``rows`` mapping uid -> ``(kind, colour, shape)``, where
        colour and shape index ``colours`` / ``shapes`` (both None for a
        null row), and the sorted ``colours`` and ``shapes`` of the data
        set's categories.
    """
    info = read_synthetic_info(data_root)
    categories = info['categories']
    colours = sorted({c['colour'] for c in categories.values()})
    shapes = sorted({c['shape'] for c in categories.values()})
    rows = {}
    for uid, row in info['rows'].items():
        cat = categories[row['referent']] if row.get('referent') else None
        rows[uid] = (row['kind'], cat and colours.index(cat['colour']),
                     cat and shapes.index(cat['shape']))
    return rows, colours, shapes
