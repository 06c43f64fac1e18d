"""Agreement statistics on a small three-annotator set written for this project, every figure
checked against hand arithmetic and scikit-learn (the independent oracle) to 1e-9."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from harness.core.types import Battle, HumanLabel, Judgment
from harness.reports.tables import human_tables
from harness.stats.agreement import (
    AgreementReport,
    JudgeAgreement,
    agreement,
    fleiss_kappa,
    macro_f1,
    majority,
)
from harness.stats.panel import cohen_kappa, kappa_interval
from harness.stats.significance import wilson_interval

A, B, T = "model_a", "model_b", "tie"


def _j(q: str, order: str, winner: str, judge: str = "J", a: str = "x", b: str = "y") -> Judgment:
    return Judgment("t", q, a, b, order, winner, "", judge, "generate", "p", "h", "")  # type: ignore[arg-type]


def _h(q: str, winner: str, annotator: str, a: str = "x", b: str = "y") -> HumanLabel:
    return HumanLabel("t", q, a, b, winner, annotator)  # type: ignore[arg-type]


# Three annotators on six comparisons of x vs y (majority in the last column, by the plurality
# rule: q3 is a three-way split and q6's two tie votes win, so both are ties).
LABELS = {        # ann1 ann2 ann3  majority
    "q1": (A, A, A),   # A
    "q2": (B, B, T),   # B
    "q3": (T, A, B),   # T (1-1-1)
    "q4": (A, B, B),   # B
    "q5": (A, A, T),   # A
    "q6": (B, T, T),   # T
}
MAJORITY = {"q1": A, "q2": B, "q3": T, "q4": B, "q5": A, "q6": T}
# The judge's verdicts in order ab and ba (winner in the pair's terms), and what they combine to.
ORDERS = {"q1": (A, A), "q2": (B, A), "q3": (T, T), "q4": (B, B), "q5": (A, "error"), "q6": (A, B)}
COMBINED = {"q1": A, "q2": T, "q3": T, "q4": B, "q6": T}  # q5: an error in one order


def _labels() -> list[HumanLabel]:
    out = []
    for q, given in LABELS.items():
        for i, label in enumerate(given):
            name = f"ann{i + 1}"
            if (q, name) == ("q4", "ann3"):  # labelled the other way round: y vs x, y won
                out.append(_h(q, {A: B, B: A, T: T}[label], name, a="y", b="x"))
            else:
                out.append(_h(q, label, name))
    return out


def _judgments(judge: str = "J") -> list[Judgment]:
    return [_j(q, order, w, judge) for q, (ab, ba) in ORDERS.items() for order, w in (("ab", ab), ("ba", ba))]


def _row(report: AgreementReport, annotator: str, judge: str = "J") -> JudgeAgreement:
    return next(r for r in report.judges if r.judge == judge
                and (r.majority if annotator == "majority" else (r.annotator == annotator and not r.majority)))


def test_majority_rule() -> None:
    assert {q: majority(list(v)) for q, v in LABELS.items()} == MAJORITY
    assert majority([B]) == B and majority([A, B, B, A]) == T


def test_judge_against_the_majority_by_hand_and_by_scikit_learn() -> None:
    r = _row(agreement(labels=_labels(), judgments=_judgments()), "majority")
    assert (r.judge, r.annotator, r.n, r.agree, r.errors) == ("J", "", 5, 4, 1)
    assert r.agreement == pytest.approx(4 / 5, abs=1e-9)
    assert r.agreement_errors_as_wrong == pytest.approx(4 / 6, abs=1e-9)
    assert (r.n_without_ties, r.agreement_without_ties) == (2, 1.0)  # q1 and q4
    # Kappa by hand: observed 4/5; judge a1 b1 tie3, majority a1 b2 tie2 -> chance 9/25.
    assert r.kappa == pytest.approx((4 / 5 - 9 / 25) / (1 - 9 / 25), abs=1e-9)
    # Macro-F1 by hand: a 1, b 2/3 (one b missed), tie 4/5 (one tie too many).
    assert r.macro_f1 == pytest.approx((1 + 2 / 3 + 4 / 5) / 3, abs=1e-9)
    y_judge, y_people = [COMBINED[q] for q in COMBINED], [MAJORITY[q] for q in COMBINED]
    assert r.kappa == pytest.approx(cohen_kappa_score(y_people, y_judge), abs=1e-9)
    assert r.macro_f1 == pytest.approx(f1_score(y_people, y_judge, average="macro"), abs=1e-9)
    # Per order, over the five comparisons valid in both orders: ab misses q6, ba misses q2 and q6.
    assert r.both_orders == 5
    assert r.accuracy_ab == pytest.approx(4 / 5, abs=1e-9)
    assert r.accuracy_ba == pytest.approx(3 / 5, abs=1e-9)
    assert r.accuracy_average == pytest.approx(7 / 10, abs=1e-9)
    assert r.both_correct_rate == pytest.approx(3 / 5, abs=1e-9)   # q1, q3, q4
    assert r.positional_agreement == pytest.approx(3 / 5, abs=1e-9)  # q1, q3, q4 kept their verdict


@pytest.mark.parametrize("index", [0, 1, 2])
def test_judge_against_each_annotator_matches_scikit_learn(index: int) -> None:
    name = f"ann{index + 1}"
    r = _row(agreement(labels=_labels(), judgments=_judgments()), name)
    people = [LABELS[q][index] for q in COMBINED]
    judge = list(COMBINED.values())
    assert (r.n, r.errors, r.both_orders) == (5, 1, 5)
    assert r.agreement == pytest.approx(sum(x == y for x, y in zip(judge, people)) / 5, abs=1e-9)
    assert r.kappa == pytest.approx(cohen_kappa_score(people, judge), abs=1e-9)
    assert r.macro_f1 == pytest.approx(f1_score(people, judge, average="macro"), abs=1e-9)
    ab = [ORDERS[q][0] for q in COMBINED]
    ba = [ORDERS[q][1] for q in COMBINED]
    assert r.accuracy_ab == pytest.approx(sum(x == y for x, y in zip(ab, people)) / 5, abs=1e-9)
    assert r.accuracy_ba == pytest.approx(sum(x == y for x, y in zip(ba, people)) / 5, abs=1e-9)
    assert r.both_correct_rate == pytest.approx(
        sum(x == y == z for x, y, z in zip(ab, ba, people)) / 5, abs=1e-9)


def test_between_annotators_pairwise_and_fleiss() -> None:
    report = agreement(labels=_labels(), judgments=_judgments())
    pairs = {(p.a, p.b): p for p in report.annotators}
    assert list(pairs) == [("ann1", "ann2"), ("ann1", "ann3"), ("ann2", "ann3")]
    p = pairs[("ann1", "ann2")]
    # By hand: agree on q1, q2, q5; ann1 a3 b2 tie1, ann2 a3 b2 tie1 -> chance 14/36.
    assert (p.n, p.agree) == (6, 3)
    assert p.kappa == pytest.approx((1 / 2 - 14 / 36) / (1 - 14 / 36), abs=1e-9)
    for (a, b), pair in pairs.items():
        x, y = ([LABELS[q][int(n[-1]) - 1] for q in LABELS] for n in (a, b))
        assert pair.kappa == pytest.approx(cohen_kappa_score(x, y), abs=1e-9)
        assert pair.agreement == pytest.approx(sum(u == v for u, v in zip(x, y)) / 6, abs=1e-9)
    # Fleiss by hand: per-item agreement 1, 1/3, 0, 1/3, 1/3, 1/3 -> mean 7/18; class shares
    # 7/18, 6/18, 5/18 -> chance 110/324; kappa = (7/18 - 110/324) / (1 - 110/324) = 8/107.
    assert (report.fleiss_items, report.raters) == (6, 3)
    assert report.fleiss_kappa == pytest.approx(8 / 107, abs=1e-9)


def test_a_single_order_judge_has_no_per_order_figures() -> None:
    once = [_j(q, "once", COMBINED.get(q, "error"), judge="S") for q in ORDERS]
    report = agreement(labels=_labels(), judgments=[*_judgments(), *once])
    r = _row(report, "majority", judge="S")
    assert (r.n, r.agree, r.errors) == (5, 4, 1)  # the same verdicts as J's combined ones
    assert r.kappa == pytest.approx(_row(report, "majority").kappa, abs=1e-9)
    assert r.both_orders is None
    assert (r.accuracy_ab, r.accuracy_ba, r.accuracy_average, r.both_correct_rate, r.positional_agreement) \
        == (None, None, None, None, None)
    row = r.to_json()
    assert row["accuracy_ab"] is None and row["positional_agreement"] is None and row["annotator"] == "majority"
    # Any order other than ab/ba counts as seen once; a comparison with one of ab/ba only is
    # unfinished (it makes no battle either) and has no verdict.
    odd = agreement(labels=_labels(), judgments=[_j(q, "", w) for q, (w, _) in ORDERS.items()])
    r = _row(odd, "majority")
    assert r.both_orders is None and (r.n, r.agree) == (6, 5)  # ab's verdicts: only q6 is wrong
    r = _row(agreement(labels=_labels(), judgments=[j for j in _judgments() if j.order == "ab"]), "majority")
    assert (r.n, r.errors) == (0, 0)


def test_json_shape_and_full_precision() -> None:
    doc = agreement(labels=_labels(), judgments=_judgments()).to_json()
    text = json.dumps(doc, allow_nan=False)
    assert set(doc) >= {"judges", "annotators", "fleiss_kappa"}
    keys = {"judge", "annotator", "n", "agreement", "agreement_without_ties", "kappa", "macro_f1",
            "accuracy_ab", "accuracy_ba", "accuracy_average", "both_correct", "positional_agreement",
            "errors"}
    assert all(keys <= set(row) for row in doc["judges"])
    assert [row["annotator"] for row in doc["judges"]] == ["ann1", "ann2", "ann3", "majority"]
    assert set(doc["annotators"][0]) == {"a", "b", "n", "agreement", "kappa", "agreement_lower",
                                         "agreement_upper", "kappa_lower", "kappa_upper"}
    assert json.loads(text)["fleiss_kappa"] == pytest.approx(8 / 107, abs=1e-15)  # not rounded


def test_errors_only_and_nothing_shared_give_null_not_nan() -> None:
    report = agreement(labels=[_h("q1", A, "ann")], judgments=[_j("q1", "ab", "error"), _j("q1", "ba", A)])
    row = report.judges[0].to_json()
    assert (row["n"], row["errors"], row["agreement"], row["kappa"], row["agreement_errors_as_wrong"]) \
        == (0, 1, None, None, 0.0)
    assert [r.annotator for r in report.judges] == ["ann"]  # one label each: no majority row
    assert report.annotators == () and math.isnan(report.fleiss_kappa) and report.fleiss_items == 0
    json.dumps(report.to_json(), allow_nan=False)


def test_a_grading_judge_is_read_from_its_battles() -> None:
    battles = {"G": [Battle("x", "y", A, "t", "q1", "G"), Battle("y", "x", "tie (bothbad)", "t", "q2", "G")]}
    report = agreement(labels=[_h("q1", A, "ann"), _h("q2", T, "ann")], battles=battles)
    r = report.judges[0]
    assert (r.judge, r.n, r.agree, r.both_orders) == ("G", 2, 2, None)


def test_unsigned_labels_are_votes_but_not_an_annotator_pair() -> None:
    labels = [_h("q1", A, ""), _h("q1", A, ""), _h("q1", B, "")]
    report = agreement(labels=labels, judgments=_judgments())
    rows = {(r.annotator, r.majority): r for r in report.judges}
    assert rows[("", False)].n == 3 and rows[("", True)].n == 1 and rows[("", True)].agree == 1
    assert report.annotators == () and report.raters == 0


def test_helpers_match_the_oracles_on_random_labels() -> None:
    import random

    rng = random.Random(7)
    for _ in range(50):
        n = rng.randint(2, 30)
        x = [rng.choice((A, B, T)) for _ in range(n)]
        y = [rng.choice((A, B, T)) for _ in range(n)]
        pairs = list(zip(x, y))
        if len(set(x)) > 1 or len(set(y)) > 1:  # scikit-learn's kappa is NaN with one class only
            assert cohen_kappa(pairs) == pytest.approx(cohen_kappa_score(x, y), abs=1e-9)
        assert macro_f1(pairs) == pytest.approx(f1_score(x, y, average="macro", zero_division=0), abs=1e-9)
    # Fleiss with two raters and balanced marginals equals Scott's pi; by hand on a 2x2 set.
    assert fleiss_kappa([[A, A], [B, B], [A, B], [B, B]]) == pytest.approx(
        (3 / 4 - (3 / 8) ** 2 - (5 / 8) ** 2) / (1 - (3 / 8) ** 2 - (5 / 8) ** 2), abs=1e-9)
    with pytest.raises(ValueError):
        fleiss_kappa([[A, A], [A]])


def _bootstrap_kappas(pairs: list[tuple[str, str]], rounds: int, seed: int) -> list[float]:
    """The bootstrap as written out: the same index draws, then cohen_kappa on each resample."""
    draws = np.random.default_rng(seed).integers(0, len(pairs), size=(rounds, len(pairs)))
    return [cohen_kappa([pairs[i] for i in row]) for row in draws]


def test_kappa_interval_is_the_bootstrap_written_out() -> None:
    rng = random.Random(4)
    pairs = [(rng.choice("abt"), rng.choice("abt")) for _ in range(60)]
    pairs += [(x, x) for x, _ in pairs[:30]]  # some agreement to measure
    want = np.quantile(_bootstrap_kappas(pairs, 300, 7), [0.025, 0.975])
    assert kappa_interval(pairs, rounds=300, seed=7) == pytest.approx(tuple(want), abs=1e-12)
    # One label everywhere: kappa 1 in every resample, as cohen_kappa says.
    assert kappa_interval([("a", "a")] * 4) == (1.0, 1.0)
    assert all(math.isnan(x) for x in kappa_interval([]))


def test_agreement_rows_carry_their_intervals() -> None:
    report = agreement(labels=_labels(), judgments=_judgments())
    row = _row(report, "ann1")
    lo, hi = row.agreement_interval
    assert (lo, hi) == pytest.approx(wilson_interval(row.agree, row.n))
    assert lo <= row.agreement <= hi
    doc = row.to_json()
    assert (doc["agreement_lower"], doc["agreement_upper"]) == pytest.approx((lo, hi))
    assert doc["kappa_lower"] <= doc["kappa"] <= doc["kappa_upper"]
    table = human_tables(report)[0]
    cells = {r[1]: r for r in table.rows}
    assert cells["ann1"][3] == f"{row.agreement:.1%} [{lo:.1%}, {hi:.1%}]"
    assert cells["ann1"][5].startswith(f"{row.kappa:.2f} [")
    assert "Wilson" in table.caption
