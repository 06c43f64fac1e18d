"""Issue 29, hostile input to ``harness synth`` and ``harness judge``, through the real CLI: a
record copying a test question that has a long input, control characters in generated or given
records, and a run of custom task files judged without ``--tasks-dir``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from scripted_server import ScriptedServer

from harness.app.cli import main
from harness.core import rundir
from harness.tasks import load_task

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
SEEDS = [{"instruction": f"Explain the rule on {topic} to a new client.", "input": "",
          "output": f"The rule on {topic} says what it says."}
         for topic in ("leases", "wills", "liens", "torts", "bail")]
GOOD = ("Outline the duties of a company director towards creditors.",
        "Describe how a limitation period runs for a contract claim.",
        "Compare mediation with arbitration for a small business dispute.",
        "List the elements a claimant must prove in negligence.")


def _long_input_question() -> tuple[str, str]:
    """A test question whose input is many times longer than its own text (en_law's q17)."""
    q = next(q for q in load_task("en_law").questions if q.id == "q17")
    assert q.input and len(q.input.split()) > 4 * len(q.question.split())
    return q.question, q.input


def _block(n: int, instruction: str, given: str, output: str, end: str = "\n") -> str:
    return end.join([f"{n}. Instruction: {instruction}", f"{n}. Input: {given or '<noinput>'}",
                     f"{n}. Output: {output}"])


def _reply(blocks: list[tuple[str, str, str]]) -> str:
    return "\n###\n".join(_block(n, *b) for n, b in enumerate(blocks, 4))


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in SEEDS), encoding="utf-8")
    return path


def _synth(url: str, seeds: Path, out: Path, n: int, *extra: str) -> list[str]:
    return ["synth", "--seed-file", str(seeds), "--teacher", f"openai:teacher@{url}", "--n", str(n),
            "--per-call", "8", "--calls-per-round", "1", "--max-calls", "1", "--out", str(out),
            "--tasks", "en_law", "--no-progress", *extra]


def test_a_copied_question_text_is_contamination_however_long_its_input(
        tmp_path: Path, seeds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    question, given = _long_input_question()
    blocks = [(GOOD[0], "", "They must act in good faith."),
              (question, "", "The employee may claim unfair dismissal."),  # the question's text, verbatim
              (f"{question} Answer in two sentences.", "A worker was let go.", "Two sentences."),
              ("Give a short answer to the case below.", given, "A copied case."),  # the input, verbatim
              (GOOD[1], "", "From the breach.")]
    out = tmp_path / "law.jsonl"
    with ScriptedServer(lambda body: _reply(blocks)) as server:
        assert main(_synth(server.url, seeds, out, 10)) == 0
    kept = [r["instruction"] for r in _rows(out)]
    assert kept == [GOOD[0], GOOD[1]]
    rejected = _rows(out.with_suffix(".rejected.jsonl"))
    assert [r["instruction"] for r in rejected] == [b[0] for b in blocks[1:4]]
    assert {r["reason"] for r in rejected} == {"overlaps a test question"}
    summary = json.loads(out.with_suffix(".summary.json").read_text(encoding="utf-8"))
    assert summary["rejected"]["overlaps a test question"] == 3
    assert "overlaps a test question 3" in capsys.readouterr().out
    # harness finetune's guard is the same one: the copied record is named there too.
    copied = tmp_path / "copied.jsonl"
    copied.write_text(json.dumps({"instruction": question, "input": "", "output": "x"}) + "\n", encoding="utf-8")
    assert main(["finetune", "--base", "embedded", "--data", str(copied), "--out",
                 str(tmp_path / "adapter")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error:") and err.count("\n") == 1 and "q17" in err, err


def test_a_short_generic_question_text_alone_does_not_reject_innocent_records(tmp_path: Path) -> None:
    from harness.core.types import Question, Task
    from harness.finetune.contamination import Guard

    task = Task("t", "en", "law", "", (Question("q1", "Summarise the following.", "c", "r",
                                                " ".join(f"word{i}" for i in range(60))),))
    guard = Guard([task])
    assert guard.overlaps("Summarise the following letter for a tenant.", "x") == []
    long_q = Task("t", "en", "law", "", (Question("q1", "Summarise the employee's rights in the case below.",
                                                  "c", "r", " ".join(f"word{i}" for i in range(60))),))
    assert [o.question_id for o in Guard([long_q]).overlaps(
        "Summarise the employee's rights in the case below.", "x")] == ["q1"]


def test_control_characters_in_generated_records_are_rejected_and_counted(
        tmp_path: Path, seeds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = [("Explain the lien on a ship\x00 to a new owner.", "", "A maritime lien."),
           ("Explain how \x1b[2J\x1b[31mbail works for a first offence.", "", "Bail."),
           ("Summarise the main rules on adverse possession.", "Land \x9b31m held", "Twelve years."),
           ("Define a fiduciary duty for a trustee.", "", "Loyalty\x7f and care."),
           ("Explain what an easement gives its holder.", "", "A right\x07 over land.")]
    crlf = _block(9, GOOD[2], "", "Mediation is consensual.\r\nArbitration binds.", end="\r\n")
    tabbed = (GOOD[3], "", "Duty,\tbreach,\tcausation, damage.")

    def reply(body: dict[str, Any]) -> str:
        if body["model"] == "answerer":
            asked = body["messages"][-1]["content"]
            return "Silent\x00 answer." if "silent" in asked else f"Answer to: {asked}"
        return _reply([*bad, tabbed]) + "\n###\n" + crlf

    out = tmp_path / "law.jsonl"
    with ScriptedServer(reply) as server:
        assert main(_synth(server.url, seeds, out, 10)) == 0
        kept = _rows(out)
        assert sorted(r["instruction"] for r in kept) == sorted([GOOD[2], GOOD[3]])
        assert not any(CONTROL.search(v) for r in kept for v in r.values())
        assert {r["instruction"]: r["output"] for r in kept}[GOOD[2]] == "Mediation is consensual.\nArbitration binds."
        assert {r["instruction"]: r["output"] for r in kept}[GOOD[3]] == tabbed[2]  # a tab is fine
        rejected = _rows(out.with_suffix(".rejected.jsonl"))
        assert [r["instruction"] for r in rejected] == [b[0] for b in bad]
        assert {r["reason"] for r in rejected} == {"control character"}
        summary = json.loads(out.with_suffix(".summary.json").read_text(encoding="utf-8"))
        assert summary["rejected"]["control character"] == 5
        said = capsys.readouterr().out
        assert "control character 5" in said and not CONTROL.search(said.replace("\n", ""))

        # A distilled answer holding NUL is rejected the same way, its instruction kept out.
        given = tmp_path / "instructions.jsonl"
        given.write_text(json.dumps({"instruction": "Explain why a silent acceptance rarely binds."}) + "\n"
                         + json.dumps({"instruction": GOOD[0]}) + "\n", encoding="utf-8")
        distilled = tmp_path / "distilled.jsonl"
        assert main(["synth", "--instructions", str(given), "--answers-from", f"openai:answerer@{server.url}",
                     "--n", "5", "--out", str(distilled), "--tasks", "en_law", "--no-progress"]) == 0
    assert [r["instruction"] for r in _rows(distilled)] == [GOOD[0]]
    assert [r["reason"] for r in _rows(distilled.with_suffix(".rejected.jsonl"))] == ["control character"]


@pytest.mark.parametrize(("field", "text", "code"), [
    ("instruction", "Explain \x1b[31mbail to a client.", "U+001B"),
    ("output", "Bail is\x00 release.", "U+0000"),
    ("input", "A case \x9b2J here", "U+009B"),
])
def test_control_characters_in_a_seed_or_instructions_file_are_one_error(
        tmp_path: Path, seeds: Path, capsys: pytest.CaptureFixture[str], field: str, text: str, code: str) -> None:
    row = {"instruction": "Explain bail to a client.", "input": "", "output": "Release.", field: text}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(SEEDS[0]) + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    with ScriptedServer(lambda body: "unused") as server:
        argv = ["synth", "--seed-file", str(bad), "--teacher", f"openai:teacher@{server.url}", "--out", str(out),
                "--no-progress"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("harness: error:") and err.count("\n") == 1, err
        assert f"{bad}:2" in err and f"field {field!r}" in err and code in err, err
        assert not CONTROL.search(err.rstrip("\n"))
        if field != "output":  # an instructions file (no output needed) is checked the same way
            assert main(["synth", "--instructions", str(bad), "--answers-from", f"openai:a@{server.url}",
                         "--out", str(out), "--no-progress"]) == 2
            err = capsys.readouterr().err
            assert err.startswith("harness: error:") and f"{bad}:2" in err and code in err, err
        assert server.requests == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "seeds.jsonl"]


# --- harness judge on a run of custom task files ----------------------------------------------

TASK = """\
language: en
domain: law
description: two questions of our own
questions:
  - id: q1
    category: contract
    question: What makes a contract binding?
    reference: Offer, acceptance, consideration and an intention to create legal relations.
  - id: q2
    category: tort
    question: What must a claimant prove in negligence?
    reference: A duty of care, its breach, causation and damage.
"""


def _generated(tmp_path: Path, server: ScriptedServer) -> tuple[Path, Path]:
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "mine.yaml").write_text(TASK, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["generate", "--tasks-dir", str(folder), "--tasks", "mine", "--out", str(run), "--no-progress",
                 "--models", f"a=openai:alpha@{server.url}", f"b=openai:beta@{server.url}"]) == 0
    return folder, run


def _answer(body: dict[str, Any]) -> str:
    asked = body["messages"][-1]["content"]
    return "Offer and acceptance, consideration." if body["model"] == "alpha" and "contract" in asked \
        else f"I am {body['model']}."


def test_judge_reads_the_runs_questions_without_tasks_dir(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with ScriptedServer(_answer) as server:
        folder, run = _generated(tmp_path, server)
    # The task files are gone (or were never on this machine): the run directory says what was asked.
    (folder / "mine.yaml").unlink()
    assert main(["judge", str(run), "--no-progress", "--report", "md"]) == 0, capsys.readouterr().err
    battles = _rows(run / rundir.BATTLES)
    assert sorted(b["question_id"] for b in battles) == ["q1", "q2"] and {b["task"] for b in battles} == {"mine"}
    assert (run / rundir.LEADERBOARD_CSV).is_file()
    # --dry-run plans from the same questions.
    assert main(["judge", str(run), "--dry-run"]) == 0


def test_judge_names_an_answer_no_question_file_holds(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    with ScriptedServer(_answer) as server:
        folder, run = _generated(tmp_path, server)
    (folder / "mine.yaml").unlink()
    answers = run / rundir.ANSWERS
    rows = _rows(answers)
    rows.append({**rows[0], "question_id": "q9"})
    answers.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["judge", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error:") and err.count("\n") == 1, err
    assert "'q9'" in err and rundir.QUESTIONS in err and "mine" in err, err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
