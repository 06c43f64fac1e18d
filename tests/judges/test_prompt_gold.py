"""Issue 16, item 5: ``harness prompts test NAME --judge SPEC --gold FILE`` scores a judge prompt
against a set people labelled, with the statistics ``harness agreement`` gives a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scripted_server import ScriptedServer
from sklearn.metrics import cohen_kappa_score, f1_score

from harness.app.cli import main

# Five pairs, labelled by hand. The scripted judge prefers the one answer saying GOOD, and when
# both or neither do, it picks whichever it was shown first (a first-slot judge).
GOLD = [
    {"id": "p1", "question": "Q1?", "answer_1": "GOOD one", "answer_2": "weak one", "label": 1},
    {"id": "p2", "question": "Q2?", "answer_1": "weak two", "answer_2": "GOOD two", "label": "2"},
    {"id": "p3", "question": "Q3?", "answer_1": "GOOD three", "answer_2": "GOOD 3", "label": "tie"},
    {"id": "p4", "question": "Q4?", "answer_1": "GOOD four", "answer_2": "weak four", "label": 2},
    {"id": "p5", "question": "Q5?", "input": "ctx", "answer_1": "weak five", "answer_2": "weak 5",
     "label": "tie"},
]
# Hand-worked: each order's winner (answer_1 = model_a), and the verdict of both orders combined
# (the same winner in both orders wins, anything else is a tie).
AB = ["model_a", "model_b", "model_a", "model_a", "model_a"]
BA = ["model_a", "model_b", "model_b", "model_a", "model_b"]
COMBINED = ["model_a", "model_b", "tie", "model_a", "tie"]
PEOPLE = ["model_a", "model_b", "tie", "model_b", "tie"]


def first_slot_judge(body: dict[str, Any]) -> str:
    text = body["messages"][-1]["content"]
    one = text[text.index("[Assistant A's answer starts]"):text.index("[Assistant A's answer ends]")]
    two = text[text.index("[Assistant B's answer starts]"):text.index("[Assistant B's answer ends]")]
    if ("GOOD" in one) != ("GOOD" in two):
        return "[[A]]" if "GOOD" in one else "[[B]]"
    return "Both similar; the first reads better. [[A]]"


def _gold(tmp_path: Path, rows: list[dict[str, Any]] = GOLD) -> Path:
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _test(server: ScriptedServer, gold: Path, out: Path, *extra: str) -> int:
    return main(["prompts", "test", "mtbench_pairwise", "--judge", f"openai:judge@{server.url}",
                 "--judge-method", "generate", "--gold", str(gold), "--out", str(out), *extra])


def test_a_prompt_is_scored_against_people_in_both_orders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    gold, out = _gold(tmp_path), tmp_path / "cache"
    with ScriptedServer(first_slot_judge) as server:
        assert _test(server, gold, out, "--format", "json") == 0
        assert len(server.requests) == 2 * len(GOLD)
        row = json.loads(capsys.readouterr().out)["judges"][0]
        assert row["annotator"] == "gold" and row["n"] == 5
        assert row["agreement"] == pytest.approx(4 / 5, abs=1e-9)
        assert row["agreement_without_ties"] == pytest.approx(2 / 3, abs=1e-9)  # p1, p2 right; p4 wrong
        assert row["kappa"] == pytest.approx(cohen_kappa_score(PEOPLE, COMBINED), abs=1e-9)
        assert row["macro_f1"] == pytest.approx(f1_score(PEOPLE, COMBINED, average="macro"), abs=1e-9)
        assert row["accuracy_ab"] == pytest.approx(sum(p == v for p, v in zip(PEOPLE, AB)) / 5, abs=1e-9)
        assert row["accuracy_ba"] == pytest.approx(sum(p == v for p, v in zip(PEOPLE, BA)) / 5, abs=1e-9)
        assert row["accuracy_ab"] == pytest.approx(2 / 5) and row["accuracy_ba"] == pytest.approx(2 / 5)
        assert row["both_correct"] == pytest.approx(2 / 5, abs=1e-9)
        assert row["positional_agreement"] == pytest.approx(3 / 5, abs=1e-9)  # p1, p2, p4
        # Through the cache: running it again sends nothing, and the table says the same.
        assert _test(server, gold, out) == 0
        assert len(server.requests) == 2 * len(GOLD)
    table = capsys.readouterr().out
    assert "on 5 gold pairs" in table and "80.0%" in table


def test_the_dry_run_counts_and_sends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with ScriptedServer(first_slot_judge) as server:
        assert _test(server, _gold(tmp_path), tmp_path / "cache", "--dry-run", "--prices",
                     str(_prices(tmp_path))) == 0
        assert not server.requests
    plan = capsys.readouterr().out
    assert "| judge |" in plan and "| 10 | 0 | 10 |" in plan
    assert not (tmp_path / "cache").exists()


def _prices(tmp_path: Path) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text("judge: {input: 1.0, output: 2.0}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("row", "message"), [
    ({"question": "Q", "answer_1": "a", "answer_2": "b", "label": "3"}, "field 'label': '3' is not one of 1, 2, tie"),
    ({"question": "Q", "answer_1": "a", "label": 1}, "missing field 'answer_2'"),
    ({"question": "Q", "answer_1": "", "answer_2": "b", "label": 1}, "field 'answer_1': expected non-empty text"),
    ({"question": "Q", "answer_1": "a", "answer_2": "b", "label": True}, "field 'label': True"),
])
def test_a_bad_gold_row_is_one_line(tmp_path: Path, row: dict[str, Any], message: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    gold = _gold(tmp_path, [GOLD[0], row])
    with ScriptedServer(first_slot_judge) as server:
        assert _test(server, gold, tmp_path / "cache") == 2
        assert not server.requests
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{gold}:2: {message}" in err, err


def test_a_single_grading_prompt_cannot_take_gold_pairs(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "test", "single_1to10", "--judge", "embedded", "--gold", str(_gold(tmp_path)),
                 "--out", str(tmp_path / "cache")]) == 2
    assert "--gold needs a pairwise prompt" in capsys.readouterr().err
