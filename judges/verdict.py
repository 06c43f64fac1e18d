"""Reading a verdict label out of a judge's free-text reply."""

from __future__ import annotations

import re
from collections.abc import Mapping

_NON_WORD = re.compile(r"[^0-9a-z\u3400-\u9fff]+")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=[0-9])")


def _normalise(text: str) -> str:
    text = _LETTER_DIGIT.sub(" ", text.lower())
    return " " + _NON_WORD.sub(" ", text).strip() + " "


def parse_verdict(reply: str, labels: Mapping[str, str]) -> str | None:
    """The meaning of the last allowed label in ``reply``, or None when there is none.

    Markdown, quotes, case and spacing around the label do not matter; the label that ends last
    wins, because judges are told to put their verdict on the final line.

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
    """
    text = _normalise(reply)
    best: tuple[int, str] | None = None
    for label, meaning in labels.items():
        needle = _normalise(label)
        end = text.rfind(needle)
        if end >= 0 and (best is None or end + len(needle) > best[0]):
            best = (end + len(needle), meaning)
    return best[1] if best else None
