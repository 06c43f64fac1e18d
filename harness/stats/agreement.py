"""Agreement between judges and people, and among people, reported as judge-evaluation papers do.

From a run's judgments (each answer order a verdict of its own) or a judge's battles, and the
run's human labels (:func:`agreement`):

- per judge and per annotator, and per judge against the annotators' majority label: n,
  agreement (with and without ties), Cohen's kappa and macro-F1 over ``model_a`` / ``model_b`` /
  ``tie``; when the judge saw both answer orders, also the accuracy in each order, their average,
  both orders correct, and positional agreement (the two orders gave the same verdict);
- between annotators: pairwise Cohen's kappa and agreement, and Fleiss' kappa.

Conventions, the same in every table and in ``report.json``:

- A *comparison* is one question and one pair of models, whichever way round; a person votes on
  a multi-turn question's whole conversation, so the judge's verdict on it is the one at its last
  judged turn (where it saw the whole conversation). Verdicts are read
  in the orientation the run judged it (its judgments' or battles' ``model_a`` / ``model_b``); a
  comparison no judge saw takes its first label's.
- Agreement, kappa and macro-F1 use the verdict the judge's orders combine to, as battles are
  made (:func:`harness.stats.battles.combine`): the same winner in both orders wins, anything else
  is a tie. A comparison judged once (an ``order`` other than ``ab``/``ba``, such as ``once``) has
  that verdict; one with only one of ``ab``/``ba`` is unfinished and has none (it makes no battle).
- An unparseable verdict (``error`` in either order) is, by :class:`Errors` (``--errors``): left out
  of every rate and counted in ``errors`` (``exclude``, harness's default); kept in n and counted
  wrong in each order where it stands, two of them the same verdict for positional agreement
  (``wrong``: LLMBar's ``statistics.json``; kappa and macro-F1 see ``error`` as a class no label
  has); or read as a tie (``tie``: PandaLM's and WildVision's counts). ``agreement_errors_as_wrong``
  counts it as a disagreement whatever the rule, as judge-evaluation papers do.
- ``accuracy_net`` is JudgeBench's accuracy, the same under every rule: per labelled comparison,
  each order's verdict adds 1 when it is the label and takes 1 away when it is the opposite
  decisive verdict (a tie or an unparseable verdict adds nothing); the comparison is right when the
  sum is positive, and the share is over every labelled comparison the judge gave a verdict on,
  unparseable ones included. A verdict seen once is right when it is the label.
- The per-order figures cover the labelled comparisons with a valid verdict in both orders; they
  are None (do not apply) for a judge that saw no comparison in both orders.
- :data:`MAJORITY_RULE` decides the majority label; each unsigned label (no annotator) is one vote.
  Majority rows exist when some comparison has more than one label or there are several annotators.
- Unsigned labels form one annotator named ``""`` in the per-annotator rows (each label one item)
  and are left out of the between-annotator figures, which need to know who labelled what.
- Fleiss' kappa covers the comparisons every named annotator labelled (a fixed number of raters
  per item, as Fleiss defined it).
- A rate with nothing to count is NaN; a kappa whose chance agreement is 1 (everyone used one
  label) is 1.0, as in :func:`harness.stats.panel.cohen_kappa`.
- Agreement rates come with a 95% Wilson interval, kappas with a 95% percentile bootstrap interval
  over the comparisons (:func:`harness.stats.panel.kappa_interval`, a fixed seed, so a report
  repeats).

Not handled: intervals on macro-F1, the per-order figures and Fleiss' kappa; annotator skill
models (Dawid-Skene);
single-answer grades other than through the battles they make (a grading judge's verdicts are its
battles, with no per-order figures); the panel's majority verdict as a judge of its own (each
judge is compared alone); labels on comparisons no judge saw count only between annotators.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from harness.core.numbers import json_number
from harness.core.types import Battle, HumanLabel, Judgment
from harness.stats.battles import last_turns
from harness.stats.panel import cohen_kappa, kappa_interval
from harness.stats.significance import share_interval

MAJORITY = "majority"
"""The ``annotator`` of a row against the annotators' majority label (in ``report.json``)."""
MAJORITY_RULE = ("the label most annotators gave (plurality), or a tie when two or more labels share "
                 "the most votes")

Key = tuple[str, str, frozenset[str]]


class Errors(str, Enum):
    """How an unparseable verdict counts (``harness agreement --errors``; see the module)."""

    EXCLUDE = "exclude"
    WRONG = "wrong"
    TIE = "tie"


def _share(k: int, n: int) -> float:
    return k / n if n else float("nan")


def _intervals(agree: int, n: int, kappa: tuple[float, float]) -> dict[str, float | None]:
    """The JSON fields of an agreement rate's and a kappa's 95% intervals."""
    lo, hi = share_interval(agree, n)
    return {"agreement_lower": json_number(lo), "agreement_upper": json_number(hi),
            "kappa_lower": json_number(kappa[0]), "kappa_upper": json_number(kappa[1])}


@dataclass(frozen=True)
class JudgeAgreement:
    """One judge's verdicts against one annotator's labels (or the majority label)."""

    judge: str
    annotator: str
    """The annotator's name (``""`` for unsigned labels); ``""`` too for a majority row."""
    majority: bool
    """Against the annotators' majority label rather than one annotator."""
    n: int
    """Labelled comparisons with a valid (combined) verdict."""
    agree: int
    n_without_ties: int
    """Of those, the ones where neither the judge nor the label said tie."""
    agree_without_ties: int
    errors: int
    """Labelled comparisons whose verdict is ``error`` (in either order); left out of ``n``."""
    kappa: float
    """Cohen's kappa over the three classes."""
    macro_f1: float
    both_orders: int | None
    """Labelled comparisons with a valid verdict in both orders; None when the judge saw no
    comparison in both orders (the per-order figures do not apply)."""
    correct_ab: int = 0
    correct_ba: int = 0
    both_correct: int = 0
    same_verdict: int = 0
    """Comparisons whose two orders gave the same verdict."""
    kappa_lower: float = float("nan")
    kappa_upper: float = float("nan")
    """95% bootstrap interval of ``kappa``."""
    correct_net: int = 0
    """Comparisons right by JudgeBench's rule (see the module)."""
    n_net: int = 0
    """Labelled comparisons with a verdict, unparseable ones included."""
    agree_valid: int = 0
    """Agreements among the comparisons whose verdict is not ``error``."""
    rule: Errors = Errors.EXCLUDE
    """How the unparseable verdicts counted."""

    @property
    def agreement(self) -> float:
        return _share(self.agree, self.n)

    @property
    def accuracy_net(self) -> float:
        """JudgeBench's accuracy (see the module)."""
        return _share(self.correct_net, self.n_net)

    @property
    def agreement_interval(self) -> tuple[float, float]:
        """95% Wilson interval of :attr:`agreement` (NaN with nothing to count)."""
        return share_interval(self.agree, self.n)

    @property
    def agreement_without_ties(self) -> float:
        return _share(self.agree_without_ties, self.n_without_ties)

    @property
    def agreement_errors_as_wrong(self) -> float:
        """Agreement with every unparseable verdict counted as a disagreement."""
        return _share(self.agree_valid, self.n_net)

    def _per_order(self, k: int) -> float | None:
        return None if self.both_orders is None else _share(k, self.both_orders)

    @property
    def accuracy_ab(self) -> float | None:
        return self._per_order(self.correct_ab)

    @property
    def accuracy_ba(self) -> float | None:
        return self._per_order(self.correct_ba)

    @property
    def accuracy_average(self) -> float | None:
        ab, ba = self.accuracy_ab, self.accuracy_ba
        return None if ab is None or ba is None else (ab + ba) / 2

    @property
    def both_correct_rate(self) -> float | None:
        return self._per_order(self.both_correct)

    @property
    def positional_agreement(self) -> float | None:
        return self._per_order(self.same_verdict)

    def to_json(self) -> dict[str, Any]:
        """The row as ``report.json`` and ``harness agreement --format json`` write it (rates as
        fractions, full precision, None where a figure does not apply)."""
        return {"judge": self.judge, "annotator": MAJORITY if self.majority else self.annotator,
                "n": self.n, "agreement": json_number(self.agreement),
                "agreement_without_ties": json_number(self.agreement_without_ties),
                "n_without_ties": self.n_without_ties, "kappa": json_number(self.kappa),
                "macro_f1": json_number(self.macro_f1), "accuracy_ab": json_number(self.accuracy_ab),
                "accuracy_ba": json_number(self.accuracy_ba),
                "accuracy_average": json_number(self.accuracy_average),
                "both_correct": json_number(self.both_correct_rate),
                "positional_agreement": json_number(self.positional_agreement),
                "n_both_orders": self.both_orders, "errors": self.errors, "errors_rule": self.rule.value,
                "agreement_errors_as_wrong": json_number(self.agreement_errors_as_wrong),
                "accuracy_net": json_number(self.accuracy_net), "n_net": self.n_net,
                **_intervals(self.agree, self.n, (self.kappa_lower, self.kappa_upper))}


@dataclass(frozen=True)
class AnnotatorAgreement:
    """Two annotators on the comparisons both labelled."""

    a: str
    b: str
    n: int
    agree: int
    kappa: float
    kappa_lower: float = float("nan")
    kappa_upper: float = float("nan")
    """95% bootstrap interval of ``kappa``."""

    @property
    def agreement(self) -> float:
        return _share(self.agree, self.n)

    @property
    def agreement_interval(self) -> tuple[float, float]:
        return share_interval(self.agree, self.n)

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "n": self.n, "agreement": json_number(self.agreement),
                "kappa": json_number(self.kappa),
                **_intervals(self.agree, self.n, (self.kappa_lower, self.kappa_upper))}


@dataclass(frozen=True)
class AgreementReport:
    """Every agreement figure of a run with human labels."""

    judges: tuple[JudgeAgreement, ...]
    annotators: tuple[AnnotatorAgreement, ...]
    """Each pair of named annotators, in order of first appearance."""
    fleiss_kappa: float
    """NaN with fewer than two named annotators or no comparison all of them labelled."""
    fleiss_items: int
    """Comparisons every named annotator labelled."""
    raters: int
    """Named annotators."""
    rule: Errors = Errors.EXCLUDE
    """How the judges' unparseable verdicts counted."""

    def to_json(self) -> dict[str, Any]:
        return {"judges": [j.to_json() for j in self.judges],
                "annotators": [a.to_json() for a in self.annotators],
                "fleiss_kappa": json_number(self.fleiss_kappa), "fleiss_items": self.fleiss_items,
                "majority_rule": MAJORITY_RULE, "errors_rule": self.rule.value}


def majority(votes: Sequence[str]) -> str:
    """The majority label (:data:`MAJORITY_RULE`).

    >>> majority(["model_a", "model_a", "tie"]), majority(["model_a", "model_b"]), majority(["tie"])
    ('model_a', 'tie', 'tie')
    >>> majority(["model_b", "model_b", "model_a", "model_a", "tie"])
    'tie'
    """
    counts = Counter(votes).most_common()
    return "tie" if len(counts) > 1 and counts[0][1] == counts[1][1] else counts[0][0]


def macro_f1(pairs: Sequence[tuple[str, str]]) -> float:
    """Macro-F1 of two raters' labels: the mean over the classes either rater used of
    2tp / (2tp + fp + fn) (scikit-learn's ``f1_score(average="macro")``; symmetric in the raters).

    >>> round(macro_f1([("model_a", "model_a"), ("model_b", "model_a"), ("tie", "tie")]), 4)
    0.5556
    """
    if not pairs:
        return float("nan")
    classes = sorted({c for pair in pairs for c in pair})
    scores = []
    for c in classes:
        tp = sum(x == y == c for x, y in pairs)
        wrong = sum((x == c) != (y == c) for x, y in pairs)  # fp + fn
        scores.append(2 * tp / (2 * tp + wrong))
    return sum(scores) / len(scores)


def fleiss_kappa(items: Sequence[Sequence[str]]) -> float:
    """Fleiss' kappa: each item holds the labels its raters gave, the same number per item.

    >>> fleiss_kappa([["a", "a"], ["b", "b"]])
    1.0
    >>> round(fleiss_kappa([["a", "b"], ["a", "a"]]), 4)
    -0.3333
    """
    if not items or len(items[0]) < 2:
        return float("nan")
    m = len(items[0])
    if any(len(item) != m for item in items):
        raise ValueError("every item needs the same number of ratings")
    totals: Counter[str] = Counter()
    observed = 0.0
    for item in items:
        counts = Counter(item)
        totals.update(counts)
        observed += (sum(c * c for c in counts.values()) - m) / (m * (m - 1))
    observed /= len(items)
    chance = sum((t / (m * len(items))) ** 2 for t in totals.values())
    return 1.0 if chance == 1 else (observed - chance) / (1 - chance)


@dataclass(frozen=True)
class _Verdicts:
    combined: str
    ab: str | None = None
    ba: str | None = None


def _key(task: str, qid: str, a: str, b: str) -> Key:
    return (task, qid, frozenset((a, b)))


def _flip(winner: str) -> str:
    return {"model_a": "model_b", "model_b": "model_a"}.get(winner, winner)


def agreement(*, labels: Sequence[HumanLabel], judgments: Sequence[Judgment] = (),
              battles: Mapping[str, Sequence[Battle]] | None = None,
              errors: Errors = Errors.EXCLUDE) -> AgreementReport:
    """Every agreement figure of a run (see the module's conventions).

    Args:
        labels: the human labels.
        judgments: every pairwise judgment, each order its own row.
        battles: each judge's battles; used only for judges with no judgments (grading judges).
        errors: how an unparseable verdict counts.
    """
    judgments = last_turns(judgments)
    battles = {judge: last_turns(bs) for judge, bs in (battles or {}).items()}
    orient: dict[Key, tuple[str, str]] = {}
    battle_rows = [b for bs in battles.values() for b in bs]
    every: list[Judgment | Battle | HumanLabel] = [*judgments, *battle_rows, *labels]
    for r in every:
        orient.setdefault(_key(r.task, r.question_id, r.model_a, r.model_b), (r.model_a, r.model_b))

    def seen_as(task: str, qid: str, a: str, b: str, winner: str) -> tuple[Key, str]:
        key = _key(task, qid, a, b)
        return key, winner if orient[key][0] == a else _flip(winner)

    verdicts = _judge_verdicts(judgments, battles or {}, seen_as)
    by_annotator: dict[str, list[tuple[Key, str]]] = {}
    votes: dict[Key, list[str]] = {}
    for h in labels:
        key, label = seen_as(h.task, h.question_id, h.model_a, h.model_b, h.winner)
        by_annotator.setdefault(h.annotator, []).append((key, label))
        votes.setdefault(key, []).append(label)
    targets = [(name, False, rows) for name, rows in by_annotator.items()]
    if len(by_annotator) > 1 or any(len(v) > 1 for v in votes.values()):
        targets.append(("", True, [(key, majority(v)) for key, v in votes.items()]))
    judged = tuple(_judge_row(judge, name, is_majority, seen, per_order, labelled, errors)
                   for judge, (seen, per_order) in verdicts.items()
                   for name, is_majority, labelled in targets)
    named = {name: dict(given) for name, given in by_annotator.items() if name}
    pairs = []
    for a, b in itertools.combinations(named, 2):
        shared = [(named[a][k], named[b][k]) for k in named[a] if k in named[b]]
        pairs.append(AnnotatorAgreement(a, b, len(shared), sum(x == y for x, y in shared),
                                        cohen_kappa(shared), *kappa_interval(shared)))
    complete = [[named[n][k] for n in named] for k in votes if all(k in named[n] for n in named)]
    if len(named) < 2:
        complete = []
    return AgreementReport(judged, tuple(pairs), fleiss_kappa(complete), len(complete), len(named), errors)


def _judge_verdicts(judgments: Sequence[Judgment], battles: Mapping[str, Sequence[Battle]],
                    seen_as: Callable[[str, str, str, str, str], tuple[Key, str]]
                    ) -> dict[str, tuple[dict[Key, _Verdicts], bool]]:
    """Per judge: its verdicts per comparison, and whether it saw any comparison in both orders."""
    grouped: dict[str, dict[Key, dict[str, str]]] = {}
    for j in judgments:
        key, winner = seen_as(j.task, j.question_id, j.model_a, j.model_b, j.winner)
        order = j.order if j.order in ("ab", "ba") else "once"
        grouped.setdefault(j.judge, {}).setdefault(key, {})[order] = winner
    out: dict[str, tuple[dict[Key, _Verdicts], bool]] = {}
    for judge, comparisons in grouped.items():
        seen = {}
        for key, orders in comparisons.items():
            ab, ba, once = orders.get("ab"), orders.get("ba"), orders.get("once")
            if ab is not None and ba is not None:
                seen[key] = _Verdicts("error" if "error" in (ab, ba) else ab if ab == ba else "tie", ab, ba)
            elif once is not None and ab is None and ba is None:
                seen[key] = _Verdicts(once)
            # one of two orders only: unfinished, no verdict yet (as it makes no battle)
        out[judge] = (seen, any(v.ab is not None for v in seen.values()))
    for judge, bs in battles.items():
        if judge not in out:
            oriented = [seen_as(b.task, b.question_id, b.model_a, b.model_b,
                                "tie" if b.winner == "tie (bothbad)" else b.winner) for b in bs]
            out[judge] = ({key: _Verdicts(w) for key, w in oriented}, False)
    return out


def net_correct(v: _Verdicts, label: str) -> bool:
    """JudgeBench's rule (see the module).

    >>> net_correct(_Verdicts("tie", "model_a", "tie"), "model_a")
    True
    >>> net_correct(_Verdicts("tie", "model_a", "model_b"), "model_a")
    False
    >>> net_correct(_Verdicts("error", "model_a", "error"), "model_a")
    True
    """
    if v.ab is None or v.ba is None:
        return v.combined == label
    flipped = _flip(label)
    return sum((x == label) - (x == flipped and x != label) for x in (v.ab, v.ba)) > 0


def _as_tie(v: _Verdicts) -> _Verdicts:
    """An unparseable verdict read as a tie, the orders combined again."""
    if v.ab is None or v.ba is None:
        return _Verdicts("tie" if v.combined == "error" else v.combined)
    ab, ba = ("tie" if x == "error" else x for x in (v.ab, v.ba))
    return replace(v, combined=ab if ab == ba else "tie", ab=ab, ba=ba)


def _judge_row(judge: str, annotator: str, is_majority: bool, seen: Mapping[Key, _Verdicts],
               per_order: bool, labelled: Sequence[tuple[Key, str]],
               rule: Errors = Errors.EXCLUDE) -> JudgeAgreement:
    pairs: list[tuple[str, str]] = []
    errors = both = ab_ok = ba_ok = both_ok = same = net = n_net = agree_valid = 0
    for key, label in labelled:
        v = seen.get(key)
        if v is None:
            continue
        n_net += 1
        net += net_correct(v, label)
        agree_valid += v.combined == label
        if v.combined == "error":
            errors += 1
            if rule is Errors.EXCLUDE:
                continue
            if rule is Errors.TIE:
                v = _as_tie(v)
        pairs.append((v.combined, label))
        if v.ab is not None and v.ba is not None:  # both orders, valid unless --errors wrong kept them
            both += 1
            ab_ok, ba_ok = ab_ok + (v.ab == label), ba_ok + (v.ba == label)
            both_ok += v.ab == v.ba == label
            same += v.ab == v.ba
    decisive = [(x, y) for x, y in pairs if "tie" not in (x, y)]
    return JudgeAgreement(judge, "" if is_majority else annotator, is_majority, len(pairs),
                          sum(x == y for x, y in pairs), len(decisive), sum(x == y for x, y in decisive),
                          errors, cohen_kappa(pairs), macro_f1(pairs), both if per_order else None,
                          ab_ok, ba_ok, both_ok, same, *kappa_interval(pairs), net, n_net, agree_valid, rule)
