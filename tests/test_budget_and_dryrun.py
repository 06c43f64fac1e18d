"""The budget (--max-tokens, --max-cost), --dry-run, the usage table and the api: config section,
through the CLI against a loopback server that reports 10 prompt and 5 reply tokens per call.

Expected figures are worked out here from the constructed data: a task of equal-length questions
whose prompt estimate is known, prices chosen for exact arithmetic, and the requests the server saw.
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_endpoints import ChatServer  # the recording chat server (this file may not add a module)

from harness.app.cli import main
from harness.app.config import RunConfig, parse_config
from harness.core.errors import HarnessError
from harness.core.types import DecodingParams, ModelConfig
from harness.judges.asking import JudgeSettings
from harness.models.backends import load_backend
from harness.models.cache import CallCache
from harness.models.endpoints import ApiConfig, EndpointSettings, session

PROMPT_TOKENS, REPLY_TOKENS = 10, 5  # what ChatServer reports for every call
PRICE_IN, PRICE_OUT = 1000.0, 2000.0  # USD per million tokens: 0.001 and 0.002 a token
MAX_NEW = 6
QUESTION_CHARS = 30
# estimate_tokens' documented rule: 4 per message plus one per 3 ASCII characters, rounded up.
PROMPT_EST = 4 + math.ceil(QUESTION_CHARS / 3)  # 14
TICKET_TOKENS = PROMPT_EST + MAX_NEW  # 20: what a generation call is booked at before it is sent
CALL_TOKENS = PROMPT_TOKENS + REPLY_TOKENS  # 15: what it is settled at
TICKET_COST = (PROMPT_EST * PRICE_IN + MAX_NEW * PRICE_OUT) / 1e6  # 0.026
CALL_COST = (PROMPT_TOKENS * PRICE_IN + REPLY_TOKENS * PRICE_OUT) / 1e6  # 0.02


def estimate(messages: list[dict[str, str]]) -> int:
    """The token estimate of the budget and --dry-run, worked out independently."""
    total = 0
    for m in messages:
        wide = sum(1 for ch in m["content"] if ord(ch) > 127)
        total += 4 + math.ceil((len(m["content"]) - wide) / 3 + wide * 1.5)
    return total


def tiny_task(root: Path) -> tuple[Path, list[str]]:
    """A task ``tiny`` of 20 questions (as every task has) of exactly QUESTION_CHARS ASCII characters."""
    questions = [f"What is item number {i}?".ljust(QUESTION_CHARS, ".") for i in range(1, 21)]
    assert all(len(q) == QUESTION_CHARS for q in questions)
    folder = root / "tasks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(yaml.safe_dump({
        "language": "en", "domain": "testing", "description": "Equal-length questions.",
        "questions": [{"id": f"q{i}", "category": "c", "question": q, "reference": "r"}
                      for i, q in enumerate(questions, 1)]}), encoding="utf-8")
    return folder, questions


def write_prices(path: Path, prices: dict[str, tuple[float, float]]) -> Path:
    path.write_text(yaml.safe_dump({m: {"input": i, "output": o} for m, (i, o) in prices.items()}),
                    encoding="utf-8")
    return path


def models_argv(server: ChatServer) -> list[str]:
    return ["--models", f"a=openai:alpha@{server.url}", f"b=openai:beta@{server.url}",
            "--judge", f"openai:judge@{server.url}"]


def cache_rows(run_dir: Path) -> int:
    with sqlite3.connect(run_dir / "cache.sqlite") as con:
        return int(con.execute("SELECT count(*) FROM calls").fetchone()[0])


def sent(server: ChatServer) -> list[tuple[str, str]]:
    return [(r["model"], json.dumps(r["messages"], sort_keys=True)) for r in server.requests]


# --- the budget ----------------------------------------------------------------------------------


def _stop_then_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str], limit: list[str],
                      larger: list[str], reason: list[str], prices: list[str]) -> None:
    tasks_dir, questions = tiny_task(tmp_path)
    questions = questions[:3]
    out = tmp_path / "run"
    with ChatServer() as server:
        argv = ["run", "--tasks-dir", str(tasks_dir), "--tasks", "tiny", "--limit", "3", "--out", str(out),
                "--no-progress", "--concurrency", "1", "--max-new-tokens", str(MAX_NEW), *models_argv(server), *prices]
        assert main([*argv, *limit]) == 2
        err = capsys.readouterr().err
        # One at a time: alpha's three answers and beta's first fit; beta's second would not.
        assert err.startswith("harness: error: budget reached") and err.count("\n") == 1, err
        for fragment in reason:
            assert fragment in err, err
        first = sent(server)
        assert sorted(first) == sorted(
            [("alpha", json.dumps([{"content": q, "role": "user"}])) for q in questions]
            + [("beta", json.dumps([{"content": questions[0], "role": "user"}]))])
        assert cache_rows(out) == 4  # every call that was sent is cached
        assert not (out / "answers.jsonl").exists()

        assert main([*argv, *larger]) == 0
        second = sent(server)[len(first):]
    # The two answers beta still owed, then 3 questions x 1 pair x 2 orders of judging.
    assert sorted(m for m, _ in second) == ["beta", "beta"] + ["judge"] * 6
    assert len(set(first + second)) == len(first) + len(second)  # nothing asked twice
    assert cache_rows(out) == 12
    assert len((out / "judgments.jsonl").read_text().splitlines()) == 6


def test_max_tokens_stops_the_run_and_a_rerun_with_more_goes_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    limit = 3 * CALL_TOKENS + TICKET_TOKENS  # 65: the 4th call just fits, the 5th would reach 80
    _stop_then_resume(tmp_path, capsys, ["--max-tokens", str(limit)], ["--max-tokens", "1000000"],
                      [f"tokens to {4 * CALL_TOKENS + TICKET_TOKENS}", f"over --max-tokens {limit}",
                       f"({4 * CALL_TOKENS} used on 4 calls so far"], [])


def test_max_cost_stops_the_run_and_a_rerun_with_more_goes_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = write_prices(tmp_path / "prices.yaml", {m: (PRICE_IN, PRICE_OUT) for m in ("alpha", "beta", "judge")})
    limit = 0.09  # 4 calls: 3 x 0.02 + 0.026 = 0.086 fits; the 5th would make 4 x 0.02 + 0.026 = 0.106
    _stop_then_resume(tmp_path, capsys, ["--max-cost", str(limit)], ["--max-cost", "100"],
                      [f"cost to ${4 * CALL_COST + TICKET_COST:.4f}", f"over --max-cost ${limit:.4f}",
                       f"(${4 * CALL_COST:.4f} spent on 4 calls so far"], ["--prices", str(prices)])


@pytest.mark.parametrize("unpriced", ["beta", "judge"])
def test_max_cost_without_a_price_fails_before_any_request(
        unpriced: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = write_prices(tmp_path / "prices.yaml",
                          {m: (PRICE_IN, PRICE_OUT) for m in ("alpha", "beta", "judge") if m != unpriced})
    out = tmp_path / "run"
    with ChatServer() as server:
        code = main(["run", "--tasks", "en_law", "--limit", "2", "--out", str(out), "--no-progress",
                     *models_argv(server), "--max-cost", "5", "--prices", str(prices)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error: ") and err.count("\n") == 1
    assert f"model {unpriced!r}" in err and "--prices FILE" in err
    assert server.requests == [] and not out.exists()


@pytest.mark.parametrize("kind", ["tokens", "cost"])
def test_the_budget_is_never_exceeded_with_calls_in_flight(
        kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks_dir, _ = tiny_task(tmp_path)
    prices = write_prices(tmp_path / "prices.yaml", {m: (PRICE_IN, PRICE_OUT) for m in ("alpha", "beta", "judge")})
    # Room for two calls booked at their worst case at once, but not for the four replies that
    # concurrency 4 would bring if calls in flight were not counted: 4 x 15 > 50, 4 x 0.02 > 0.07.
    limit = {"tokens": ["--max-tokens", "50"], "cost": ["--max-cost", "0.07"]}[kind]
    out = tmp_path / "run"
    with ChatServer(delay=0.2) as server:
        code = main(["run", "--tasks-dir", str(tasks_dir), "--tasks", "tiny", "--limit", "6", "--out",
                     str(out), "--no-progress", "--concurrency", "4", "--max-new-tokens", str(MAX_NEW),
                     *models_argv(server), "--prices", str(prices), *limit])
    assert code == 2 and "budget reached" in capsys.readouterr().err
    with CallCache(out / "cache.sqlite") as cache:
        usage = cache.usage()
    calls = sum(u.calls for u in usage)
    tokens = sum(u.prompt_tokens + u.completion_tokens for u in usage)
    cost = sum(u.prompt_tokens * PRICE_IN + u.completion_tokens * PRICE_OUT for u in usage) / 1e6
    assert calls == len(server.requests) == 2  # both booked at once (each reply takes 0.2 s)
    assert (tokens, cost) == (pytest.approx(2 * CALL_TOKENS), pytest.approx(2 * CALL_COST))
    assert tokens <= 50 if kind == "tokens" else cost <= 0.07


def test_a_reply_without_usage_is_settled_at_its_worst_case(tmp_path: Path) -> None:
    prices = write_prices(tmp_path / "prices.yaml", {"silent": (PRICE_IN, PRICE_OUT)})
    question = "x" * QUESTION_CHARS
    with ChatServer(usage=None) as server, \
            session(ApiConfig(max_cost=10.0, max_tokens=10**6, prices=prices)) as sess:
        reply = load_backend(f"openai:silent@{server.url}").complete(
            [{"role": "user", "content": question}], DecodingParams(max_new_tokens=100))
    assert (reply.prompt_tokens, reply.completion_tokens) == (None, None)
    # Nothing reported: the call is counted at its booking, the prompt estimate plus the longest reply.
    assert sess.budget.spent_tokens == PROMPT_EST + 100
    assert sess.budget.spent_cost == pytest.approx((PROMPT_EST * PRICE_IN + 100 * PRICE_OUT) / 1e6)


# --- dry runs ------------------------------------------------------------------------------------


def plan_rows(text: str) -> dict[str, list[str]]:
    """The dry run's table rows by model / judge name: calls, cached, to send, prompt, reply, cost."""
    rows = {}
    for line in text.splitlines():
        if line.startswith(("| generate |", "| judge |")):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows[cells[1]] = cells[2:]
    return rows


def money(prompt: int, reply: int) -> str:
    return f"${(prompt * PRICE_IN + reply * PRICE_OUT) / 1e6:.4f}"


def test_run_dry_run_counts_the_calls_and_sends_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = write_prices(tmp_path / "prices.yaml", {m: (PRICE_IN, PRICE_OUT) for m in ("alpha", "beta", "judge")})
    out = tmp_path / "run"
    with ChatServer() as server:
        judge = f"openai:judge@{server.url}"
        argv = ["run", "--tasks", "en_law", "--limit", "2", "--out", str(out), "--no-progress",
                "--max-new-tokens", "8", *models_argv(server), "--prices", str(prices)]
        assert main([*argv, "--dry-run"]) == 0
        before = capsys.readouterr().out
        assert server.requests == [] and not out.exists()
        assert main(argv) == 0
        capsys.readouterr()
        assert len(server.requests) == 8
        assert main([*argv, "--dry-run"]) == 0
        after = capsys.readouterr().out
        assert len(server.requests) == 8
    rows = plan_rows(before)
    assert list(rows) == ["a", "b", judge]
    for name, model in (("a", "alpha"), ("b", "beta")):
        # The estimate covers exactly the prompts the real run then sent.
        prompt = sum(estimate(r["messages"]) for r in server.requests if r["model"] == model)
        assert rows[name] == ["2", "0", "2", f"{prompt:,}", "16", money(prompt, 16)]
    calls, cached, to_send, prompt_s, reply_s, cost = rows[judge]  # 2 questions x 1 pair x 2 orders
    assert (calls, cached, to_send, reply_s) == ("4", "0", "4", f"{4 * 512:,}")
    assert cost == money(int(prompt_s.replace(",", "")), 4 * 512)
    total = sum(float(r[5].lstrip("$")) for r in rows.values())
    assert f"Total, at most: ${total:.4f}." in before and before.startswith("# dry run: nothing was sent")

    cached_rows = plan_rows(after)
    assert cached_rows == {"a": ["2", "2", "0", "0", "0", "$0.0000"], "b": ["2", "2", "0", "0", "0", "$0.0000"],
                           judge: ["4", "4", "0", "0", "0", "$0.0000"]}
    assert "Total, at most: $0.0000." in after


def test_judge_dry_run_counts_the_judge_calls_and_sends_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = write_prices(tmp_path / "prices.yaml", {"judge": (PRICE_IN, PRICE_OUT)})
    out = tmp_path / "run"
    with ChatServer() as server:
        judge = f"openai:judge@{server.url}"
        assert main(["generate", "--tasks", "en_law", "--limit", "3", "--out", str(out), "--no-progress",
                     "--max-new-tokens", "8", "--models", f"a=openai:alpha@{server.url}",
                     f"b=openai:beta@{server.url}"]) == 0
        assert len(server.requests) == 6
        argv = ["judge", str(out), "--no-progress", "--judge", judge, "--prices", str(prices)]
        capsys.readouterr()
        assert main([*argv, "--dry-run"]) == 0
        before = capsys.readouterr().out
        assert len(server.requests) == 6 and not (out / "judgments.jsonl").exists()
        assert main(argv) == 0
        judged = server.requests[6:]
        capsys.readouterr()
        assert main([*argv, "--dry-run"]) == 0
        after = capsys.readouterr().out
        assert len(server.requests) == 12
    assert len(judged) == 6  # 3 questions x 1 pair x 2 orders
    prompt = sum(estimate(r["messages"]) for r in judged)
    assert plan_rows(before) == {judge: ["6", "0", "6", f"{prompt:,}", f"{6 * 512:,}", money(prompt, 6 * 512)]}
    assert f"Total, at most: {money(prompt, 6 * 512)}." in before
    assert plan_rows(after) == {judge: ["6", "6", "0", "0", "0", "$0.0000"]}


# --- the usage table -----------------------------------------------------------------------------


def test_usage_table_sums_calls_tokens_and_cost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    per_million = {"alpha": (300.0, 1200.0), "beta": (250.0, 500.0), "judge": (1000.0, 3000.0)}
    prices = write_prices(tmp_path / "prices.yaml", per_million)
    out = tmp_path / "run"
    with ChatServer() as server:
        judge = f"openai:judge@{server.url}"
        specs = {"a": f"openai:alpha@{server.url}", "b": f"openai:beta@{server.url}", judge: judge}
        assert main(["run", "--tasks", "en_law", "--limit", "2", "--out", str(out), "--no-progress",
                     "--max-new-tokens", "8", *models_argv(server), "--prices", str(prices)]) == 0
    expected = {}
    for stage, name, model, calls in (("generate", "a", "alpha", 2), ("generate", "b", "beta", 2),
                                      ("judge", judge, "judge", 4)):
        p, c = PROMPT_TOKENS * calls, REPLY_TOKENS * calls
        cost = (p * per_million[model][0] + c * per_million[model][1]) / 1e6
        expected[(stage, name)] = (calls, p, c, cost)
    with (out / "usage.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["stage"], r["name"]): (int(r["calls"]), int(r["prompt_tokens"]), int(r["completion_tokens"]),
                                      r["cost_usd"], r["spec"]) for r in rows} == {
        key: (calls, p, c, f"{cost:.6f}", specs[key[1]]) for key, (calls, p, c, cost) in expected.items()}
    assert {key: v[3] for key, v in expected.items()} == {
        ("generate", "a"): pytest.approx(0.018), ("generate", "b"): pytest.approx(0.01),
        ("judge", judge): pytest.approx(0.1)}  # the arithmetic above, spelled out

    md = (out / "leaderboard.md").read_text(encoding="utf-8")
    assert "## Usage" in md
    usage = md.split("## Usage", 1)[1].split("\n## ", 1)[0]
    for (stage, name), (calls, p, c, cost) in expected.items():
        assert f"| {stage} | {name} | {calls} | {p:,} | {c:,} | ${cost:.4f} |" in usage
    assert f"Total cost: ${sum(v[3] for v in expected.values()):.4f}" in usage
    assert "Total cost: $0.1280" in usage
    assert "## Usage" in capsys.readouterr().out


# --- the api: section of a run config ------------------------------------------------------------


def test_api_section_round_trips_through_the_written_config(tmp_path: Path) -> None:
    api = ApiConfig(
        default=EndpointSettings(concurrency=3, rpm=120.0, tpm=90000.0, timeout=30.0, max_retries=2,
                                 api_key_env="MY_KEY", api_key_file="/keys/openai.key"),
        endpoints={"http://127.0.0.1:8000/v1": EndpointSettings(concurrency=1, rpm=None, timeout=5.0,
                                                                max_retries=0, api_key_env="LOCAL_KEY")},
        max_cost=1.5, max_tokens=20000, prices=tmp_path / "prices.yaml")
    config = RunConfig(tasks=("en_law",), limit=2, out=tmp_path / "run", progress=True, api=api,
                       models=(ModelConfig("a", "openai:alpha@http://127.0.0.1:8000/v1", DecodingParams(8)),
                               ModelConfig("b", "openai:gpt-4o-mini", DecodingParams(8))),
                       judges=(JudgeSettings(spec="openai:gpt-4o", method="generate"),))
    data = yaml.safe_load(yaml.safe_dump(config.to_row(), sort_keys=False))
    parsed = parse_config(data, "written.yaml")
    assert parsed.api == api
    assert parsed == config


@pytest.mark.parametrize(("api", "where", "key"), [
    ({"concurency": 2}, "written.yaml: api", "concurency"),
    ({"endpoints": {"http://127.0.0.1:8000/v1": {"concurrency": 1, "rmp": 60}}},
     "written.yaml: api: endpoints['http://127.0.0.1:8000/v1']", "rmp"),
    ({"endpoints": {"http://127.0.0.1:8000/v1": {"max_cost": 1}}},
     "written.yaml: api: endpoints['http://127.0.0.1:8000/v1']", "max_cost"),
])
def test_unknown_api_keys_are_errors_naming_them(api: dict[str, Any], where: str, key: str) -> None:
    with pytest.raises(HarnessError) as info:
        parse_config({"api": api}, "written.yaml")
    assert str(info.value).startswith(f"{where}: unknown field {key!r} (allowed: ")


def test_per_endpoint_settings_apply_to_their_base_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ChatServer(delay=0.4) as narrow, ChatServer(delay=0.4) as wide:
        config = tmp_path / "two.yaml"
        config.write_text(yaml.safe_dump({
            # 5 questions: a model's first request goes alone (until a reply proves how it is
            # asked: harness.models.adapt), then 4 at a time.
            "tasks": ["en_law"], "limit": 5, "out": "two-run",
            "models": [{"name": "n", "spec": f"openai:narrow@{narrow.url}", "decoding": {"max_new_tokens": 8}},
                       {"name": "w", "spec": f"openai:wide@{wide.url}", "decoding": {"max_new_tokens": 8}}],
            # The trailing slash does not matter: base URLs are compared without it.
            "api": {"concurrency": 4, "endpoints": {narrow.url + "/": {"concurrency": 1}}}}), encoding="utf-8")
        assert main(["generate", str(config), "--no-progress"]) == 0
    assert (len(narrow.requests), len(wide.requests)) == (5, 5)
    assert (narrow.max_in_flight, wide.max_in_flight) == (1, 4)
    written = yaml.safe_load((tmp_path / "two-run" / "config.yaml").read_text(encoding="utf-8"))
    assert written["api"]["concurrency"] == 4
    assert written["api"]["endpoints"] == {narrow.url: {**written["api"]["endpoints"][narrow.url],
                                                        "concurrency": 1}}
