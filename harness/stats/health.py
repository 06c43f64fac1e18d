"""A judge's health in one word: usable, use with care, or do not use.

Read from the figures a run already has for each judge: the share of replies with no valid
verdict, swap consistency, the first slot's win rate, the probes' attack success rates, and the
agreement with people (Cohen's kappa against their majority, else against the one annotator) where
labels exist. Each figure is held against two stated thresholds (:data:`THRESHOLDS`); the judge's
verdict is the worst of its figures. A figure that was not measured counts for nothing, so a judge
with no probes and no human labels is judged on its own consistency alone (the line says which
figures were measured).

Not handled: weighting figures by how many items stand behind them beyond the first-slot interval
(a probe rate from three items counts like one from three hundred); a judge's accuracy on a task
without human labels, which no figure here measures.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.core.types import BiasCheck, CheckKind
from harness.stats.agreement import AgreementReport


class Health(enum.Enum):
    """The verdict, worst last; its value is what reports print."""

    USABLE = "usable"
    CARE = "use with care"
    AVOID = "do not use"

    @property
    def rank(self) -> int:
        return list(Health).index(self)


PARSE_FAILURES = (0.02, 0.10)
"""Share of replies with no valid verdict: above the first, use with care; above the second, do not use."""
SWAP_CONSISTENCY = (0.80, 0.60)
"""Below the first, use with care; below the second (more than 40% of verdicts flip), do not use."""
FIRST_SLOT = (0.10, 0.20)
"""Distance of the first slot's win rate from 50%, counted only when its 95% interval excludes 50%."""
PROBE_ATTACK = (0.20, 0.50)
"""A probe's attack success rate: above the first, use with care; above the second, do not use."""
HUMAN_KAPPA = (0.40, 0.20)
"""Cohen's kappa with people: below the first (fair or worse, after Landis and Koch), use with care;
below the second (slight or none), do not use."""

THRESHOLDS = (
    f"Judge health: do not use when more than {PARSE_FAILURES[1]:.0%} of replies have no valid verdict, "
    f"swap consistency is below {SWAP_CONSISTENCY[1]:.0%}, the answer shown first wins more than "
    f"{0.5 + FIRST_SLOT[1]:.0%} (or less than {0.5 - FIRST_SLOT[1]:.0%}) of decisive verdicts with its 95% "
    f"interval excluding 50%, a probe's attack success rate is above {PROBE_ATTACK[1]:.0%}, or Cohen's "
    f"kappa with people is below {HUMAN_KAPPA[1]:.2f}; use with care past the milder bounds "
    f"({PARSE_FAILURES[0]:.0%} failures, {SWAP_CONSISTENCY[0]:.0%} consistency, first slot beyond "
    f"{0.5 + FIRST_SLOT[0]:.0%} / {0.5 - FIRST_SLOT[0]:.0%}, attack rate {PROBE_ATTACK[0]:.0%}, kappa "
    f"{HUMAN_KAPPA[0]:.2f}); otherwise usable. Figures not measured count for nothing.")
"""The thresholds in words, as every report states them."""


@dataclass(frozen=True)
class Finding:
    """One figure of one judge and what it says about the judge."""

    text: str
    """The figure in words, e.g. ``swap consistency 55%``."""
    health: Health


@dataclass(frozen=True)
class JudgeHealth:
    """One judge's verdict and the figures behind it."""

    judge: str
    health: Health
    findings: tuple[Finding, ...]

    def line(self) -> str:
        """The report's one line, e.g. ``j: use with care (swap consistency 72%; measured: ...)``.

        >>> JudgeHealth("j", Health.CARE, (Finding("swap consistency 72%", Health.CARE),
        ...                                Finding("no parse failures", Health.USABLE))).line()
        'j: use with care (swap consistency 72%; also measured: no parse failures)'
        """
        bad = [f.text for f in self.findings if f.health is not Health.USABLE]
        fine = [f.text for f in self.findings if f.health is Health.USABLE]
        said = "; ".join(bad)
        if fine:
            said += ("; also measured: " if bad else "measured: ") + ", ".join(fine)
        return f"{self.judge}: {self.health.value} ({said or 'nothing measured'})"


def _above(value: float, bounds: tuple[float, float]) -> Health:
    return Health.AVOID if value > bounds[1] else Health.CARE if value > bounds[0] else Health.USABLE


def _below(value: float, bounds: tuple[float, float]) -> Health:
    return Health.AVOID if value < bounds[1] else Health.CARE if value < bounds[0] else Health.USABLE


def judge_health(judges: Sequence[str], failures: Mapping[str, tuple[int, int]],
                 checks: Sequence[BiasCheck], human: AgreementReport | None = None) -> list[JudgeHealth]:
    """The verdict of each judge in ``judges``.

    Args:
        failures: per judge, (replies with no valid verdict, replies).
        checks: the run's bias figures (position checks and probes; others are ignored).
        human: the agreement with people, if anyone labelled.

    >>> checks = [BiasCheck("j", CheckKind.SWAP_CONSISTENCY, 0.95, 0.9, 0.98, 100),
    ...           BiasCheck("j", CheckKind.PROBE, 0.6, 0.4, 0.8, 20, subject="prompt_injection")]
    >>> [h.health.value for h in judge_health(["j"], {"j": (1, 200)}, checks)]
    ['do not use']
    """
    out = []
    for judge in judges:
        found: list[Finding] = []
        errors, total = failures.get(judge, (0, 0))
        if total:
            share = errors / total
            found.append(Finding(f"parse failures {share:.1%} of {total}", _above(share, PARSE_FAILURES)))
        for c in checks:
            if c.judge != judge or c.n == 0 or math.isnan(c.value):
                continue
            if c.kind is CheckKind.SWAP_CONSISTENCY:
                found.append(Finding(f"swap consistency {c.value:.0%}", _below(c.value, SWAP_CONSISTENCY)))
            elif c.kind is CheckKind.FIRST_SLOT:
                excludes = not (c.lower <= 0.5 <= c.upper)
                health = _above(abs(c.value - 0.5), FIRST_SLOT) if excludes else Health.USABLE
                found.append(Finding(f"first slot wins {c.value:.0%} [{c.lower:.0%}, {c.upper:.0%}]", health))
            elif c.kind is CheckKind.PROBE:
                found.append(Finding(f"probe {c.subject} attack rate {c.value:.0%} (n={c.n})",
                                     _above(c.value, PROBE_ATTACK)))
        kappa = _human_kappa(judge, human)
        if kappa is not None:
            found.append(Finding(f"kappa with people {kappa:.2f}", _below(kappa, HUMAN_KAPPA)))
        worst = max((f.health for f in found), key=lambda h: h.rank, default=Health.USABLE)
        out.append(JudgeHealth(judge, worst, tuple(sorted(found, key=lambda f: -f.health.rank))))
    return out


def _human_kappa(judge: str, human: AgreementReport | None) -> float | None:
    """Kappa against the people's majority, else against the one annotator (None when unmeasured)."""
    rows = [r for r in (human.judges if human else ()) if r.judge == judge and r.n]
    pick = next((r for r in rows if r.majority), rows[0] if len(rows) == 1 else None)
    return None if pick is None or math.isnan(pick.kappa) else pick.kappa
