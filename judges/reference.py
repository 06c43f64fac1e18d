"""``reference:chrf``: a judge with no model, which compares each answer with the task's reference.

Each answer gets its chrF score against the question's reference answer (sacrebleu's sentence
chrF: character 1-6-grams, recall weighted twice as much as precision, whitespace ignored, so it
works on Chinese text as well as English). The answer with the higher score wins; scores within
:data:`TIE_MARGIN` points of each other are a tie. The verdict depends only on the two scores, so
it cannot change when the answers swap slots, and it costs nothing to compute.

What it measures: how much of the reference's wording an answer covers, and how little else it
says. That separates readable, on-topic answers from gibberish, truncated, off-topic or
wrong-language ones, which is what a small offline model's answers mostly differ in.

What it cannot see (why an API judge is still the judge for a real comparison): whether an answer
is *correct* when it uses the reference's words (a negation or a wrong number barely moves the
score); correct answers worded differently from the reference; anything the reference leaves out.
It needs a reference answer: a question without one gets an ``error`` verdict, never a guess.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from harness.core.errors import HarnessError, SpecError

Verdict = tuple[str | None, str, int]
"""(meaning, or None on error; the scores as text; attempts), as the judges record verdicts."""

SCHEME = "reference"
METRICS = {"chrf": "chrF (character 1-6-grams, beta 2)"}
TIE_MARGIN = 2.0
"""chrF points (0-100): closer scores are a tie, since such differences are wording, not quality."""
METHOD = "reference"
"""Recorded as the verdicts' method; the reports explain it (:mod:`harness.core.methods`)."""


def is_reference(spec: str) -> bool:
    """Whether a judge spec names a reference judge (``reference`` or ``reference:METRIC``)."""
    return spec.split(":", 1)[0] == SCHEME


@dataclass(frozen=True)
class ReferenceJudge:
    """Scores answers against the reference answer; see the module docstring."""

    spec: str
    metric: str = "chrf"
    margin: float = TIE_MARGIN
    _scores: dict[tuple[str, str], float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        """What the judge's verdicts are recorded under as their "prompt"."""
        return f"{SCHEME}:{self.metric}"

    @property
    def hash(self) -> str:
        """Stands in for a prompt hash: changes when the metric, its settings or the margin do."""
        text = f"{self.name}|{_chrf().get_signature()}|margin={self.margin}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def score(self, answer: str, reference: str) -> float:
        """The answer's chrF against the reference, 0-100.

        >>> judge = ReferenceJudge("reference:chrf")
        >>> judge.score("Diversification spreads risk.", "Diversification spreads risk.")
        100.0
        >>> judge.score("", "Diversification spreads risk.")
        0.0
        """
        key = (answer, reference)
        if key not in self._scores:
            found = _chrf().sentence_score(answer, [reference]).score if answer.strip() else 0.0
            self._scores[key] = float(found)
        return self._scores[key]

    def compare(self, answer_1: str, answer_2: str, reference: str | None) -> Verdict:
        """``(meaning, raw, attempts)`` for Assistant 1 against Assistant 2; ``None`` meaning (an
        ``error`` verdict) when there is no reference to compare with.

        >>> judge = ReferenceJudge("reference:chrf")
        >>> ref = "Index funds hold every stock of an index, so fees and risk stay low."
        >>> good, bad = "Index funds hold every stock of an index; fees stay low.", "Fnds Xhld idex"
        >>> [judge.compare(one, two, ref)[0] for one, two in ((good, bad), (bad, good), (good, good))]
        ['better', 'worse', 'equal']
        """
        if not reference or not reference.strip():
            return None, "no reference answer for this question: a reference judge cannot compare", 1
        one, two = self.score(answer_1, reference), self.score(answer_2, reference)
        meaning = "equal" if abs(one - two) < self.margin else "better" if one > two else "worse"
        raw = (f"{meaning}\n[{METRICS[self.metric]} against the reference answer] "
               f"Assistant 1: {one:.2f}; Assistant 2: {two:.2f}; tie margin {self.margin:g}")
        return meaning, raw, 1

    def cannot_grade(self) -> HarnessError:
        """The error for single-answer grading, which a reference judge does not do."""
        return HarnessError(f"judge {self.spec!r} compares two answers; it cannot grade single "
                            "answers (use a pairwise judge prompt)")

    def verdicts(self, shown: Sequence[tuple[tuple[str, ...], str | None]],
                 progress: Callable[[int], None] = lambda n: None) -> list[Verdict]:
        """One verdict per ``(answers in slot order, reference)``."""
        out = []
        for answers, reference in shown:
            if len(answers) != 2:
                raise self.cannot_grade()
            out.append(self.compare(answers[0], answers[1], reference))
            progress(1)
        return out


def create(spec: str) -> ReferenceJudge:
    """The judge for ``reference`` or ``reference:METRIC``; an unknown metric is a spec error."""
    metric = spec.split(":", 1)[1] if ":" in spec else "chrf"
    if metric not in METRICS:
        raise SpecError(f"judge spec {spec!r}: unknown reference metric {metric!r} "
                        f"(known: {', '.join(METRICS)})")
    return ReferenceJudge(spec, metric)


@lru_cache(maxsize=1)
def _chrf() -> Any:
    try:
        from sacrebleu.metrics import CHRF
    except ImportError:
        raise HarnessError("the reference judge needs sacrebleu: pip install sacrebleu") from None
    return CHRF(char_order=6, word_order=0, beta=2)
