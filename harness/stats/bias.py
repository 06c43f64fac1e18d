"""The bias section of a run, from records alone: position, length, self-preference, human agreement.

Measured probe figures (``harness bias``) come in as records; this module reads no file and calls
no model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.core.types import Answer, Battle, BiasCheck, CheckKind, HumanLabel, Judgment
from harness.stats.agreement import AgreementReport, agreement
from harness.stats.length import length_checks, win_by_length_bins
from harness.stats.position import position_checks, unusable
from harness.stats.self_preference import self_preference


@dataclass(frozen=True)
class BiasResult:
    """Every bias figure of one run, with the plain-words warnings they raise."""

    checks: tuple[BiasCheck, ...] = ()
    warnings: tuple[str, ...] = ()
    human: AgreementReport | None = None
    """Agreement with the human labels (None when nobody labelled)."""
    perturbations: int = 0
    """Altered answers judged by the probes of this result (0 when none were run now)."""
    length_bins: Mapping[str, Sequence[tuple[str, int, float]]] = field(default_factory=dict)
    """Per judge: (length difference bin, judgments, share won by the pair's first model)."""


def report_checks(judgments: Sequence[Judgment], answers: Sequence[Answer],
                  by_judge: Mapping[str, Sequence[Battle]], labels: Sequence[HumanLabel],
                  stored: Sequence[BiasCheck]) -> BiasResult:
    """The bias section of a run report: the run's own figures plus the probe figures in ``stored``
    (``bias.csv``) for the judges of ``by_judge``."""
    probes = [c for c in stored if c.kind is CheckKind.PROBE and c.judge in by_judge]
    return summarise(judgments, answers, by_judge, labels, probes)


def summarise(judgments: Sequence[Judgment], answers: Sequence[Answer],
              by_judge: Mapping[str, Sequence[Battle]], labels: Sequence[HumanLabel],
              probes: Sequence[BiasCheck], perturbations: int = 0) -> BiasResult:
    checks = position_checks(judgments) + length_checks(judgments, answers)
    checks += self_preference(by_judge, answers, labels) + list(probes)
    bins = {j: win_by_length_bins(judgments, answers, judge=j)
            for j in dict.fromkeys(x.judge for x in judgments)}
    human = agreement(labels=labels, judgments=judgments, battles=by_judge) if labels else None
    return BiasResult(tuple(checks), tuple(unusable(checks)), human, perturbations, bins)
