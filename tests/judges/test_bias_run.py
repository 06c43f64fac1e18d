"""``harness bias`` and ``harness human import`` end to end, with scripted judges over HTTP whose
biases are known: each check must find the bias it should, and none where there is none."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from scripted_server import ScriptedServer

from harness.app.cli import main
from harness.core import files, rundir

BETTER, WORSE, EQUAL = (f"Assistant 1 is {w} Assistant 2" for w in ("better than", "worse than", "equal to"))
QUESTIONS = ("q01", "q02", "q03", "q04")
# The hidden truth: "[good]" marks the better answer; the long model has it on q01 and q02.
LONG = {q: f"Consideration is the value each party gives in a contract ({q}){' [good]' if q in ('q01', 'q02') else ''}. "
           "Without it a promise is usually not binding, and courts look for a real bargain."
        for q in QUESTIONS}
SHORT = {q: f"It is what each side gives ({q}){' [good]' if q in ('q03', 'q04') else ''}." for q in QUESTIONS}
PERTURBED = re.compile(r"\*\*|^#|Reference|In summary|📌|✅", re.M)


def _answers(body: dict[str, Any]) -> tuple[str, str]:
    text = body["messages"][-1]["content"]
    first, _, second = text.partition("Assistant 1: ")[2].rpartition("\n\nAssistant 2: ")
    return first.strip(), second.strip()


def first_slot(body: dict[str, Any]) -> str:
    return BETTER


def length_loving(body: dict[str, Any]) -> str:
    one, two = _answers(body)
    return BETTER if len(one) > len(two) else WORSE if len(two) > len(one) else EQUAL


def fair(body: dict[str, Any]) -> str:
    one, two = _answers(body)
    bad_one, bad_two = bool(PERTURBED.search(one)), bool(PERTURBED.search(two))
    if bad_one != bad_two:  # not fooled: the altered copy adds nothing
        return WORSE if bad_one else BETTER
    good_one, good_two = "[good]" in one, "[good]" in two
    return BETTER if good_one > good_two else WORSE if good_two > good_one else EQUAL


def _run_dir(tmp_path: Path, long_spec: str = "") -> Path:
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"model": m, "task": "en_law", "question_id": q, "answer": texts[q], "spec": spec}
            for m, texts, spec in (("long", LONG, long_spec), ("short", SHORT, "")) for q in QUESTIONS]
    (run / rundir.ANSWERS).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return run


def _bias(run: Path, server: ScriptedServer, *probes: str) -> dict[str, dict[str, str]]:
    spec = f"openai:judge@{server.url}"
    argv = ["bias", "--run", str(run), "--judge", spec, "--judge-method", "generate", "--no-progress",
            "--probes", *probes]
    assert main(argv) == 0
    with (run / rundir.BIAS_CSV).open(encoding="utf-8") as f:
        return {r["check"]: r for r in csv.DictReader(f) if r["judge"] == spec}


def _value(checks: dict[str, dict[str, str]], name: str) -> tuple[float, int]:
    return float(checks[name]["value"]), int(checks[name]["n"])


def test_a_first_slot_judge_is_caught_and_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run_dir(tmp_path)
    with ScriptedServer(first_slot) as server:
        checks = _bias(run, server, "rich_content", "fake_references")
    assert _value(checks, "position: swap consistency") == (0.0, 4)
    assert _value(checks, "position: prefers first slot") == (1.0, 8)
    # Always the first slot: the altered copy wins exactly when it is shown first.
    assert _value(checks, "probe: rich_content") == (0.5, 8)
    assert _value(checks, "probe: fake_references") == (0.5, 8)
    out = capsys.readouterr().out
    assert "**Warning:**" in out and "judge@" in out


def test_a_length_loving_judge_prefers_longer_answers_and_padding(tmp_path: Path) -> None:
    with ScriptedServer(length_loving) as server:
        run = _run_dir(tmp_path, long_spec=f"openai:judge@{server.url}")
        checks = _bias(run, server, "rich_content", "fake_references", "repetitive_list")
    assert _value(checks, "position: swap consistency") == (1.0, 4)
    assert _value(checks, "position: prefers first slot") == (0.5, 8)
    assert _value(checks, "length: longer answer wins") == (1.0, 8)
    for probe in ("rich_content", "fake_references", "repetitive_list"):
        assert _value(checks, f"probe: {probe}") == (1.0, 8), probe
    # The judge's own model (same spec) won every battle it judged.
    assert _value(checks, "self-preference: long") == (1.0, 4)
    perturbed = files.read_jsonl(run / rundir.PERTURBATIONS, lambda r: r)
    assert {p["probe"] for p in perturbed} == {"rich_content", "fake_references", "repetitive_list"}
    assert all(p["original"] == LONG[p["question_id"]] and p["perturbed"] != p["original"] for p in perturbed)


def test_a_fair_judge_shows_no_bias_and_agrees_with_people(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    run = _run_dir(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("task,question_id,model_a,model_b,winner,annotator\n"
                      "en_law,q01,long,short,model_a,ann\n"
                      "en_law,q02,short,long,model_b,ann\n"   # the same verdict, the other way round
                      "en_law,q03,long,short,model_b,ann\n"
                      "en_law,q04,long,short,tie,ann\n", encoding="utf-8")
    assert main(["human", "import", str(labels), "--run", str(run)]) == 0
    with ScriptedServer(fair) as server:
        checks = _bias(run, server, "rich_content", "fake_references", "repetitive_list")
    assert _value(checks, "position: swap consistency") == (1.0, 4)
    assert _value(checks, "position: prefers first slot") == (0.5, 8)
    assert _value(checks, "length: longer answer wins") == (0.5, 8)
    for probe in ("rich_content", "fake_references", "repetitive_list"):
        assert _value(checks, f"probe: {probe}") == (0.0, 8), probe
    out = capsys.readouterr().out
    assert "**Warning:**" not in out
    # q01-q03 agree; on q04 the person called a tie and the judge did not. Kappa by hand: observed
    # 3/4, judge a2 b2, person a2 b1 tie1 -> chance 6/16 -> 0.60; macro-F1 (1 + 2/3 + 0) / 3.
    row = next(line for line in out.splitlines() if line.startswith("| openai:judge@") and "(n=3)" in line)
    # 3 of 4 agree: Wilson [30.1%, 95.4%]; kappa's bootstrap over 4 comparisons spans [0, 1].
    assert "| ann | 4 | 75.0% [30.1%, 95.4%] | 100.0% (n=3) | 0.60 [0.00, 1.00] | 0.56 |" in row


@pytest.mark.parametrize("content, message", [
    ("task,question_id,model_a,model_b\nen_law,q01,long,short\n", "missing field 'winner'"),
    ("task,question_id,model_a,model_b,winner\nen_law,q01,long,short,A\n", "winner 'A'"),
    ("task,question_id,model_a,model_b,winner\nen_law,q09,long,short,tie\n", "no answer from 'long' to en_law/q09"),
])
def test_bad_human_labels_are_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               content: str, message: str) -> None:
    run = _run_dir(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text(content, encoding="utf-8")
    assert main(["human", "import", str(labels), "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"harness: error: {labels}:2: ") and message in err and "\n" not in err
    assert not (run / rundir.HUMAN).exists()


def test_a_perturber_model_writes_extra_copies_that_are_stored_and_judged(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)

    def perturber(body: dict[str, Any]) -> str:
        original = body["messages"][-1]["content"].split("\n\n", 1)[1]
        return f"## Answer\n\n**{original}** ✅"

    with ScriptedServer(perturber) as writer, ScriptedServer(fair) as judge:
        spec = f"openai:writer@{writer.url}"
        argv = ["bias", "--run", str(run), "--judge", f"openai:judge@{judge.url}", "--judge-method",
                "generate", "--no-progress", "--probes", "rich_content", "--perturber", spec]
        assert main(argv) == 0
        assert len(writer.requests) == 4  # one per chosen answer
        assert main(argv) == 0
        assert len(writer.requests) == 4  # the second time, from the cache
    perturbed = files.read_jsonl(run / rundir.PERTURBATIONS, lambda r: r)
    by_method = {m: [p for p in perturbed if p["method"] == m] for m in ("rules", spec)}
    assert len(by_method["rules"]) == 4 and len(by_method[spec]) == 4
    assert all(p["perturbed"] == f"## Answer\n\n**{p['original']}** ✅" for p in by_method[spec])
    with (run / rundir.BIAS_CSV).open(encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["check"] == "probe: rich_content")
    assert (float(row["value"]), int(row["n"])) == (0.0, 16)  # 8 copies, both orders, none fooled


@pytest.mark.parametrize("name", ["labels.csv", "labels.jsonl"])
def test_human_labels_that_are_not_utf8_are_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           name: str) -> None:
    run = _run_dir(tmp_path)
    labels = tmp_path / name
    labels.write_bytes("task,question_id\nen_law,q01 é\n".encode("latin-1"))
    assert main(["human", "import", str(labels), "--run", str(run)]) == 2
    assert capsys.readouterr().err.strip() == f"harness: error: {labels}:2: not UTF-8 text (invalid continuation byte)"


def test_importing_more_labels_adds_to_those_already_there(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    run = _run_dir(tmp_path)
    first, second = tmp_path / "ann1.csv", tmp_path / "ann2.jsonl"
    first.write_text("task,question_id,model_a,model_b,winner,annotator\n"
                     "en_law,q01,long,short,model_a,ann1\nen_law,q02,long,short,tie,ann1\n", encoding="utf-8")
    second.write_text(json.dumps({"task": "en_law", "question_id": "q01", "model_a": "long",
                                  "model_b": "short", "winner": "model_b", "annotator": "ann2"}) + "\n",
                      encoding="utf-8")
    for path in (first, second, first):  # the repeated file adds nothing
        assert main(["human", "import", str(path), "--run", str(run)]) == 0
    rows = files.read_jsonl(run / rundir.HUMAN, lambda r: r)
    assert [(r["question_id"], r["winner"], r["annotator"]) for r in rows] == [
        ("q01", "model_a", "ann1"), ("q02", "tie", "ann1"), ("q01", "model_b", "ann2")]
    assert "imported 0 new human labels (2 already there)" in capsys.readouterr().out
