"""Exact near-duplicate detection by ROUGE-L, for filtering generated instructions (issue 20).

Self-Instruct keeps a generated instruction only if its ROUGE-L F-measure against every
instruction kept so far is below 0.7. :func:`naive_find` is that rule as written (one ROUGE-L per
kept record); :class:`NearDuplicateIndex` returns the same answer for every input while computing
ROUGE-L for only a handful of records. Its filters can only let too many records through, never
too few, and every survivor is scored by the same arithmetic as the naive rule, so both decide
alike even where a score equals the threshold exactly:

* length: ``F = 2 L / (n + m)`` with ``L <= min(n, m)``, so ``F >= t`` needs
  ``t / (2 - t) <= m / n <= (2 - t) / t``;
* count: ``L`` is at most the multiset overlap of the two token lists, so ``F >= t`` needs an
  overlap of at least ``t (n + m) / 2``. The index keeps, for each token tagged with its
  occurrence (the k-th "the" is ``("the", k)``, so a multiset is a set), the records holding it;
  a query's overlap with every record is one ``numpy.bincount`` over its tokens' lists, and only
  records past both filters get an exact ROUGE-L (the bit-parallel LCS).

The count filter is much stronger than a prefix filter here (short texts, where a prefix is half
the text), and the counting runs in C: per query it reads its tokens' posting lists, so a common
word costs in proportion to how many records hold it.

:meth:`NearDuplicateIndex.nearest` answers the other question, the ``k`` most similar records (a
report's nearest training records to a lost question), with the overlap count as an upper bound.

Tokens are what :func:`rouge_tokens` makes: lower-cased ASCII words and single CJK characters, so
Chinese is compared by characters. Does NOT stem, drop stop words, split other scripts (Japanese
kana, Korean, Cyrillic... are dropped), or compute ROUGE-L's sentence-level union LCS
(ROUGE-Lsum); the F-measure has beta 1 (precision and recall weigh the same). Pure: no files,
no models.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor

import numpy as np

from harness.core.text import HAN

_TOKEN = re.compile(f"[a-z0-9]+|[{HAN}]")
# A float score 2L/(n+m) can round up onto the threshold from just below it (by at most half an
# ulp, a relative 2**-53); the filters use a threshold lowered by 2**-40 of itself so that they only
# ever keep more records than the float comparison needs.
_SLACK = 1 - Fraction(1, 2**40)


def rouge_tokens(text: str) -> tuple[str, ...]:
    """Lower-cased ASCII-alphanumeric words ([a-z0-9]+ after lower()), and each CJK character
    (U+3400-U+4DBF, U+4E00-U+9FFF, U+F900-U+FAFF) as its own token, in text order. Chinese is thus
    compared by characters. Punctuation and spacing are dropped.

    >>> rouge_tokens("Write 3 POEMS, 请写诗！")
    ('write', '3', 'poems', '请', '写', '诗')
    """
    return tuple(_TOKEN.findall(text.lower()))


def _masks(a: Sequence[str]) -> dict[str, int]:
    """Bit i of ``masks[token]`` is set where ``a[i] == token``."""
    masks: dict[str, int] = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    return masks


def _lcs_masks(masks: dict[str, int], n: int, b: Sequence[str]) -> int:
    # Hyyro's form of Allison-Dix: bit i of v is 0 where the LCS row steps up at a[i]; one
    # add-and-or per token of b replaces a whole row of the dynamic programme.
    full = (1 << n) - 1
    v = full
    for token in b:
        u = v & masks.get(token, 0)
        if u:
            v = ((v + u) | (v - u)) & full
    return n - v.bit_count()


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Longest common subsequence length; bit-parallel (Allison-Dix / Hyyro: one big-int row
    update per token of b), which is ~10x faster than the dynamic programme in pure Python.

    >>> lcs_length("abcbdab", "bdcaba"), lcs_length([], ["x"])
    (4, 0)
    """
    return _lcs_masks(_masks(a), len(a), b)


def _f_measure(lcs: int, n: int, m: int) -> float:
    # The one expression for a score: the index and the naive rule must produce the same float.
    return 2 * lcs / (n + m) if n and m else 0.0


def rouge_l(a: Sequence[str], b: Sequence[str]) -> float:
    """ROUGE-L F-measure (beta 1): 2*LCS/(len(a)+len(b)); 0.0 when either is empty.

    Example: 10 tokens each with 7 in common in order gives 14/20, exactly the 0.7 threshold.

    >>> a = rouge_tokens("please write a short poem about the sea at night")
    >>> b = rouge_tokens("please write one long poem about the sea by night")
    >>> lcs_length(a, b), rouge_l(a, b), rouge_l(a, [])
    (7, 0.7, 0.0)
    """
    return _f_measure(lcs_length(a, b), len(a), len(b))


@dataclass(frozen=True)
class Match:
    """The kept record a query duplicates."""

    index: int
    """Position of the kept record, in insertion order."""
    score: float
    """Its ROUGE-L F-measure with the query."""


def _check_threshold(threshold: float) -> None:
    if not 0 < threshold <= 1:
        # At 0 every record (even an empty one) would duplicate everything; above 1 nothing can.
        raise ValueError(f"threshold must be in (0, 1], not {threshold!r}")


def naive_find(tokens: Sequence[str], kept: Sequence[Sequence[str]],
               threshold: float = 0.7) -> Match | None:
    """The reference rule: rouge_l against every kept record (the quadratic loop).

    Returns the kept record with the highest score ``>= threshold`` (ties: the lowest index).

    >>> naive_find(["a", "b", "c"], [["x"], ["a", "b", "d"], ["a", "b", "c", "d"]], 0.6)
    Match(index=2, score=0.8571428571428571)
    """
    _check_threshold(threshold)
    best: Match | None = None
    for index, record in enumerate(kept):
        score = rouge_l(tokens, record)
        if score >= threshold and (best is None or score > best.score):
            best = Match(index, score)
    return best


def _tagged(tokens: Sequence[str]) -> list[tuple[str, int]]:
    """``(token, k)`` for the k-th (from 0) occurrence of each token: the multiset as a set."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for token in tokens:
        out.append((token, seen[token]))
        seen[token] += 1
    return out


class NearDuplicateIndex:
    """Kept token sequences, searchable for the one a query near-duplicates (ROUGE-L F >= threshold).

    ``find`` returns exactly what :func:`naive_find` returns on the records added so far.

    >>> index = NearDuplicateIndex()
    >>> for text in ["Write a poem about the sea.", "List three prime numbers.", "写一首关于大海的诗。"]:
    ...     _ = index.add(rouge_tokens(text))
    >>> index.find(rouge_tokens("Write a short poem about the sea!"))
    Match(index=0, score=0.9230769230769231)
    >>> index.find(rouge_tokens("写一首关于高山的诗")), index.find(rouge_tokens("Name two rivers."))
    (Match(index=2, score=0.7777777777777778), None)
    """

    def __init__(self, threshold: float = 0.7) -> None:
        _check_threshold(threshold)
        self.threshold = threshold
        self._loose = Fraction(threshold) * _SLACK
        self._ratio = self._loose / (2 - self._loose)
        self._records: list[tuple[str, ...]] = []
        self._lengths = _Growing()
        self._postings: dict[tuple[str, int], _Growing] = {}
        """Tagged token -> the indices of the records holding it, in insertion order."""
        self._needs: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._records)

    def add(self, tokens: Sequence[str]) -> int:
        """Keep ``tokens``; returns the new record's index (0, 1, 2, ... in insertion order)."""
        index = len(self._records)
        self._records.append(tuple(tokens))
        self._lengths.append(len(tokens))
        for key in _tagged(tokens):
            found = self._postings.get(key)
            if found is None:
                found = self._postings[key] = _Growing()
            found.append(index)
        return index

    def _need(self, n: int, longest: int) -> np.ndarray:
        """``need[m]``: the multiset overlap a record of ``m`` tokens needs with a query of ``n``,
        for ``m`` up to ``longest``; past the length filter's range, more than any overlap."""
        need = self._needs.get(n)
        if need is None:
            shortest = ceil(n * self._ratio)
            # Exact rationals: a float ceil could round a bound the wrong way and lose a match.
            need = np.array([ceil(self._loose * (n + m) / 2) if m >= shortest else n + m + 1
                             for m in range(longest + 1)], dtype=np.int64)
            self._needs[n] = need
        return need

    def find(self, tokens: Sequence[str]) -> Match | None:
        """The kept record with the highest ROUGE-L F ``>= threshold`` (ties: the lowest index), or
        None; always equal to ``naive_find(tokens, kept, threshold)``."""
        n = len(tokens)
        if not n or not self._records:
            return None
        # Every record sharing a tagged token with the query, counted once per shared token: the
        # multiset overlap with every record at once, in C, from the posting lists.
        lists = [p.view() for p in map(self._postings.get, _tagged(tokens)) if p is not None]
        if not lists:
            return None
        overlap = np.bincount(np.concatenate(lists), minlength=len(self._records))
        longest = floor(n / self._ratio)
        lengths = self._lengths.view()
        need = self._need(n, longest)
        fits = lengths <= longest
        keep = np.zeros(len(lengths), dtype=bool)
        keep[fits] = overlap[fits] >= need[lengths[fits]]
        candidates = np.flatnonzero(keep)
        if not len(candidates):
            return None
        masks = _masks(tokens)
        best: Match | None = None
        for index in candidates.tolist():  # ascending: ties keep the lowest index
            record = self._records[index]
            score = _f_measure(_lcs_masks(masks, n, record), n, len(record))
            if score >= self.threshold and (best is None or score > best.score):
                best = Match(index, score)
        return best

    def nearest(self, tokens: Sequence[str], k: int = 3) -> list[Match]:
        """The ``k`` kept records with the highest ROUGE-L F against ``tokens``, best first (ties:
        the lowest index), whatever the threshold; a record sharing no token with the query scores
        0 and is never returned, so fewer than ``k`` come back when fewer share one. Always equal to
        :func:`naive_nearest`.

        The multiset overlap bounds each record's LCS, so ``2 * overlap / (n + m)`` bounds its score
        from above (by the same float arithmetic); records are scored in the order of that bound,
        and the search stops at the first bound below the k-th best score found.

        >>> index = NearDuplicateIndex()
        >>> for text in ["Write a poem about the sea.", "List three prime numbers.", "A poem, please."]:
        ...     _ = index.add(rouge_tokens(text))
        >>> index.nearest(rouge_tokens("Write a short poem about the sea!"), k=2)
        [Match(index=0, score=0.9230769230769231), Match(index=2, score=0.4)]
        >>> index.nearest(rouge_tokens("Name two rivers."))
        []
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k!r}")
        n = len(tokens)
        lists = [p.view() for p in map(self._postings.get, _tagged(tokens)) if p is not None]
        if not n or not lists:
            return []
        overlap = np.bincount(np.concatenate(lists), minlength=len(self._records))
        candidates = np.flatnonzero(overlap)
        bounds = 2 * overlap[candidates] / (n + self._lengths.view()[candidates])
        masks = _masks(tokens)
        best: list[Match] = []
        for i in np.lexsort((candidates, -bounds)).tolist():  # highest bound first, then lowest index
            if len(best) == k and bounds[i] < best[-1].score:
                break  # no record left can reach the k-th score (an equal bound may tie it: scored)
            index = int(candidates[i])
            record = self._records[index]
            best.append(Match(index, _f_measure(_lcs_masks(masks, n, record), n, len(record))))
            best = sorted(best, key=lambda m: (-m.score, m.index))[:k]
        return best


def naive_nearest(tokens: Sequence[str], kept: Sequence[Sequence[str]], k: int = 3) -> list[Match]:
    """The reference for :meth:`NearDuplicateIndex.nearest`: rouge_l against every kept record,
    the ``k`` best with a score above 0, best first (ties: the lowest index).

    >>> naive_nearest(["a", "b", "c"], [["x"], ["a", "b", "d"], ["c", "a"]], k=5)
    [Match(index=1, score=0.6666666666666666), Match(index=2, score=0.4)]
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k!r}")
    scored = [Match(i, rouge_l(tokens, record)) for i, record in enumerate(kept)]
    return sorted((m for m in scored if m.score > 0), key=lambda m: (-m.score, m.index))[:k]


class _Growing:
    """An int64 array that grows by doubling: appends are amortised O(1) and :meth:`view` costs
    nothing, so a posting list is read by numpy without being copied from a Python list."""

    __slots__ = ("_data", "_size")

    def __init__(self) -> None:
        self._data = np.empty(4, dtype=np.int64)
        self._size = 0

    def append(self, value: int) -> None:
        if self._size == len(self._data):
            self._data = np.concatenate([self._data, np.empty(len(self._data), dtype=np.int64)])
        self._data[self._size] = value
        self._size += 1

    def view(self) -> np.ndarray:
        return self._data[: self._size]
