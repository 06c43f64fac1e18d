"""The ``openai:`` backend over real HTTP: the real openai client against llama.cpp's server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.app.cli import main
from harness.app.config import RunConfig
from harness.app.pipeline import run
from harness.core import rundir
from harness.core.errors import BackendError
from harness.core.types import DecodingParams, ModelConfig
from harness.judges.pairwise import JudgeSettings
from harness.models.backends import load_backend
from harness.models.endpoints import ApiConfig, EndpointSettings, session

pytestmark = pytest.mark.slow


def test_generate_over_http(llama_server: str) -> None:
    backend = load_backend(f"openai:smollm2@{llama_server}")
    convs = [[{"role": "user", "content": "What is the capital of France?"}],
             [{"role": "user", "content": "Name a primary colour."}],
             [{"role": "user", "content": "Say hello."}]]
    params = DecodingParams(max_new_tokens=24, top_k=20)
    reset = [[{"role": "user", "content": "Count to three."}]]

    def greedy(order: list[int]) -> list[str]:
        # llama-cpp-python's server reuses the previous prompt's cached prefix, and its greedy output
        # can depend on what that prompt was: each round starts from the same one.
        backend.generate(reset, params)
        replies = backend.generate([convs[i] for i in order], params)
        return [replies[order.index(i)] for i in range(len(convs))]

    with session(ApiConfig(default=EndpointSettings(concurrency=1))):
        replies = greedy([0, 1, 2])
        assert len(replies) == 3 and all(isinstance(r, str) and r for r in replies)
        assert "Paris" in replies[0] and "Paris" not in replies[1] + replies[2]
        # Greedy decoding over HTTP repeats.
        assert greedy([0, 1, 2]) == replies
    with session(ApiConfig(default=EndpointSettings(concurrency=3))):
        # Concurrent replies come back matched to their requests.
        concurrent = backend.generate(convs[::-1], params)[::-1]
        assert "Paris" in concurrent[0] and "Paris" not in concurrent[1] + concurrent[2]


def test_run_with_openai_candidate_and_judge(llama_server: str, tmp_path: Path) -> None:
    spec = f"openai:smollm2@{llama_server}"
    config = RunConfig(
        tasks=("en_medical",), limit=2, out=tmp_path / "run", progress=False,
        models=(ModelConfig("local", "embedded", DecodingParams(max_new_tokens=24)),
                ModelConfig("served", spec, DecodingParams(max_new_tokens=24))),
        judges=(JudgeSettings(spec=spec, max_attempts=2, decoding=DecodingParams(max_new_tokens=48)),),
    )
    first = run(config)
    assert first.calls["generate"] == 4
    judgments = [json.loads(x) for x in (tmp_path / "run" / rundir.JUDGMENTS).read_text().splitlines()]
    assert len(judgments) == 4 and {j["method"] for j in judgments} == {"generate"}
    for j in judgments:
        # Each verdict is a real label read from the reply, or an error after the re-ask; never
        # a silent tie.
        assert (j["winner"] == "error") == (j["label"] == "")
        assert j["raw"].strip()
        if j["winner"] == "error":
            assert j["attempts"] == 2 and "--- re-asked ---" in j["raw"]
    errors = sum(j["winner"] == "error" for j in judgments)
    assert first.stats[0].errors == errors
    assert first.calls["judge"] == sum(j["attempts"] for j in judgments)
    battles = (tmp_path / "run" / rundir.BATTLES).read_text().splitlines()
    pairs_without_error = {(j["question_id"]) for j in judgments} - {
        j["question_id"] for j in judgments if j["winner"] == "error"}
    assert len(battles) == len(pairs_without_error)
    second = run(config)
    assert sum(second.calls.values()) == 0


def test_unreachable_endpoint_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(BackendError, match="cannot connect to http://127.0.0.1:9/v1"):
        load_backend("openai:m@http://127.0.0.1:9/v1").generate(
            [[{"role": "user", "content": "hi"}]], DecodingParams(max_new_tokens=4))
    argv = ["run", "--tasks", "en_law", "--limit", "1", "--out", str(tmp_path / "r"), "--no-progress",
            "--models", "a=openai:m@http://127.0.0.1:9/v1", "b=openai:n@http://127.0.0.1:9/v1"]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        "harness: error: openai:m@http://127.0.0.1:9/v1: cannot connect to http://127.0.0.1:9/v1")


def test_missing_key_for_the_real_api_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(BackendError, match="set OPENAI_API_KEY"):
        load_backend("openai:gpt-4o-mini").generate([[{"role": "user", "content": "hi"}]],
                                                    DecodingParams())
