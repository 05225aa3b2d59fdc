"""Null references made at training time: a row's clip with the expression
of another clip that names something this clip does not show
(absent-referent), or a row's sound-asking expression with the audio of
another clip whose objects this clip does not show (mismatched audio, as
the release's ``null_c-`` clips) or with silence (silent scene).

The Ref-AVS release has few null rows (608 of 14,113 train rows, ~4 %; 35
of 965 in the synthetic set), too few for a presence switch to learn that
"the red triangle" is not in a clip. :class:`NullNegativeSampler` makes
absent-referent negatives from the ordinary rows instead, with no other
annotation than ``metadata.csv``:

- **What an expression names**: the words it shares with the data set's
  category names (``uid``'s ``<category>``, split on ``-``, ``_`` and
  spaces). "The blue triangle." names ``{blue, triangle}``; "The object
  making a sound." names nothing and is never used (it refers to whatever
  sounds, in any clip).
- **What a clip shows**: the categories of every row of that clip in the
  csv (any split).
- **A lent expression is absent from a clip**, by ``match``:
  ``'word'`` (the default) when the clip's categories carry none of the
  words it names: right when an expression names several objects, as the
  release's do ("the boy playing a drum" is not absent from a clip of a
  boy and a drum); ``'object'`` when no single category carries every word
  it names: right when category words are attributes of one object, as in
  the synthetic set ("the blue triangle" is absent from a clip of a blue
  square and a red triangle; "the triangle" is not). ``'object'`` makes
  the hard negatives (the colour or the shape is on screen, not both).

- **Lent audio** (``'audio'``): only for an expression that asks for a
  sound (a word of :data:`SOUND_WORDS`, none of :data:`SILENCE_WORDS`) and
  names no category, as every null row of the release does ("The first
  object to make a sound"); the lent clip's categories must all be absent
  from the row's clip (by ``match``), so that nothing on screen makes the
  sound heard. **Silence** (``'silence'``) is for the same expressions.

The clip's categories come from its rows, so an object that no expression
refers to is unknown and can make a negative wrong: on the synthetic set
(~16 % of the objects on screen have no row) 1.9 % / 2.3 % of the (row,
lent expression) pairs of seeds 0 / 1 with ``'object'``; on the release,
people who play an instrument are often on screen without a row.
``tools/analysis_tools/null_negatives.py`` counts them.
"""
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, chain
from typing import NamedTuple

from .metadata import RefAVSRow

_WORD = re.compile(r'[a-z0-9]+')
#: words of an expression that asks for a sounding object
SOUND_WORDS = frozenset(
    'sound sounds sounding loud louder loudest pitch pitched rhythm noise '
    'singing sings song'.split())
#: words that make it ask for silence (or negate) instead
SILENCE_WORDS = frozenset(
    'silent silence quiet mute muted no not never didn without'.split())


def words(text: str) -> frozenset:
    """The lower-case words of ``text`` (runs of letters and digits)."""
    return frozenset(_WORD.findall(text.lower()))


def asks_for_sound(text: str) -> bool:
    """Whether an expression asks for a sounding object: a word of
    :data:`SOUND_WORDS`, none of :data:`SILENCE_WORDS` (category words
    allowed: "the sounding star")."""
    found = words(text)
    return bool(found & SOUND_WORDS) and not found & SILENCE_WORDS


class DonorExpression(NamedTuple):
    """An expression lent to another clip: its csv line, clip and text."""

    line: int
    clip_name: str
    text: str


class LentExpressions(Sequence):
    """The donor rows a clip may borrow an expression from, one entry per
    row: the concatenation of the rows of each named set it does not show
    (lists shared, not copied: a clip holds a reference per set, not one
    per row). A uniform index draws a text as often as rows use it."""

    def __init__(self, parts: list) -> None:
        self.parts = [p for p in parts if p]
        self.ends = list(accumulate(len(p) for p in self.parts))

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def __getitem__(self, index: int) -> DonorExpression:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        part = bisect_right(self.ends, index)
        start = self.ends[part - 1] if part else 0
        return self.parts[part][index - start]

    def __iter__(self) -> Iterator[DonorExpression]:
        return chain.from_iterable(self.parts)


class NullNegativeSampler:
    """For each clip, the expressions of other clips that name something it
    does not show, and the clips whose sound none of its objects makes.

    Every donor row lends its expression, repeated texts included: a made
    null's text is an ordinary row's text drawn at random among those
    naming something the clip does not show, so a text's form ("the
    object that makes a sound after the red triangle stops") does not
    tell that the row is null. Drawing each distinct text once instead
    lent the synthetic set's temporal expressions (a distinct text per
    category and clip) 3.2 / 3.9 times per row using them (seeds 0 / 1 of
    the quick start), the vision ones 0.9 times, and a presence check
    learnt the form of the sentence rather than looking at the frame
    (docs/presence.md). What a text names still matters, as it should: a
    pair of words ("the red triangle") is absent from more clips than one.

    Args:
        all_rows (Iterable[RefAVSRow]): every row of the csv (what each
            clip shows).
        donor_rows (Iterable[RefAVSRow]): the rows whose expressions may be
            lent (the training split's ordinary rows), each row once.
        match (str): ``'word'`` or ``'object'`` (see the module).
    """

    MATCHES = ('word', 'object')

    def __init__(self, all_rows: Iterable[RefAVSRow],
                 donor_rows: Iterable[RefAVSRow],
                 match: str = 'word') -> None:
        if match not in self.MATCHES:
            raise ValueError(f'NullNegativeSampler: match must be one of '
                             f'{self.MATCHES}, got {match!r}')
        self.match = match
        self.clip_categories: dict = defaultdict(set)
        for row in all_rows:
            if not row.is_null:
                self.clip_categories[row.name].add(words(row.category))
        self.vocabulary = frozenset().union(
            *(w for cats in self.clip_categories.values() for w in cats))
        donor_rows = list(donor_rows)
        #: the donor rows, grouped by what they name
        self.donors: dict[frozenset, list[DonorExpression]] = {}
        #: the named sets each clip's own rows lend (never lent to it)
        self.own: dict[str, set] = defaultdict(set)
        for row in donor_rows:
            named = self.named(row.exp)
            if row.is_null or not named:
                continue
            self.donors.setdefault(named, []).append(
                DonorExpression(row.line, row.name, row.exp))
            self.own[row.name].add(named)
        #: clips that may lend their audio (ordinary donor rows' clips)
        self.sound_clips = sorted({r.name for r in donor_rows
                                   if not r.is_null})
        self._cache: dict = {}
        self._sound_cache: dict = {}

    def named(self, expression: str) -> frozenset:
        """The category words ``expression`` names (may be empty)."""
        return words(expression) & self.vocabulary

    def shows(self, clip_name: str, named: frozenset) -> bool:
        """Whether the clip may show what ``named`` names: a category of
        it carries one of the words (``'word'``) or all (``'object'``)."""
        cats = self.clip_categories[clip_name]
        if self.match == 'object':
            return any(named <= cat for cat in cats)
        return any(named & cat for cat in cats)

    def absent_expressions(self, clip_name: str) -> LentExpressions:
        """The donor rows (of other clips) whose expressions name nothing
        ``clip_name`` shows, one entry per row."""
        if clip_name not in self._cache:
            own = self.own.get(clip_name, ())
            self._cache[clip_name] = LentExpressions([
                [d for d in donors if d.clip_name != clip_name]
                if named in own else donors
                for named, donors in self.donors.items()
                if not self.shows(clip_name, named)])
        return self._cache[clip_name]

    def asks_for_sound(self, expression: str) -> bool:
        """Whether ``expression`` refers by sound alone: a sound word, no
        silence word, no category word."""
        found = words(expression)
        return bool(found & SOUND_WORDS) and not found & SILENCE_WORDS \
            and not found & self.vocabulary

    def absent_sounds(self, clip_name: str) -> Sequence[str]:
        """The other clips none of whose categories ``clip_name`` shows
        (their audio is a mismatched sound for it)."""
        if clip_name not in self._sound_cache:
            self._sound_cache[clip_name] = [
                other for other in self.sound_clips if other != clip_name
                and not any(self.shows(clip_name, cat)
                            for cat in self.clip_categories[other])]
        return self._sound_cache[clip_name]

    def lendable(self, clip_name: str, expression: str,
                 kinds: Sequence[str]) -> dict:
        """What an ordinary row (its clip and expression) can be made null
        with, per kind it allows among ``kinds``: ``'expression'`` ->
        :meth:`absent_expressions`, ``'audio'`` -> :meth:`absent_sounds`,
        ``'silence'`` -> ``[True]`` (the last two for an expression that
        :meth:`asks_for_sound`)."""
        asks = self.asks_for_sound(expression)
        found = {}
        for kind in kinds:
            if kind == 'expression':
                found[kind] = self.absent_expressions(clip_name)
            elif kind == 'audio':
                found[kind] = self.absent_sounds(clip_name) if asks else []
            else:
                found[kind] = [True] if asks else []
        return {kind: lent for kind, lent in found.items() if lent}


def null_share(rows: Sequence[RefAVSRow], split: str, prob: float,
               kinds: Sequence[str], match: str = 'word') -> float:
    """The expected share of null rows among ``split``'s rows as
    ``RefAVSDataset(null_negatives=dict(prob, kinds, match))`` draws them
    (the release's null rows and those made); ``(1 - share) / share`` is
    the ``null_weight`` that balances the presence BCE."""
    selected = [r for r in rows if r.split == split]
    sampler = NullNegativeSampler(rows, selected, match)
    made = sum(not r.is_null and bool(sampler.lendable(r.name, r.exp, kinds))
               for r in selected)
    null = sum(r.is_null for r in selected)
    return (null + prob * made) / max(len(selected), 1)
