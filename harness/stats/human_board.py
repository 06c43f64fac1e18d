"""The people's own leaderboard: Bradley-Terry on the human labels, with bootstrap intervals.

Each label is one battle (as Chatbot Arena counts votes): two annotators on the same comparison
are two battles, and "both bad" counts as a tie. The fit is ``harness.stats.bradley_terry``'s, prior
and all, so the human and judge leaderboards are on one scale and can be read side by side.

Not handled: weighting annotators by their reliability (every vote counts the same), and labels
that compare a model with itself (``HumanLabel`` never holds one).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.core.types import Battle, HumanLabel
from harness.stats.bradley_terry import RatingResult, bradley_terry


def human_battles(labels: Sequence[HumanLabel]) -> list[Battle]:
    """One battle per label; any kind of tie (``tie``, ``tie (bothbad)``) is a tie.

    >>> label = HumanLabel("t", "q1", "x", "y", "model_b", "ann")
    >>> human_battles([label])[0].winner, human_battles([label])[0].judge
    ('model_b', 'human:ann')
    """
    return [Battle(model_a=h.model_a, model_b=h.model_b,
                   winner="tie" if h.winner.startswith("tie") else h.winner,  # type: ignore[arg-type]
                   task=h.task, question_id=h.question_id, judge=f"human:{h.annotator}")
            for h in labels]


def human_leaderboard(*, labels: Sequence[HumanLabel], models: Sequence[str] | None = None,
                      bootstrap: int = 1000, seed: int = 0, prior_sd: float | None = None
                      ) -> RatingResult | None:
    """Bradley-Terry ratings from the human battles (None when there are no labels); ``models``
    fixes the order and includes models nobody has voted on yet."""
    if not labels:
        return None
    battles = human_battles(labels)
    voted = list(dict.fromkeys(m for b in battles for m in (b.model_a, b.model_b)))
    names = [*(models or ()), *(m for m in voted if m not in (models or ()))]
    return bradley_terry(battles, names, bootstrap=bootstrap, seed=seed, prior_sd=prior_sd)
