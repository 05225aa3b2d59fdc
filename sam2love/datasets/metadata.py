"""Parsing Ref-AVS ``metadata.csv`` (columns ``vid, uid, split, fid, exp``)."""
import csv
import io
from dataclasses import dataclass

from mmengine import fileio

from .errors import RefAVSDataError

#: Splits of the release, in the benchmark's order.
SPLITS = ('train', 'val', 'test_s', 'test_u', 'test_n')
#: Split values the benchmark ignores (rows not yet annotated).
IGNORED_SPLITS = ('TODO', )
COLUMNS = ('vid', 'uid', 'split', 'fid', 'exp')
#: Folder prefixes of null clips: ``null_m-`` (expression matches nothing
#: shown), ``null_c-`` (audio of another clip).
NULL_PREFIXES = ('null_c-', 'null_m-')


def clip_name(uid: str) -> str:
    """The media / mask folder of a row: ``uid.rsplit('_', 2)[0]``.

    ``uid`` is ``<name>_<category>_<k>``. For null rows ``<name>`` is
    ``null_c-<vid>`` or ``null_m-<vid>``, so ``vid`` must not be used.
    """
    return uid.rsplit('_', 2)[0]


@dataclass(frozen=True)
class RefAVSRow:
    """One expression of ``metadata.csv``.

    Attributes:
        line (int): line number in the csv (header = 1).
        vid, uid, split, exp (str): the csv fields.
        fid (int): index of the referred object in the clip.
    """

    line: int
    vid: str
    uid: str
    split: str
    fid: int
    exp: str

    @property
    def name(self) -> str:
        return clip_name(self.uid)

    @property
    def category(self) -> str:
        return self.uid.rsplit('_', 2)[1]

    @property
    def is_null(self) -> bool:
        return self.name.startswith(NULL_PREFIXES)


def _parse_row(path: str, line: int, record: dict) -> RefAVSRow:
    uid = record['uid']
    parts = uid.rsplit('_', 2)
    if len(parts) != 3 or not all(parts) or not parts[2].isdigit():
        raise RefAVSDataError(
            path, f'line {line}: uid {uid!r} is not <name>_<category>_<k>')
    try:
        fid = int(record['fid'])
    except (TypeError, ValueError):
        raise RefAVSDataError(
            path, f'line {line}: fid {record["fid"]!r} is not an integer'
        ) from None
    if fid < 0:
        raise RefAVSDataError(path, f'line {line}: fid {fid} is negative')
    if not (record['exp'] or '').strip():
        raise RefAVSDataError(path, f'line {line}: empty expression')
    return RefAVSRow(line=line, vid=record['vid'], uid=uid,
                     split=record['split'], fid=fid, exp=record['exp'])


def read_metadata(path: str,
                  backend_args: dict | None = None,
                  errors: list[RefAVSDataError] | None = None
                  ) -> list[RefAVSRow]:
    """Read every row of a Ref-AVS ``metadata.csv`` in file order.

    Rows whose split is in :data:`IGNORED_SPLITS` are dropped, as the
    benchmark does; duplicated uids are kept (each row is an expression).

    Args:
        errors (list, optional): when given, a malformed row is appended
            to it as an error and skipped instead of raised, so that every
            bad row can be reported at once.

    Raises:
        RefAVSDataError: the file is missing, a column is missing, a row
            names an unknown split or has a malformed field.
    """
    try:
        text = fileio.get_text(path, backend_args=backend_args)
    except FileNotFoundError:
        raise RefAVSDataError(path, 'metadata file is missing') from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise RefAVSDataError(
            path, f'missing column(s) {", ".join(missing)}; '
            f'expected {", ".join(COLUMNS)}')
    rows = []
    for record in reader:
        line = reader.line_num
        split = record['split']
        if split in IGNORED_SPLITS:
            continue
        try:
            if split not in SPLITS:
                raise RefAVSDataError(
                    path, f'line {line}: unknown split {split!r}; expected '
                    f'one of {", ".join(SPLITS + IGNORED_SPLITS)}')
            rows.append(_parse_row(path, line, record))
        except RefAVSDataError as e:
            if errors is None:
                raise
            errors.append(e)
    return rows
