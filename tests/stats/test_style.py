"""Style control (issue 19): on constructed battles, a judge that rewards only list items gets a
clearly positive list weight and style-controlled ratings without the listing model's advantage;
with no style effect the weights' intervals cover zero."""

from __future__ import annotations

import random

from harness.core.types import Answer, Battle
from harness.stats.ratings import leaderboard
from harness.stats.style import FEATURES, style_controlled, style_counts

MODELS = ["lister", "sometimes", "prose"]
SHARE = {"lister": 0.85, "sometimes": 0.5, "prose": 0.15}
# The same number of characters either way, so that lists are the only style difference.
LIST = "- Save often\n- Spend less\n- Invest wisely"
PROSE = "Save often, spend less and invest wisely."


def _battles(judge: str, seed: int = 1, questions: int = 120) -> tuple[list[Battle], list[Answer]]:
    """Every pair on every question; ``judge`` is ``lists`` (the answer with more list items wins,
    15% noise) or ``coin`` (a fair coin, style ignored)."""
    rng = random.Random(seed)
    answers, battles = [], []
    for q in range(questions):
        texts = {m: LIST if rng.random() < SHARE[m] else PROSE for m in MODELS}
        answers += [Answer(m, "t", f"q{q}", t) for m, t in texts.items()]
        for a, b in (("lister", "sometimes"), ("lister", "prose"), ("sometimes", "prose")):
            items_a, items_b = style_counts(texts[a])[2], style_counts(texts[b])[2]
            if judge == "coin":
                winner = rng.choice(["model_a", "model_b"])
            elif items_a == items_b:
                winner = "tie"
            else:
                winner = "model_a" if (items_a > items_b) != (rng.random() < 0.15) else "model_b"
            battles.append(Battle(a, b, winner, "t", f"q{q}"))  # type: ignore[arg-type]
    return battles, answers


def test_the_constructed_answers_differ_in_lists_only() -> None:
    assert len(LIST) == len(PROSE)
    assert style_counts(LIST)[1:] == (0, 3, 0) and style_counts(PROSE)[1:] == (0, 0, 0)


def test_a_judge_rewarding_lists_is_caught_and_controlled_for() -> None:
    battles, answers = _battles("lists")
    plain = {r.model: r for r in leaderboard(battles, MODELS, bootstrap=50)}
    # Plainly, the lister is far ahead and its interval clears the prose model's.
    assert plain["lister"].bt_lower > plain["prose"].bt_upper + 100
    fit = style_controlled(battles, answers, MODELS, bootstrap=100)
    assert fit is not None and fit.n == len(battles) and fit.left_out == 0
    weights = dict(zip(FEATURES, zip(fit.weights, fit.weight_lower, fit.weight_upper)))
    assert weights["list items"][1] > 0.5  # clearly positive
    assert weights["length"] == weights["headers"] == weights["bold"] == (0.0, 0.0, 0.0)  # never vary
    ratings = dict(zip(fit.models, zip(fit.ratings, fit.lower, fit.upper)))
    # The advantage is gone: every model's interval covers the others' ratings, and the gap is small.
    for m in MODELS:
        assert all(ratings[m][1] <= ratings[o][0] <= ratings[m][2] for o in MODELS if o != m), ratings
    assert abs(ratings["lister"][0] - ratings["prose"][0]) < 40


def test_without_a_style_effect_the_weights_cover_zero() -> None:
    battles, answers = _battles("coin", seed=3)
    fit = style_controlled(battles, answers, MODELS, bootstrap=100)
    assert fit is not None
    low, high = fit.weight_lower[FEATURES.index("list items")], fit.weight_upper[FEATURES.index("list items")]
    assert low < 0 < high


def test_too_few_battles_or_missing_answers() -> None:
    battles, answers = _battles("lists", questions=3)  # 9 battles
    assert style_controlled(battles, answers, MODELS) is None
    battles, answers = _battles("lists", questions=10)
    fit = style_controlled(battles, answers[3:], MODELS, bootstrap=10)  # q0's answers gone
    assert fit is not None and fit.left_out == 3 and fit.n == 27
