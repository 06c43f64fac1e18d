"""One code path commits model calls: generation, judging (both methods), the bias probes and
``harness prompts test`` all reach the cache through ``harness.models.calls`` (counted there)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from harness import tasks
from harness.app.cli import main
from harness.core.types import DecodingParams, Message, ModelConfig, Task
from harness.judges import prompts
from harness.judges.asking import BuiltJudge, JudgeSettings
from harness.judges.pairwise import judge_jobs, make_jobs
from harness.judges.probes import choose_answers, llm_perturbations, run_probes
from harness.models import backends, calls
from harness.models.cache import CallCache
from harness.models.generate import generate_answers


class Writer:
    """A generating backend: a fixed reply per conversation (a judge verdict ends it)."""

    def __init__(self, spec: str, reply: str) -> None:
        self.spec, self.reply, self.sent = spec, reply, 0

    def generate(self, conversations: list[list[Message]], params: DecodingParams) -> list[str]:
        self.sent += len(conversations)
        return [f"{self.reply} ({len(c[-1]['content'])})" for c in conversations]


class Scorer(Writer):
    """A backend that also scores labels (a likelihood judge)."""

    def label_logprobs(self, conversation: list[Message], labels: list[str]) -> list[float]:
        self.sent += 1
        return [-float(len(label) + len(conversation[-1]["content"]) % 3) for label in labels]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Fake backends under their specs, and a count of commits: through the layer, and into the cache."""
    seen: dict[str, Any] = {"layer": 0, "puts": [], "writer": Writer("fake:writer", "An answer."),
                            "judge": Writer("fake:judge", "Verdict: better"),
                            "scorer": Scorer("fake:scorer", "")}
    for key in ("writer", "judge", "scorer"):
        monkeypatch.setitem(backends._LOADED, seen[key].spec, seen[key])
    commit = calls._commit

    def counting_commit(*args: Any, **kwargs: Any) -> None:
        seen["layer"] += 1
        commit(*args, **kwargs)

    put = CallCache.put

    def recording_put(self: CallCache, *args: Any, **kwargs: Any) -> None:
        seen["puts"].append(sys._getframe(1).f_globals["__name__"])
        put(self, *args, **kwargs)

    monkeypatch.setattr(calls, "_commit", counting_commit)
    monkeypatch.setattr(CallCache, "put", recording_put)
    return seen


def _everything(run: Path, task_list: list[Task]) -> None:
    with CallCache(run / "cache.sqlite") as cache:
        models = [ModelConfig("one", "fake:writer", DecodingParams(max_new_tokens=8)),
                  ModelConfig("two", "fake:writer", DecodingParams(max_new_tokens=9))]
        answers = generate_answers(task_list, models, cache)
        prompt = prompts.load_prompt("assignment_en")
        generate_judge = JudgeSettings(spec="fake:judge", method="generate")
        judge = BuiltJudge(generate_judge, backends.load_backend("fake:judge"), prompt)
        judge_jobs(judge, make_jobs(task_list, ["one", "two"], answers), cache=cache)
        likelihood = JudgeSettings(spec="fake:scorer", method="likelihood")
        judge_jobs(BuiltJudge(likelihood, backends.load_backend("fake:scorer"), prompt),
                   make_jobs(task_list, ["one", "two"], answers), cache=cache)
        chosen = choose_answers(task_list, answers)
        altered = llm_perturbations(chosen, task_list, ["rich_content"], spec="fake:writer", cache=cache)
        run_probes(judge, altered, tasks=task_list, cache=cache)
        assert set(cache.calls) <= {"generate", "judge", "perturb"}
    assert main(["prompts", "test", "assignment_en", "--judge", "fake:judge", "--out", str(run / "pt")]) == 0


def test_every_stage_commits_through_the_one_layer(counted: dict[str, Any], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    task = tasks.load_task("en_law")
    task_list = [Task(task.id, task.language, task.domain, task.description, task.questions[:2])]
    _everything(tmp_path, task_list)
    capsys.readouterr()
    sent = counted["writer"].sent + counted["judge"].sent + counted["scorer"].sent
    # 4 answers; 2 pairs x 2 orders by each judge (+2 content-free prompts for likelihood);
    # 2 altered answers judged in 2 orders; the prompt test's calibration set.
    assert counted["writer"].sent == 4 + 2 and counted["scorer"].sent == 4 + 2
    assert counted["judge"].sent > 4 + 4
    assert counted["layer"] == len(counted["puts"]) == sent
    assert set(counted["puts"]) == {"harness.models.calls"}

    # A second pass is all cache hits: nothing is sent, nothing committed.
    before = counted["layer"]
    _everything(tmp_path, task_list)
    assert counted["layer"] == before
    assert counted["writer"].sent + counted["judge"].sent + counted["scorer"].sent == sent



class Sampler:
    """A sampled model: a new reply for every conversation it is sent, equal ones included."""

    spec = "fake:sampler"

    def __init__(self) -> None:
        self.sent = 0

    def generate(self, conversations: list[list[Message]], params: DecodingParams) -> list[str]:
        self.sent += len(conversations)
        return [f"sample {self.sent - len(conversations) + k}" for k in range(len(conversations))]


def test_equal_requests_in_one_batch_are_one_call(tmp_path: Path) -> None:
    """Two tasks asking the same question (the built-in zh_finance q17 and zh_finance_mt's first
    turn of q06): one call, one reply for both, so a cached re-run shows each what the first run
    rated, and a paid model is paid once."""
    model = Sampler()
    same = {"messages": [{"role": "user", "content": "重疾险和医疗险有什么区别？"}], "spec": model.spec}
    other = {"messages": [{"role": "user", "content": "Another question"}], "spec": model.spec}
    params = DecodingParams(max_new_tokens=8)
    with CallCache(tmp_path / "cache.sqlite") as cache:
        first = dict(calls.generate(model, [same, other, same], params, cache=cache, kind="generate"))  # type: ignore[arg-type]
        assert model.sent == 2 and first[0] == first[2] != first[1]
        again = dict(calls.generate(model, [same, other, same], params, cache=cache, kind="generate"))  # type: ignore[arg-type]
    assert model.sent == 2 and again == first
