"""Reading a verdict label out of a judge's free-text reply."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")

_MARKUP = re.compile(r"[*_`\"'“”‘’「」]")
_TOKENS = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?|\S")


def label_tokens(label: str) -> tuple[str, ...]:
    """What of ``label`` a reply must contain: its words, numbers and signs, without markup, case
    or a final full stop. Empty for a label that would match anywhere (prompts refuse it).

    >>> label_tokens("**Assistant 1** is better.")
    ('assistant', '1', 'is', 'better')
    >>> label_tokens("  ** ")
    ()
    """
    return tuple(t.lower() for t in _TOKENS.findall(_MARKUP.sub("", label).rstrip(".。!！")))


@functools.lru_cache(maxsize=256)
def _pattern(label: str) -> re.Pattern[str]:
    """A pattern for ``label`` that tolerates case, markup and spacing, but not a longer word.

    Tokens may be separated by any spacing ("Assistant1", "助手 1"); the label may not be glued to
    a letter or digit on either side ("[[1]]" never matches inside "[[10]]").
    """
    tokens = _TOKENS.findall(_MARKUP.sub("", label).rstrip(".。!！"))
    body = r"\s*".join(re.escape(t) for t in tokens)
    return re.compile(rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])", re.IGNORECASE)


def parse_verdict(reply: str, labels: Mapping[str, T]) -> T | None:
    """The meaning of the last allowed label in ``reply``, or None when there is none.

    The label that ends last wins, because judges are told to put their verdict on the final line.

    >>> labels = {"Assistant 1 is better than Assistant 2": "better",
    ...           "Assistant 1 is worse than Assistant 2": "worse",
    ...           "Assistant 1 is equal to Assistant 2": "equal"}
    >>> parse_verdict("Both are fine.\\nTherefore: **Assistant 1 is equal to Assistant 2.**", labels)
    'equal'
    >>> parse_verdict("Assistant 1 is better than Assistant 2? No: assistant1 is worse than assistant2",
    ...               labels)
    'worse'
    >>> parse_verdict("Both answers are good.", labels) is None
    True
    >>> parse_verdict("A is a bit vague, so [[B]]", {"[[A]]": "better", "[[B]]": "worse", "[[C]]": "equal"})
    'worse'
    >>> parse_verdict("Rating: [[10]]", {f"Rating: [[{n}]]": n for n in range(1, 11)})
    10
    """
    text = _MARKUP.sub("", reply)
    best: tuple[int, T] | None = None
    for label, meaning in labels.items():
        for match in _pattern(label).finditer(text):
            if best is None or match.end() > best[0]:
                best = (match.end(), meaning)
    return best[1] if best else None
