"""Reading a verdict label out of a judge's free-text reply, or its probabilities out of the
likeliest tokens at the verdict position."""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from harness.core.types import TokenAlternatives
from harness.models.calls import logprob_problem

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


def token_key(text: str) -> str:
    """What of a label or a token counts when a verdict is read from log-probabilities: its letters
    and digits, lower-cased (spacing, brackets and markup around a label are their own tokens).

    >>> token_key("[[A]]"), token_key(" 1"), token_key("**"), token_key("平局")
    ('a', '1', '', '平局')
    """
    return "".join(c for c in text.lower() if c.isalnum())


def soft_verdict(top: Sequence[TokenAlternatives], labels: Mapping[str, T]) -> dict[T, float] | None:
    """The probability of each meaning at the verdict position, or None when it cannot be read.

    The verdict position is the reply's first token with a letter or digit (spacing and markup
    before it are skipped), and the token written there must be a label: a judge that began with
    other words ("A better answer is 1") gave its verdict later, where the alternatives were
    conditioned on those words, so its probabilities are not read (None; a prompt asking for a
    one-token verdict avoids that). Each likeliest token at the position whose
    :func:`token_key` is a label's key adds its probability to that label's meaning; the sums are
    renormalised to 1, so a meaning outside the returned alternatives gets 0. An alternative there
    whose log-probability is no number in (-inf, 0] (800, Infinity, NaN) makes the position
    unreadable (None): its probabilities would not add up to anything.

    >>> import math
    >>> top = [("[[", (("[[", -0.01),)), ("A", (("A", math.log(0.6)), ("B", math.log(0.3)),
    ...                                           ("b", math.log(0.05)), ("The", math.log(0.05))))]
    >>> soft = soft_verdict(top, {"[[A]]": "better", "[[B]]": "worse", "[[C]]": "equal"})
    >>> {k: round(v, 4) for k, v in soft.items()}
    {'better': 0.6316, 'worse': 0.3684, 'equal': 0.0}
    >>> soft_verdict([("A", (("A", -0.1), ("1", -2.0)))], {"1": "better", "2": "worse"}) is None
    True
    >>> soft_verdict([("1", (("1", 800.0), ("2", -1.0)))], {"1": "better", "2": "worse"}) is None
    True
    """
    keys: dict[str, T] = {token_key(label): meaning for label, meaning in labels.items()}
    for token, alternatives in top:
        if not token_key(token):
            continue
        if token_key(token) not in keys:
            return None
        if any(logprob_problem(logprob) for _, logprob in alternatives):
            return None
        mass = dict.fromkeys(labels.values(), 0.0)
        for alt, logprob in alternatives:
            meaning = keys.get(token_key(alt))
            if meaning is not None:
                mass[meaning] += math.exp(logprob)
        total = math.fsum(mass.values())
        return {m: p / total for m, p in mass.items()} if total > 0 else None
    return None


def soft_label_problem(labels: Mapping[str, Any]) -> str:
    """Why these labels cannot be told apart by their tokens' keys (empty when they can): each
    label needs its own non-empty :func:`token_key`.

    >>> soft_label_problem({"[[A]]": "better", "[[B]]": "worse"})
    ''
    >>> soft_label_problem({"A!": "better", "a": "worse"})
    "labels 'A!' and 'a' read the same as tokens ('a')"
    """
    seen: dict[str, str] = {}
    for label in labels:
        key = token_key(label)
        if not key:
            return f"label {label!r} has no letter or digit"
        if key in seen:
            return f"labels {seen[key]!r} and {label!r} read the same as tokens ({key!r})"
        seen[key] = label
    return ""


def verdict_schema(labels: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON schema a structured judge's reply follows: its explanation, then one of the prompt's
    labels (written in that order, so the model reasons before it decides).

    >>> verdict_schema({"[[A]]": "better", "[[B]]": "worse"})["properties"]["verdict"]["enum"]
    ['[[A]]', '[[B]]']
    """
    return {"type": "object",
            "properties": {"explanation": {"type": "string"},
                           "verdict": {"type": "string", "enum": list(labels)}},
            "required": ["explanation", "verdict"], "additionalProperties": False}


def parse_structured(reply: str, labels: Mapping[str, T]) -> T | None:
    """The meaning of a structured reply's ``verdict``; else, for an endpoint that ignored the
    schema or a reply that is not that JSON, the last label in the text (:func:`parse_verdict`).

    >>> labels = {"[[A]]": "better", "[[B]]": "worse", "[[C]]": "equal"}
    >>> parse_structured('{"explanation": "B cites [[A]] wrongly", "verdict": "[[B]]"}', labels)
    'worse'
    >>> parse_structured("Plain text after all: [[C]]", labels)
    'equal'
    """
    try:
        data = json.loads(reply)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("verdict"), str):
        found = parse_verdict(data["verdict"], labels)
        if found is not None:
            return found
    return parse_verdict(reply, labels)
