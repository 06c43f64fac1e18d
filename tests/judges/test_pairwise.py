"""Pairwise judging with a scripted judge: real prompts, parsing, re-asks, cache and combination."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from harness import tasks
from harness.core.types import Answer, DecodingParams, Message
from harness.judges.pairwise import BuiltJudge, JudgeSettings, judge_jobs, make_jobs
from harness.judges.prompts import load_prompt
from harness.models.cache import CallCache
from harness.stats.battles import combine, judge_stats

PROMPT = load_prompt("assignment_en")
MODELS = ["strong", "medium", "weak"]
QUALITY = {"strong": 3, "medium": 2, "weak": 1}


class ScriptedJudge:
    """Prefers the answer from the better model, like a fair judge, or mumbles (no label)."""

    spec = "scripted"

    def __init__(self, mumble_on: str = "", fix_on_retry: bool = False) -> None:
        self.mumble_on = mumble_on
        self.fix_on_retry = fix_on_retry
        self.calls: list[list[Message]] = []

    def generate(self, conversations: list[list[Message]], params: DecodingParams) -> list[str]:
        self.calls += conversations
        return [self._reply(c) for c in conversations]

    def _reply(self, conv: list[Message]) -> str:
        user = conv[1]["content"]
        first = user.split("Assistant 1: ")[1].split("\n")[0]
        second = user.split("Assistant 2: ")[1].split("\n")[0]
        if self.mumble_on and self.mumble_on in user:
            if not (self.fix_on_retry and len(conv) > 2):
                return "Both answers have merits; I cannot decide."
        q1, q2 = QUALITY[first.split()[0]], QUALITY[second.split()[0]]
        verdict = "better than" if q1 > q2 else "worse than" if q1 < q2 else "equal to"
        return f"Analysis of both answers.\nAssistant 1 is {verdict} Assistant 2"


@pytest.fixture
def setup(task_file: Path, tmp_path: Path):
    task = tasks.load_task("mini_math", [task_file.parent])
    task = type(task)(task.id, task.language, task.domain, task.description, task.questions[:3])
    answers = [Answer(m, task.id, q.id, f"{m} answer to {q.id}") for m in MODELS for q in task.questions]
    cache = CallCache(tmp_path / "cache.sqlite")
    yield task, answers, cache
    cache.close()


def test_every_pair_is_judged_in_both_orders(setup) -> None:
    task, answers, cache = setup
    jobs = make_jobs([task], MODELS, answers)
    judgments = judge_jobs(BuiltJudge(JudgeSettings(spec="scripted"), ScriptedJudge(), PROMPT), jobs, cache=cache)
    seen = Counter((j.question_id, j.model_a, j.model_b, j.order) for j in judgments)
    expected = {(q.id, a, b, o) for q in task.questions for a, b in itertools.combinations(MODELS, 2)
                for o in ("ab", "ba")}
    assert set(seen) == expected and set(seen.values()) == {1}
    # A fair judge names the same winner in both orders, so every battle is decisive.
    assert all(j.winner == "model_a" for j in judgments)
    battles = combine(judgments)
    assert len(battles) == 9 and {b.winner for b in battles} == {"model_a"}
    [stats] = judge_stats(judgments)
    assert (stats.pairs, stats.consistent, stats.errors) == (9, 9, 0)
    assert stats.first_slot_rate == 0.5


def test_the_ba_order_really_swaps_the_answers(setup) -> None:
    task, answers, cache = setup
    judge = ScriptedJudge()
    jobs = make_jobs([task], ["strong", "weak"], answers)
    judge_jobs(BuiltJudge(JudgeSettings(spec="scripted"), judge, PROMPT), jobs[:2], cache=cache)
    ab, ba = (c[1]["content"] for c in judge.calls)
    assert ab.index("strong answer") < ab.index("weak answer")
    assert ba.index("weak answer") < ba.index("strong answer")


def test_unparseable_reply_is_reasked_then_recorded_as_error(setup) -> None:
    task, answers, cache = setup
    judge = ScriptedJudge(mumble_on="to q02")
    settings = JudgeSettings(spec="scripted", max_attempts=3)
    judgments = judge_jobs(BuiltJudge(settings, judge, PROMPT), make_jobs([task], MODELS, answers), cache=cache)
    errors = [j for j in judgments if j.winner == "error"]
    assert len(errors) == 6 and {j.question_id for j in errors} == {"q02"}
    assert all(j.attempts == 3 and j.label == "" and j.raw.count("I cannot decide") == 3 for j in errors)
    # The re-ask shows the judge its reply and asks for the label alone.
    reasks = [c for c in judge.calls if len(c) > 2]
    assert len(reasks) == 12 and reasks[0][-1]["content"].startswith("Your reply did not end")
    # Errors are counted, never turned into ties: q02's comparisons give no battle at all.
    battles = combine(judgments)
    assert len(battles) == 6 and "q02" not in {b.question_id for b in battles}
    assert judge_stats(judgments)[0].errors == 6


def test_reask_can_recover_a_label(setup) -> None:
    task, answers, cache = setup
    judge = ScriptedJudge(mumble_on="to q01", fix_on_retry=True)
    judgments = judge_jobs(BuiltJudge(JudgeSettings(spec="scripted"), judge, PROMPT),
                           make_jobs([task], MODELS, answers), cache=cache)
    q1 = [j for j in judgments if j.question_id == "q01"]
    assert all(j.attempts == 2 and j.winner == "model_a" for j in q1)


def test_cached_judgments_make_no_second_call(setup) -> None:
    task, answers, cache = setup
    jobs = make_jobs([task], MODELS, answers)
    first = judge_jobs(BuiltJudge(JudgeSettings(spec="scripted"), ScriptedJudge(mumble_on="to q02"), PROMPT),
                       jobs, cache=cache)
    again = ScriptedJudge(mumble_on="to q02")
    second = judge_jobs(BuiltJudge(JudgeSettings(spec="scripted"), again, PROMPT), jobs, cache=cache)
    assert again.calls == [] and first == second


def test_missing_answer_is_an_error_naming_it(setup) -> None:
    task, answers, _ = setup
    from harness.core.errors import HarnessError

    with pytest.raises(HarnessError, match="no answer from model 'weak' to mini_math/q03"):
        make_jobs([task], MODELS, [a for a in answers if (a.model, a.question_id) != ("weak", "q03")])
