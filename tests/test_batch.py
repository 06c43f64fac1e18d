"""``harness batch export|import`` and ``--batch-api``, against a scripted server with OpenAI's Files
and Batches API and Anthropic's Message Batches (``batch_server``), and result files in the shapes
OpenAI, vLLM's ``run-batch`` and Anthropic write."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from batch_server import BatchServer, chat_completion

from harness.app.cli import main
from harness.core import rundir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from run_batch import run_batch  # noqa: E402

LABELS = ("Assistant 1 is better than Assistant 2", "Assistant 1 is worse than Assistant 2",
          "Assistant 1 is equal to Assistant 2")


def reply(body: dict[str, Any]) -> str:
    """Candidates say whose answer it is; the judge's verdict depends on the whole prompt."""
    last = str(body["messages"][-1]["content"])
    if body["model"] == "judge":
        return f"Reasoning.\n{LABELS[hashlib.sha256(last.encode()).digest()[0] % 3]}"
    return f"{body['model']} answers: {last[:60]}"


def _config(tmp_path: Path, url: str, name: str = "cfg") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""
name: {name}
tasks: [en_law]
limit: 3
models:
  - {{name: a, spec: "openai:alpha@{url}"}}
  - {{name: b, spec: "openai:beta@{url}"}}
judge: [{{spec: "openai:judge@{url}"}}]
report: []
""", encoding="utf-8")
    return path


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(t) for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]


def _calls(run: Path) -> int:
    with sqlite3.connect(run / rundir.CACHE) as db:
        return int(db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])


def _verdicts(run: Path) -> list[tuple[Any, ...]]:
    return sorted((j["task"], j["question_id"], j["model_a"], j["model_b"], j["winner"])
                  for j in _lines(run / rundir.JUDGMENTS))


def _sync_run(tmp_path: Path, server: BatchServer) -> Path:
    """The same run made synchronously, for the verdicts a batch run must equal."""
    cfg = _config(tmp_path, server.url, "sync")
    assert main(["run", str(cfg), "--out", str(tmp_path / "sync"), "--no-progress"]) == 0
    return tmp_path / "sync"


def test_export_import_round_trip_leaves_nothing_to_send(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    with BatchServer(reply) as server:
        run, cfg = tmp_path / "run", _config(tmp_path, server.url)
        req = tmp_path / "gen.jsonl"
        assert main(["batch", "export", str(run), "--stage", "generate", "--config", str(cfg),
                     "--out", str(req)]) == 0
        lines = _lines(req)
        assert len(lines) == 6  # 2 models x 3 questions
        for line in lines:
            assert len(line["custom_id"]) == 64 and int(line["custom_id"], 16) >= 0
            assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
            assert line["body"]["model"] in ("alpha", "beta") and line["body"]["messages"][-1]["role"] == "user"
            assert line["body"]["max_tokens"] > 0
        out = tmp_path / "gen.out.jsonl"
        run_batch(req, out, url=server.url)
        rows = _lines(out)
        out.write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)), encoding="utf-8")  # by id
        capsys.readouterr()
        assert main(["batch", "import", str(run), str(out)]) == 0
        assert "imported 6 replies (generate 6)" in capsys.readouterr().out
        assert main(["batch", "import", str(run), str(out)]) == 0  # twice: adds nothing
        assert "imported 0 replies; 6 already stored" in capsys.readouterr().out
        assert _calls(run) == 6
        # Judging needs the answers: a generate stage with every call cached writes them.
        assert main(["generate", str(cfg), "--out", str(run), "--no-progress"]) == 0
        capsys.readouterr()
        assert main(["batch", "export", str(run), "--stage", "judge", "--judge", "reference:chrf",
                     "--out", str(tmp_path / "none.jsonl")]) == 0
        said = capsys.readouterr()
        assert "nothing to export" in said.out and "reference:chrf calls no endpoint" in said.err
        assert not (tmp_path / "none.jsonl").exists()
        req = tmp_path / "judge.jsonl"
        assert main(["batch", "export", str(run), "--stage", "judge", "--out", str(req)]) == 0
        assert len(_lines(req)) == 6  # 3 questions x 1 pair x 2 orders
        run_batch(req, tmp_path / "judge.out.jsonl", url=server.url)
        assert main(["batch", "import", str(run), str(tmp_path / "judge.out.jsonl")]) == 0
        chats = server.chats
        assert main(["run", str(cfg), "--out", str(run), "--no-progress"]) == 0
        assert server.chats == chats  # 0 calls for the next run
        assert _verdicts(run) == _verdicts(_sync_run(tmp_path, server))


def test_failed_and_expired_lines_stay_pending(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with BatchServer(reply) as server:
        run, cfg = tmp_path / "run", _config(tmp_path, server.url)
        req = tmp_path / "gen.jsonl"
        main(["batch", "export", str(run), "--stage", "generate", "--config", str(cfg), "--out", str(req)])
        keys = [line["custom_id"] for line in _lines(req)]
        body = {line["custom_id"]: line["body"] for line in _lines(req)}
        ok = [{"id": "r", "custom_id": k, "response": {"status_code": 200, "request_id": "x",
                                                       "body": chat_completion(body[k], reply(body[k]))},
               "error": None} for k in keys[:3]]
        server_error = {"id": "r", "custom_id": keys[3], "response": {"status_code": 500, "request_id": "x",
                        "body": {"error": {"message": "The server had an error", "type": "server_error"}}},
                        "error": None}
        expired = {"id": "r", "custom_id": keys[4], "response": None,
                   "error": {"code": "batch_expired", "message": "This request could not be executed before "
                             "the completion window expired."}}
        (tmp_path / "out.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ok), encoding="utf-8")
        (tmp_path / "err.jsonl").write_text(json.dumps(server_error) + "\n" + json.dumps(expired) + "\n",
                                            encoding="utf-8")
        capsys.readouterr()
        assert main(["batch", "import", str(run), str(tmp_path / "out.jsonl"), str(tmp_path / "err.jsonl")]) == 0
        said = capsys.readouterr().out.strip()
        assert said.startswith("imported 3 replies (generate 3); 2 without a reply (1 error, 1 expired; e.g. ")
        assert "HTTP 500: The server had an error" in said and "3 calls still pending" in said
        assert len(said.splitlines()) == 1
        chats = server.chats
        assert main(["generate", str(cfg), "--out", str(run), "--no-progress"]) == 0
        assert server.chats - chats == 3  # only the calls still missing


@pytest.mark.parametrize("bad, said", [
    ("{not json", "not a JSON line"),
    ('{"response": {"status_code": 200}}', "not a batch result line (no custom_id)"),
    ('{"custom_id": "' + "ab" * 32 + '", "response": {"status_code": 200, "body": {"choices": []}}, '
     '"error": null}', "malformed result (the reply has no choices)"),
    ('{"custom_id": "' + "cd" * 32 + '", "response": {"status_code": 200, "body": {"choices": [{"message": '
     '{"content": "x"}}]}}}', "is no call exported from this run directory"),
])
def test_a_bad_result_file_is_one_line_and_nothing_is_written(tmp_path: Path, bad: str, said: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    with BatchServer(reply) as server:
        run, cfg = tmp_path / "run", _config(tmp_path, server.url)
        req = tmp_path / "gen.jsonl"
        main(["batch", "export", str(run), "--stage", "generate", "--config", str(cfg), "--out", str(req)])
        out = tmp_path / "out.jsonl"
        run_batch(req, out, url=server.url)
        good = out.read_text(encoding="utf-8").splitlines()
        out.write_text("\n".join([good[0], bad, *good[1:]]) + "\n", encoding="utf-8")
        capsys.readouterr()
        assert main(["batch", "import", str(run), str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"{out}:2: " in err and said in err, err
        assert _calls(run) == 0


def test_vllm_run_batch_edge_cases_from_recorded_outputs(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """vLLM writes an unknown model as a line with the status code and its ErrorResponse, an
    exception as status 400 with the message as a string, and stops at an invalid input line (the
    lines after it get no result)."""
    with BatchServer(reply) as server:
        run, cfg = tmp_path / "run", _config(tmp_path, server.url)
        req = tmp_path / "gen.jsonl"
        main(["batch", "export", str(run), "--stage", "generate", "--config", str(cfg), "--out", str(req)])
        keys = [line["custom_id"] for line in _lines(req)]
        body = _lines(req)[0]["body"]
        rows = [
            {"id": "vllm-1", "custom_id": keys[0], "response": {"status_code": 200, "request_id": "vllm-batch-1",
                                                                "body": chat_completion(body, reply(body))},
             "error": None},
            {"id": "vllm-2", "custom_id": keys[1], "response": {"status_code": 404, "request_id": "vllm-batch-2",
                                                                "body": None},
             "error": {"error": {"message": "The model `alpha` does not exist.", "type": "NotFoundError",
                                 "param": "model", "code": 404}}},
            {"id": "vllm-3", "custom_id": keys[2], "response": {"status_code": 400, "request_id": "vllm-batch-3",
                                                                "body": None},
             "error": "Request must not be sent in stream mode"},
        ]
        out = tmp_path / "vllm.jsonl"
        out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        capsys.readouterr()
        assert main(["batch", "import", str(run), str(out)]) == 0
        said = capsys.readouterr().out
        assert "imported 1 reply (generate 1); 2 without a reply (2 error; e.g. " in said
        assert "HTTP 404: The model `alpha` does not exist." in said
        assert "5 calls still pending" in said  # 2 refused, 3 the run never reached


def test_anthropic_format_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with BatchServer(reply) as server:
        run, cfg = tmp_path / "run", _config(tmp_path, server.url)
        cfg.write_text(cfg.read_text(encoding="utf-8").replace(
            "models:", "models:\n  - {name: c, spec: \"openai:gamma@" + server.url + "\", system_prompt: Be brief.}"),
            encoding="utf-8")
        req = tmp_path / "gen.jsonl"
        assert main(["batch", "export", str(run), "--stage", "generate", "--config", str(cfg),
                     "--format", "anthropic", "--out", str(req)]) == 0
        lines = _lines(req)
        assert len(lines) == 9 and all(set(line) == {"custom_id", "params"} for line in lines)
        gamma = next(line["params"] for line in lines if line["params"]["model"] == "gamma")
        assert gamma["system"] == "Be brief." and all(m["role"] != "system" for m in gamma["messages"])
        assert gamma["max_tokens"] > 0 and "seed" not in gamma
        results = []
        for line in lines:
            p = line["params"]
            text = reply({"model": p["model"], "messages": [{"role": "system", "content": p.get("system", "")},
                                                             *p["messages"]]})
            results.append({"custom_id": line["custom_id"], "result": {"type": "succeeded", "message": {
                "id": "msg_1", "type": "message", "role": "assistant", "model": p["model"],
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 5, "cache_read_input_tokens": 0}}}})
        results[0]["result"] = {"type": "expired"}
        out = tmp_path / "anthropic.jsonl"
        out.write_text("".join(json.dumps(r) + "\n" for r in results), encoding="utf-8")
        capsys.readouterr()
        assert main(["batch", "import", str(run), str(out)]) == 0
        assert "imported 8 replies (generate 8); 1 without a reply (1 expired" in capsys.readouterr().out
        with sqlite3.connect(run / rundir.CACHE) as db:
            assert db.execute("SELECT SUM(prompt_tokens), SUM(completion_tokens) FROM calls").fetchone() == (96, 40)
        chats = server.chats
        assert main(["generate", str(cfg), "--out", str(run), "--no-progress"]) == 0
        assert server.chats - chats == 1


def test_shards_split_by_key(tmp_path: Path) -> None:
    with BatchServer(reply) as server:
        run, cfg = tmp_path / "run", _config(tmp_path, server.url)
        cfg.write_text(cfg.read_text(encoding="utf-8").replace("limit: 3", "limit: 10"), encoding="utf-8")
        assert main(["batch", "export", str(run), "--stage", "generate", "--config", str(cfg), "--shards", "3",
                     "--out", str(tmp_path / "req.jsonl")]) == 0
        parts = [_lines(tmp_path / f"req-{i}-of-3.jsonl") for i in (1, 2, 3)]
        keys = [line["custom_id"] for part in parts for line in part]
        assert len(keys) == len(set(keys)) == 20 and all(parts)
        for i, part in enumerate(parts):
            assert all(int(line["custom_id"][:8], 16) % 3 == i for line in part)


MT_TASK = """
language: en
domain: finance
description: two-turn questions
questions:
  - id: q1
    category: writing
    turns: [Explain compound interest., Now in one sentence.]
  - id: q2
    category: writing
    turns: [Explain a bond., Now for a child.]
"""


def test_a_multi_turn_stage_is_exported_turn_by_turn(tmp_path: Path) -> None:
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "mt.yaml").write_text(MT_TASK, encoding="utf-8")
    with BatchServer(reply) as server:
        run, cfg = tmp_path / "run", _config(tmp_path, server.url)
        text = cfg.read_text(encoding="utf-8")
        cfg.write_text(text.replace("tasks: [en_law]", f"tasks: [mt]\ntasks_dirs: [{folder}]"), encoding="utf-8")
        export = ["batch", "export", str(run), "--stage", "generate", "--config", str(cfg)]
        assert main([*export, "--turn", "2", "--out", str(tmp_path / "t2.jsonl")]) == 0
        assert not (tmp_path / "t2.jsonl").exists()  # turn 2 needs turn 1's answers
        assert main([*export, "--out", str(tmp_path / "t1.jsonl")]) == 0
        first = _lines(tmp_path / "t1.jsonl")
        assert len(first) == 4 and all(len(line["body"]["messages"]) == 1 for line in first)
        run_batch(tmp_path / "t1.jsonl", tmp_path / "t1.out", url=server.url)
        assert main(["batch", "import", str(run), str(tmp_path / "t1.out")]) == 0
        assert main([*export, "--turn", "2", "--out", str(tmp_path / "t2.jsonl")]) == 0
        second = _lines(tmp_path / "t2.jsonl")
        assert len(second) == 4
        for line in second:  # the conversation holds the model's own turn-1 answer
            user, answer, follow = line["body"]["messages"]
            assert answer["role"] == "assistant" and answer["content"].startswith(f"{line['body']['model']} answers")


def test_batch_api_round_trip_with_failures_equals_a_synchronous_run(tmp_path: Path) -> None:
    keys_failing = lambda key: int(key[:2], 16) % 4 == 0  # noqa: E731
    keys_expiring = lambda key: int(key[:2], 16) % 4 == 1  # noqa: E731
    with BatchServer(reply, polls=2, fail=keys_failing, expire=keys_expiring) as server:
        run, cfg = tmp_path / "run", _config(tmp_path, server.url)
        assert main(["run", str(cfg), "--out", str(run), "--no-progress", "--batch-api", "--batch-poll", "0.01"]) == 0
        assert server.chats == 0
        # A batch per model and one for the judge, each resending its failed lines once.
        created = len(server.created)
        assert 3 < created <= 6
        assert main(["run", str(cfg), "--out", str(run), "--no-progress", "--batch-api"]) == 0
        assert server.chats == 0 and len(server.created) == created  # nothing sent again
        assert _verdicts(run) == _verdicts(_sync_run(tmp_path, server))


def test_batch_api_anthropic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anthropic's Message Batches, as the router sends them to api.anthropic.com (the client's
    address pointed at the scripted server)."""
    from harness.models import batch_api

    with BatchServer(reply, polls=1, expire=lambda key: key[0] in "01234567") as server:
        monkeypatch.setattr(batch_api._Anthropic, "base", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        run = tmp_path / "run"
        assert main(["generate", "--tasks", "en_law", "--limit", "3", "--out", str(run), "--no-progress",
                     "--models", "c=openai:claude-test@https://api.anthropic.com/v1", "--batch-api",
                     "--batch-poll", "0.01"]) == 0
        answers = _lines(run / rundir.ANSWERS)
        assert len(answers) == 3 and all(a["answer"].startswith("claude-test answers: ") for a in answers)
        assert server.created[0].startswith("msgbatch_") and len(server.created) in (1, 2)


def test_batch_api_killed_while_pending_resumes_the_same_batch(tmp_path: Path) -> None:
    with BatchServer(reply, polls=10 ** 9) as server:
        run, cfg = tmp_path / "run", _config(tmp_path, server.url)
        # One model: the stage is one batch.
        cfg.write_text("".join(line for line in cfg.read_text(encoding="utf-8").splitlines(keepends=True)
                               if "name: b," not in line), encoding="utf-8")
        cmd = [sys.executable, "-m", "harness", "generate", str(cfg), "--out", str(run), "--no-progress",
               "--batch-api", "--batch-poll", "0.05"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (server.batches and
                                                       next(iter(server.batches.values()))["reads"] > 2):
                time.sleep(0.05)
            assert server.created == ["batch_1"]
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        server.polls = 0
        assert main(["generate", str(cfg), "--out", str(run), "--no-progress", "--batch-api",
                     "--batch-poll", "0.01"]) == 0
        assert server.created == ["batch_1"] and server.chats == 0  # resumed, not sent again
        assert len(_lines(run / rundir.ANSWERS)) == 3


def test_dry_run_with_batch_api_counts_batch_prices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    costs = []
    for extra in ([], ["--batch-api"]):
        assert main(["run", "--tasks", "en_law", "--limit", "2", "--out", str(tmp_path / "r"), "--dry-run",
                     "--models", "a=openai:gpt-4o-mini", "b=embedded", *extra]) == 0
        total = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Total")][0]
        costs.append(float(total.split("$")[1].split(".")[0] + "." + total.split("$")[1].split(".")[1][:4]))
    assert costs[0] > 0 and costs[1] == pytest.approx(costs[0] / 2, abs=1e-4)


@pytest.mark.slow
def test_export_llama_cpp_answers_every_line_import(llama_server: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The whole loop on a real engine: export -> llama.cpp's server answering each line as `vllm
    run-batch` would (benchmarks/run_batch.py) -> import; then the run sends nothing more."""
    spec = f"openai:smollm2@{llama_server}"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({
        "tasks": ["en_law"], "limit": 2, "report": [], "bootstrap": 20,
        "models": [{"name": "terse", "spec": spec, "decoding": {"max_new_tokens": 16},
                    "system_prompt": "Answer in one short sentence."},
                   {"name": "plain", "spec": spec, "decoding": {"max_new_tokens": 16}}],
        "judge": {"spec": spec, "method": "generate", "max_attempts": 1, "decoding": {"max_new_tokens": 8}},
    }), encoding="utf-8")
    run = tmp_path / "run"
    for stage in ("generate", "judge"):
        req, out = tmp_path / f"{stage}.jsonl", tmp_path / f"{stage}.out.jsonl"
        assert main(["batch", "export", str(run), "--stage", stage, "--config", str(cfg), "--out", str(req)]) == 0
        assert len(_lines(req)) == 4
        assert run_batch(req, out, url=llama_server, concurrency=2) == 4
        assert all(r["response"]["status_code"] == 200 for r in _lines(out))
        capsys.readouterr()
        assert main(["batch", "import", str(run), str(out)]) == 0
        assert capsys.readouterr().out.startswith(f"imported 4 replies ({stage} 4)")
        if stage == "generate":
            assert main(["generate", str(cfg), "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["run", str(cfg), "--out", str(run), "--no-progress"]) == 0
    assert "model calls: none; cached: 8;" in capsys.readouterr().err
    with sqlite3.connect(run / rundir.CACHE) as db:  # usage as billed, as a synchronous reply's
        assert db.execute("SELECT MIN(prompt_tokens) > 0, MIN(completion_tokens) > 0 FROM calls").fetchone() == (1, 1)


def test_max_cost_stops_a_batch_before_it_is_submitted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with BatchServer(reply, polls=0) as server:
        out = tmp_path / "run"
        base = ["generate", "--tasks", "en_law", "--limit", "3", "--out", str(out), "--no-progress",
                "--models", f"a=openai:gpt-4o-mini@{server.url}", "--batch-api", "--batch-poll", "0.01"]
        assert main([*base, "--max-cost", "0.0001"]) == 2
        assert "budget reached" in capsys.readouterr().err and server.created == []
        assert main([*base, "--max-cost", "1"]) == 0 and len(server.created) == 1


def test_exported_files_through_the_providers_batch_endpoints_then_imported(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]
                                                                           ) -> None:
    """The files a user uploads by hand: OpenAI's /v1/files + /v1/batches (through the official
    client: in progress, then completed with shuffled output lines, failed and expired ones in the
    error file) and Anthropic's /v1/messages/batches; their results imported as downloaded."""
    import urllib.request

    import openai

    with BatchServer(reply, polls=1) as server:
        run, cfg = tmp_path / "run", _config(tmp_path, server.url)
        req = tmp_path / "gen.jsonl"
        main(["batch", "export", str(run), "--stage", "generate", "--config", str(cfg), "--out", str(req)])
        keys = [line["custom_id"] for line in _lines(req)]
        server.fail, server.expire = (lambda key: key in keys[:2]), (lambda key: key == keys[2])
        client = openai.OpenAI(api_key="sk-test", base_url=server.url, max_retries=0)
        uploaded = client.files.create(file=req.open("rb"), purpose="batch")
        made = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                     completion_window="24h")
        assert client.batches.retrieve(made.id).status == "in_progress"
        done = client.batches.retrieve(made.id)
        assert done.status == "completed"
        files = []
        for file_id in (done.output_file_id, done.error_file_id):
            if file_id:
                files.append(tmp_path / f"{file_id}.jsonl")
                files[-1].write_bytes(client.files.content(file_id).content)
        capsys.readouterr()
        assert main(["batch", "import", str(run), *map(str, files)]) == 0
        missing = 3
        said = capsys.readouterr().out
        assert said.startswith("imported 3 replies (generate 3); 3 without a reply (2 error, 1 expired")
        # Anthropic's Message Batches: what --format anthropic wrote, posted as its requests.
        areq = tmp_path / "anthropic.jsonl"
        assert main(["batch", "export", str(run), "--stage", "generate", "--config", str(cfg), "--format",
                     "anthropic", "--out", str(areq)]) == 0
        assert len(_lines(areq)) == missing
        post = urllib.request.Request(f"{server.url}/messages/batches", method="POST",
                                      data=json.dumps({"requests": _lines(areq)}).encode())
        batch_id = json.loads(urllib.request.urlopen(post).read())["id"]
        for _ in range(3):
            status = json.loads(urllib.request.urlopen(f"{server.url}/messages/batches/{batch_id}").read())
        results = tmp_path / "anthropic.out.jsonl"
        results.write_bytes(urllib.request.urlopen(status["results_url"]).read())
        capsys.readouterr()
        assert main(["batch", "import", str(run), str(results)]) == 0
        assert capsys.readouterr().out.startswith(f"imported {missing} repl")
        chats = server.chats
        assert main(["generate", str(cfg), "--out", str(run), "--no-progress"]) == 0
        assert server.chats == chats  # 0 calls for the next run


def test_a_call_answered_since_the_export_keeps_its_reply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exported, then answered by a synchronous run (whose answers later stages used): a result
    file arriving afterwards changes nothing."""
    with BatchServer(reply) as server:
        run, cfg = tmp_path / "run", _config(tmp_path, server.url)
        req = tmp_path / "gen.jsonl"
        main(["batch", "export", str(run), "--stage", "generate", "--config", str(cfg), "--out", str(req)])
        assert main(["generate", str(cfg), "--out", str(run), "--no-progress"]) == 0
        answers = (run / rundir.ANSWERS).read_text(encoding="utf-8")
        rows = [{"id": "r", "custom_id": line["custom_id"], "error": None, "response": {
            "status_code": 200, "request_id": "x", "body": chat_completion(line["body"], "another answer")}}
            for line in _lines(req)]
        (tmp_path / "late.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        capsys.readouterr()
        assert main(["batch", "import", str(run), str(tmp_path / "late.jsonl")]) == 0
        assert capsys.readouterr().out.strip() == "imported 0 replies; 6 already stored"
        assert main(["generate", str(cfg), "--out", str(run), "--no-progress"]) == 0
        assert (run / rundir.ANSWERS).read_text(encoding="utf-8") == answers
