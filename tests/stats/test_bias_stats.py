"""Position and length bias figures on constructed judgments whose exact rates are known by design."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from harness.core.types import Answer, BiasCheck, Judgment
from harness.stats.length import (
    LC_WIN_RATE,
    LONGER_WINS,
    SLOPE,
    SLOPE_CAP,
    length_checks,
    win_by_length_bins,
)
from harness.stats.position import FIRST_SLOT, SWAP_CONSISTENCY, position_checks, unusable
from harness.stats.significance import wilson_interval


def _j(q: str, order: str, winner: str, judge: str = "J", a: str = "x", b: str = "y") -> Judgment:
    return Judgment("t", q, a, b, order, winner, "", judge, "generate", "p", "h", "")  # type: ignore[arg-type]


def _both(q: str, winner_ab: str, winner_ba: str, judge: str = "J", a: str = "x", b: str = "y") -> list[Judgment]:
    return [_j(q, "ab", winner_ab, judge, a, b), _j(q, "ba", winner_ba, judge, a, b)]


def _answers(q: str, len_a: int, len_b: int, a: str = "x", b: str = "y") -> list[Answer]:
    return [Answer(a, "t", q, "a" * len_a), Answer(b, "t", q, "b" * len_b)]


def _by_check(checks: list[BiasCheck], judge: str = "J") -> dict[str, BiasCheck]:
    return {c.check: c for c in checks if c.judge == judge}


# --- position -------------------------------------------------------------------------------------------

def _fair(judge: str = "fair") -> list[Judgment]:
    # the hidden truth alternates by question and the judge reports it in both orders, so the truth's
    # winner is shown first in exactly half of the 16 decisive judgments
    truth = ["model_a" if i % 2 else "model_b" for i in range(8)]
    return [j for i, w in enumerate(truth) for j in _both(f"q{i}", w, w, judge=judge)]


def _first_slot(judge: str = "first") -> list[Judgment]:
    return [j for i in range(8) for j in _both(f"q{i}", "model_a", "model_b", judge=judge)]


def test_a_fair_consistent_judge_is_fully_consistent_and_unbiased() -> None:
    checks = _by_check(position_checks(_fair()), "fair")
    assert (checks[SWAP_CONSISTENCY].value, checks[SWAP_CONSISTENCY].n) == (1.0, 8)
    assert (checks[FIRST_SLOT].value, checks[FIRST_SLOT].n) == (0.5, 16)
    assert (checks[FIRST_SLOT].lower, checks[FIRST_SLOT].upper) == wilson_interval(8, 16)
    assert unusable(position_checks(_fair())) == []


def test_a_first_slot_judge_is_never_consistent_and_is_flagged() -> None:
    checks = _by_check(position_checks(_first_slot()), "first")
    assert (checks[SWAP_CONSISTENCY].value, checks[SWAP_CONSISTENCY].n) == (0.0, 8)
    assert (checks[FIRST_SLOT].value, checks[FIRST_SLOT].n) == (1.0, 16)
    [warning] = unusable(position_checks(_first_slot()))
    assert warning.startswith("Judge first changed its verdict in 100% of 8 comparisons")
    assert "do not trust its leaderboard" in warning


def test_first_slot_three_times_out_of_four_with_its_wilson_interval() -> None:
    # q0-q3: the first slot wins in both orders (8 of 8); q4-q7: model_a wins in both orders, which is the
    # first slot only in order ab (4 of 8): 12 of 16 decisive judgments. q8 is a tie both ways: consistent,
    # but not decisive.
    run = [j for i in range(4) for j in _both(f"q{i}", "model_a", "model_b")]
    run += [j for i in range(4, 8) for j in _both(f"q{i}", "model_a", "model_a")]
    run += _both("q8", "tie", "tie")
    checks = _by_check(position_checks(run))
    first = checks[FIRST_SLOT]
    assert (first.value, first.n) == (0.75, 16)
    assert (first.lower, first.upper) == wilson_interval(12, 16)
    consistency = checks[SWAP_CONSISTENCY]
    assert (consistency.value, consistency.n) == (5 / 9, 9)
    assert (consistency.lower, consistency.upper) == wilson_interval(5, 9)
    assert [w.split(" changed")[0] for w in unusable(list(checks.values()))] == ["Judge J"]
    assert unusable(list(checks.values()), threshold=0.5) == []


def test_position_errors_are_left_out_and_judges_kept_apart() -> None:
    base = position_checks(_fair() + _first_slot())
    noisy = (_fair() + _both("q8", "error", "model_a", judge="fair") + _both("q9", "error", "error", judge="fair")
             + _first_slot() + _both("q8", "model_a", "error", judge="first"))
    # q8's valid verdicts still count as decisive judgments, but never as a comparison in both orders
    with_errors = {(c.judge, c.check): c for c in position_checks(noisy)}
    for c in base:
        got = with_errors[(c.judge, c.check)]
        if c.check == SWAP_CONSISTENCY:
            assert got == c
        else:
            assert got.n == c.n + 1
    assert [c.judge for c in base] == ["fair", "fair", "first", "first"]
    assert _by_check(base, "fair")[SWAP_CONSISTENCY].value == 1.0
    assert _by_check(base, "first")[SWAP_CONSISTENCY].value == 0.0


def test_a_judge_with_no_valid_pairs_has_nan_figures_and_no_warning() -> None:
    checks = position_checks(_both("q0", "error", "error", judge="broken"))
    assert [c.n for c in checks] == [0, 0]
    assert all(math.isnan(x) for c in checks for x in (c.value, c.lower, c.upper))
    assert unusable(checks) == []


# --- length ---------------------------------------------------------------------------------------------

BALANCED = [(300, 100), (100, 300), (250, 50), (60, 400), (150, 100), (90, 130), (500, 120), (80, 270)]
"""(len x, len y) per question: x is longer in half of them, by differences of many sizes."""


def _length_run(judge: str, winner: Callable[[int, int, int], str]) -> tuple[list[Judgment], list[Answer]]:
    judgments, answers = [], []
    for i, (la, lb) in enumerate(BALANCED):
        w = winner(i, la, lb)
        judgments += _both(f"q{i}", w, w, judge=judge)
        answers += _answers(f"q{i}", la, lb)
    return judgments, answers


def _length_lover() -> tuple[list[Judgment], list[Answer]]:
    return _length_run("long", lambda i, la, lb: "model_a" if la > lb else "model_b")


def _length_blind() -> tuple[list[Judgment], list[Answer]]:
    # x wins questions 0, 3, 5, 6: twice where it is longer and twice where it is shorter, and the length
    # differences of its wins overlap those of its losses, so the verdicts carry no clear trace of length
    return _length_run("blind", lambda i, la, lb: "model_a" if i in (0, 3, 5, 6) else "model_b")


def test_a_length_loving_judge_always_rewards_the_longer_answer() -> None:
    judgments, answers = _length_lover()
    checks = _by_check(length_checks(judgments, answers, resamples=20), "long")
    assert (checks[LONGER_WINS].value, checks[LONGER_WINS].n) == (1.0, 16)
    assert (checks[LONGER_WINS].lower, checks[LONGER_WINS].upper) == wilson_interval(16, 16)
    slope = checks[SLOPE]
    # length sorts every verdict: the estimate is infinite, shown as the cap, and the data still bound it
    # away from 0
    assert (slope.value, slope.upper, slope.n) == (SLOPE_CAP, SLOPE_CAP, 16)
    assert 0 < slope.lower < SLOPE_CAP
    assert "no finite estimate" in slope.note


def test_a_length_blind_judge_sits_at_half_with_a_flat_slope() -> None:
    judgments, answers = _length_blind()
    lengths = {(a.model, a.question_id): len(a.answer) for a in answers}
    for i in (0, 3, 5, 6):
        assert (lengths[("x", f"q{i}")] > lengths[("y", f"q{i}")]) == (i in (0, 6))
    checks = _by_check(length_checks(judgments, answers, resamples=20), "blind")
    assert (checks[LONGER_WINS].value, checks[LONGER_WINS].n) == (0.5, 16)
    slope = checks[SLOPE]
    assert slope.lower < 0 < slope.upper
    assert slope.n == 16


def test_a_noisy_length_preference_gives_a_finite_positive_slope() -> None:
    # the longer answer wins 6 of the 8 questions, so the fit is finite and its Wald interval is usable
    judgments, answers = _length_run("noisy", lambda i, la, lb: ("model_a" if la > lb else "model_b")
                                     if i not in (4, 5) else ("model_b" if la > lb else "model_a"))
    checks = _by_check(length_checks(judgments, answers, resamples=20), "noisy")
    assert checks[LONGER_WINS].value == 0.75
    slope = checks[SLOPE]
    assert 0 < slope.value < SLOPE_CAP
    assert slope.lower < slope.value < slope.upper
    assert slope.upper - slope.value == pytest.approx(slope.value - slope.lower)


def _verbose_run(judge: str = "J") -> tuple[list[Judgment], list[Answer]]:
    """``verbose`` wins only by length: the judge picks the longer answer whenever the gap is 150+
    characters and splits the close calls evenly, whoever is longer."""
    cases = [(150 + 25 * i, True) for i in range(30)]  # (verbose minus terse, verbose wins)
    cases += [(-150, False), (-250, False), (-400, False)]  # verbose's answer is the shorter one here
    cases += [(dd, win) for dd in (30, -30, 60, -60) for win in (True, False)]
    judgments, answers = [], []
    for i, (dd, verbose_wins) in enumerate(cases):
        q = f"q{i}"
        # verbose sits in the pair's model_a slot for half of the questions
        a, b = ("verbose", "terse") if (i // 2) % 2 == 0 else ("terse", "verbose")
        lengths = {"verbose": 200 + max(dd, 0), "terse": 200 + max(-dd, 0)}
        winner = "model_a" if (a == "verbose") == verbose_wins else "model_b"
        judgments += _both(q, winner, winner, judge=judge, a=a, b=b)
        answers += _answers(q, lengths[a], lengths[b], a=a, b=b)
    return judgments, answers


def test_the_lc_win_rate_takes_out_a_win_explained_by_length() -> None:
    judgments, answers = _verbose_run()
    checks = _by_check(length_checks(judgments, answers, resamples=50))
    verbose, terse = checks[LC_WIN_RATE.format(model="verbose")], checks[LC_WIN_RATE.format(model="terse")]
    raw = 34 / 41  # 30 wins by length and half of the 8 close calls, out of 41 questions
    assert f"raw win rate {raw:.0%}" in verbose.note
    assert verbose.value < 0.75
    assert abs(verbose.value - 0.5) < abs(raw - 0.5) / 2
    assert verbose.value + terse.value == pytest.approx(1.0)  # two models: each one's LC mirrors the other's
    assert verbose.n == terse.n == 82
    assert verbose.lower <= verbose.value <= verbose.upper


def test_the_lc_win_rate_of_a_length_blind_judge_matches_the_raw_win_rate() -> None:
    # p wins 7 of every 10 questions at each length difference, so length explains nothing
    judgments, answers = [], []
    for level, (lp, lq) in enumerate([(400, 100), (200, 100), (100, 200), (100, 400)]):
        for k in range(10):
            q = f"q{level}-{k}"
            winner = "model_a" if k < 7 else "model_b"
            judgments += _both(q, winner, winner, a="p", b="q")
            answers += _answers(q, lp, lq, a="p", b="q")
    checks = _by_check(length_checks(judgments, answers, resamples=50))
    p = checks[LC_WIN_RATE.format(model="p")]
    assert "raw win rate 70%" in p.note
    assert p.value == pytest.approx(0.7, abs=0.05)
    assert p.value == pytest.approx(0.7, abs=1e-4)  # the length weight is exactly 0 at the optimum
    assert checks[LONGER_WINS].value == 0.5
    assert p.lower < 0.7 < p.upper


def test_length_errors_are_left_out_and_judges_kept_apart() -> None:
    long_j, long_a = _length_lover()
    blind_j, blind_a = _length_blind()
    alone = length_checks(long_j, long_a, resamples=20) + length_checks(blind_j, blind_a, resamples=20)
    extra = _both("q0", "error", "error", judge="long") + _both("q1", "error", "error", judge="blind")
    mixed = length_checks(long_j + blind_j + extra, long_a, resamples=20)  # both runs share the answers
    assert mixed == alone
    assert {c.judge for c in mixed} == {"long", "blind"}


def test_judgments_without_answer_text_are_counted_in_the_note() -> None:
    judgments, answers = _length_lover()
    checks = _by_check(length_checks(judgments, answers[2:], resamples=20), "long")  # q0's answers gone
    assert checks[LONGER_WINS].n == 14
    assert "2 judgments left out" in checks[LONGER_WINS].note


def test_win_by_length_bins_counts_each_bin() -> None:
    judgments, answers = _length_lover()
    bins = win_by_length_bins(judgments, answers)
    # differences x - y: 200, -200, 200, -340, 50, -40, 380, -190, each judged in both orders
    assert bins == [("< -200", 2, 0.0), ("[-200, -50)", 4, 0.0), ("[-50, 50)", 2, 0.0),
                    ("[50, 200)", 2, 1.0), (">= 200", 6, 1.0)]
    label, n, share = win_by_length_bins(judgments, answers, judge="other")[0]
    assert (label, n, math.isnan(share)) == ("< -200", 0, True)
