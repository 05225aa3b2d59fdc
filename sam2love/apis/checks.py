"""Checks of what a user gives the inferencer besides the media: the
expressions and the time window."""
from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def check_texts(texts: str | Sequence[str]) -> list[str]:
    """One or several expressions as a list of stripped strings.

    Raises:
        TypeError: ``texts`` is not a string or a sequence of strings
            (None, a number, bytes, ...).
        ValueError: no expression, or an empty one.
    """
    if isinstance(texts, str):
        texts = [texts]
    elif isinstance(texts, (bytes, bytearray)):
        raise TypeError('texts must be str, not bytes: decode them first '
                        "(e.g. texts.decode('utf-8'))")
    elif texts is None or isinstance(texts, Mapping) or \
            not isinstance(texts, Iterable):
        raise TypeError('texts must be an expression (str) or a list of '
                        f'them, got {type(texts).__name__}')
    texts = list(texts)
    if not texts:
        raise ValueError('give at least one expression')
    for i, text in enumerate(texts):
        if isinstance(text, (bytes, bytearray)):
            raise TypeError(f'expression {i} is bytes ({text!r}), not str: '
                            "decode it first (e.g. .decode('utf-8'))")
        if not isinstance(text, str):
            raise TypeError(f'expression {i} is of type '
                            f'{type(text).__name__} ({text!r}), not str')
        if not text.strip():
            raise ValueError(f'expression {i} is empty ({text!r}): give a '
                             'sentence that names the object')
    return [t.strip() for t in texts]


def _is_time(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, bool) and bool(np.isfinite(value))


def check_window(start: float, end: float | None = None) -> None:
    """Raise ``ValueError`` unless ``start`` is a time >= 0 (s) and
    ``end``, when given, comes after it."""
    if not _is_time(start) or start < 0:
        raise ValueError(f'start must be a time >= 0 (s), got {start!r}')
    if end is not None and (not _is_time(end) or end <= start):
        raise ValueError(f'end must be a time after start ({start:g} s), '
                         f'got {end!r}')
