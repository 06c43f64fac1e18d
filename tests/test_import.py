"""``harness import``: each format's mapping, single-order judgments, idempotence, bad rows, and
import -> rate -> report on the imported run.

Every file here is written for this project from the formats' public descriptions (no third-party
data); the expected win/tie/lose counts are worked out by hand in the comments.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.app.cli import main
from harness.core import rundir


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _board(run: Path) -> dict[str, tuple[int, int, int]]:
    """model -> (wins, ties, losses) as leaderboard.csv holds them."""
    with (run / rundir.LEADERBOARD_CSV).open(encoding="utf-8") as f:
        return {r["model"]: (int(r["wins"]), int(r["ties"]), int(r["losses"])) for r in csv.DictReader(f)}


def _imp(*argv: str) -> int:
    return main(["import", *argv])


def _judgment(qid: str, a: str, b: str, winner: str, **extra: str) -> dict:
    return {"task": "t", "question_id": qid, "model_a": a, "model_b": b, "judge": "J", "winner": winner, **extra}


# A judge that saw every pair once (no order given):
#   x-y: q1 x wins, q2 y wins, q3 tie -> x 1/1/1;  x-z: q1, q2 x wins -> x 2/0/0;  y-z: q1 error -> no battle
#   x: 3 wins 1 tie 1 loss;  y: 1/1/1;  z: 0/0/2
SINGLE = [_judgment("q1", "x", "y", "model_a"), _judgment("q2", "x", "y", "model_b"),
          _judgment("q3", "x", "y", "tie", raw="they are equal"), _judgment("q1", "x", "z", "model_a"),
          _judgment("q2", "x", "z", "model_a"), _judgment("q1", "y", "z", "error")]


def test_single_order_judgments_rate_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _imp("judgments", str(_jsonl(tmp_path / "j.jsonl", SINGLE)), "--run", str(run)) == 0
    assert _board(run) == {"x": (3, 1, 1), "y": (1, 1, 1), "z": (0, 0, 2)}
    assert {j.order for j in rundir.read_judgments(run)} == {"once"}
    capsys.readouterr()
    assert main(["report", str(run), "--format", "md"]) == 0
    md = (run / "report" / "report.md").read_text(encoding="utf-8")
    assert "| x |" in md
    report = json.loads((run / "report" / "report.json").read_text(encoding="utf-8"))
    judges = next(t for t in report["tables"] if t["key"] == "judges")
    assert "n/a (one order)" in judges["rows"][0]
    capsys.readouterr()
    assert main(["rate", str(run / rundir.BATTLES), "--bootstrap", "10", "--format", "json"]) == 0
    pairs = {(p["model"], p["opponent"]): p for p in json.loads(capsys.readouterr().out)["pairs"]}
    assert (pairs[("x", "y")]["wins"], pairs[("x", "y")]["ties"], pairs[("x", "y")]["losses"]) == (1, 1, 1)


def test_importing_twice_adds_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, src = tmp_path / "run", _jsonl(tmp_path / "j.jsonl", SINGLE)
    assert _imp("judgments", str(src), "--run", str(run)) == 0
    before = (run / rundir.JUDGMENTS).read_text(encoding="utf-8")
    capsys.readouterr()
    assert _imp("judgments", str(src), "--run", str(run)) == 0
    assert "imported 0 new judgments (6 already there)" in capsys.readouterr().out
    assert (run / rundir.JUDGMENTS).read_text(encoding="utf-8") == before


def test_a_bad_row_is_one_line_naming_file_line_and_field(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    src = _jsonl(tmp_path / "j.jsonl", [SINGLE[0], _judgment("q2", "x", "y", "A")])
    assert _imp("judgments", str(src), "--run", str(tmp_path / "run")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{src}:2:" in err and "'winner'" in err
    missing = _jsonl(tmp_path / "m.jsonl", [{k: v for k, v in SINGLE[0].items() if k != "judge"}])
    assert _imp("judgments", str(missing), "--run", str(tmp_path / "run")) == 2
    assert f"{missing}:1: missing field 'judge'" in capsys.readouterr().err


def test_a_conflicting_duplicate_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _imp("judgments", str(_jsonl(tmp_path / "j.jsonl", SINGLE)), "--run", str(run)) == 0
    other = _jsonl(tmp_path / "k.jsonl", [_judgment("q5", "x", "y", "tie"), _judgment("q1", "x", "y", "model_b")])
    assert _imp("judgments", str(other), "--run", str(run)) == 2
    err = capsys.readouterr().err
    assert f"{other}:2:" in err and "nothing was imported" in err
    assert len(rundir.read_judgments(run)) == 6


def test_an_order_without_its_partner_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _jsonl(tmp_path / "j.jsonl", [_judgment("q1", "x", "y", "model_a", order="ab")])
    assert _imp("judgments", str(src), "--run", str(tmp_path / "run")) == 2
    assert f"{src}:1: field 'order'" in capsys.readouterr().err


def test_generic_answers_and_questions(tmp_path: Path) -> None:
    run = tmp_path / "run"
    rows = [{"model": m, "task": "t", "question_id": q, "answer": f"{m} on {q}", "question": f"what is {q}?"}
            for m in ("x", "y") for q in ("q1", "q2")]
    assert _imp("answers", str(_jsonl(tmp_path / "a.jsonl", rows)), "--run", str(run)) == 0
    assert len(rundir.read_answers(run)) == 4
    tasks = rundir.read_questions(run)
    assert tasks is not None and [q.question for q in tasks[0].questions] == ["what is q1?", "what is q2?"]
    both = [_judgment(q, "x", "y", w, order=o) for q in ("q1", "q2")
            for o, w in (("ab", "model_a"), ("ba", "model_a" if q == "q1" else "model_b"))]
    assert _imp("judgments", str(_jsonl(tmp_path / "j.jsonl", both)), "--run", str(run)) == 0
    assert _board(run) == {"x": (1, 1, 0), "y": (0, 1, 1)}  # q1 kept across the swap, q2 flipped


def test_generic_battles_csv(tmp_path: Path) -> None:
    src = tmp_path / "b.csv"
    src.write_text("model_a,model_b,winner\nx,y,model_a\nx,y,tie (bothbad)\ny,y,tie\ny,x,model_a\n", encoding="utf-8")
    run = tmp_path / "run"
    assert _imp("battles", str(src), "--run", str(run), "--task", "arena") == 0
    assert _board(run) == {"x": (1, 1, 1), "y": (1, 1, 1)}
    assert {j.question_id for j in rundir.read_judgments(run)} == {"b.csv:2", "b.csv:3", "b.csv:5"}


# A published battle file as WildVision-Bench and Arena-Hard-Local publish theirs: rows keyed by
# question, both games of a question as two rows (q1: x wins one, y the other), and a strong verdict
# written as repeated copies of one row (q2: x three times). Every row is a battle:
#   x: q1 1 win 1 loss, q2 3 wins, q3 1 tie -> 4/1/1;  y: 1/1/4
REPEATED = [{"question_id": "q1", "model_a": "x", "model_b": "y", "winner": "model_a"},
            {"question_id": "q1", "model_a": "x", "model_b": "y", "winner": "model_b"},
            *[{"question_id": "q2", "model_a": "y", "model_b": "x", "winner": "model_b"}] * 3,
            {"question_id": "q3", "model_a": "x", "model_b": "y", "winner": "tie"}]


def test_a_battle_files_repeated_rows_are_battles_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _jsonl(tmp_path / "battles.jsonl", REPEATED)
    run = tmp_path / "run"
    assert _imp("battles", str(src), "--run", str(run), "--task", "wv") == 0
    assert "imported 6 new judgments (0 already there)" in capsys.readouterr().out
    assert _board(run) == {"x": (4, 1, 1), "y": (1, 1, 4)}
    battles = rundir.read_battles(run)
    assert sorted(b.source or "" for b in battles) == [f"battles.jsonl:{n}" for n in range(1, 7)]
    assert {b.question_id for b in battles} == {"q1", "q2", "q3"}  # the questions stay the questions
    # Importing the file again adds nothing; the ratings are those `harness rate` gives the file.
    assert _imp("battles", str(src), "--run", str(run), "--task", "wv") == 0
    assert "imported 0 new judgments (6 already there)" in capsys.readouterr().out
    assert main(["rate", str(src), "--format", "json"]) == 0
    rated = {r["model"]: r["rating"] for r in json.loads(capsys.readouterr().out)["ratings"]}
    with (run / rundir.LEADERBOARD_CSV).open(encoding="utf-8") as f:
        board = {r["model"]: float(r["bt"]) for r in csv.DictReader(f)}
    assert board == pytest.approx(rated, abs=0.051)


# FastChat pair judgments (game 1 shows model_1 first, game 2 swaps; both winners named by model):
#   81: 1,1 -> a wins; 82: 1,2 -> tie; 83: tie,2 -> tie; 84: 2,2 -> b wins; 85: error -> no battle;
#   81 turn 2: 2,2 -> b wins.  a: 1 win, 2 ties, 2 losses; swap-consistent 3 of 5 (81, 84, 81 turn 2)
FASTCHAT = [(81, "model_1", "model_1", 1), (82, "model_1", "model_2", 1), (83, "tie", "model_2", 1),
            (84, "model_2", "model_2", 1), (85, "error", "model_1", 1), (81, "model_2", "model_2", 2)]


def test_fastchat_pair_judgments(tmp_path: Path) -> None:
    rows = [{"question_id": q, "model_1": "a", "model_2": "b", "g1_winner": g1, "g2_winner": g2,
             "judge": ["gpt-4", "pair-v2"], "g1_user_prompt": "...", "g1_judgment": "[[A]]",
             "g2_user_prompt": "...", "g2_judgment": "[[B]]", "turn": turn, "tstamp": 1.0}
            for q, g1, g2, turn in FASTCHAT]
    src = _jsonl(tmp_path / "mt_bench" / "model_judgment" / "gpt-4_pair.jsonl", rows)
    run = tmp_path / "run"
    assert _imp("judgments", str(src), "--run", str(run), "--format", "fastchat") == 0
    assert _board(run) == {"a": (1, 2, 2), "b": (2, 2, 1)}
    js = rundir.read_judgments(run)
    assert {j.task for j in js} == {"mt_bench"} and {j.prompt for j in js} == {"fastchat:pair-v2"}
    # 81 is judged at two turns, so both keep them; the others are single-turn comparisons.
    assert sorted((j.question_id, j.turn) for j in js if j.order == "ab") == [
        ("81", 1), ("81", 2), ("82", None), ("83", None), ("84", None), ("85", None)]
    assert sorted((b.question_id, b.turn) for b in rundir.read_battles(run)) == [
        ("81", 1), ("81", 2), ("82", None), ("83", None), ("84", None)]
    answers = [{"question_id": q, "answer_id": "x", "model_id": m, "choices": [{"index": 0, "turns": ["t1", "t2"]}],
                "tstamp": 1.0} for q in (81, 82) for m in ("a", "b")]
    src = _jsonl(tmp_path / "mt_bench" / "model_answer" / "a.jsonl", answers)
    assert _imp("answers", str(src.parent), "--run", str(run), "--format", "fastchat") == 0
    assert {(a.task, a.question_id, a.all_turns) for a in rundir.read_answers(run)} == {
        ("mt_bench", q, ("t1", "t2")) for q in ("81", "82")}
    from harness.stats.battles import judge_stats
    stats = judge_stats(js)[0]
    assert (stats.pairs, stats.consistent) == (5, 3)


# Arena-Hard rows (baseline "base" is A in game 1 and B in game 2):
#   q1 [A>>B, B>A]: base, base;  q2 [B>A, A>B]: m1, m1;  q3 [A=B, B>>A]: tie, base (strong);
#   q4 [null, A>B]: unreadable, m1;  q5: the baseline against itself (skipped).
# Judgments, both games combined: base wins q1, m1 wins q2, q3 is a tie, q4 no battle -> base 1/1/1.
# Arena-Hard's count, --weight 3: base 3+1 (q1) + 3 (q3) = 7 wins; m1 1+1 (q2) + 1 (q4) = 3; 1 tie.
ARENA = [("q1", "m1", ["A>>B", "B>A"]), ("q2", "m1", ["B>A", "A>B"]), ("q3", "m1", ["A=B", "B>>A"]),
         ("q4", "m1", [None, "A>B"]), ("q5", "base", ["A=B", "A=B"])]


def _arena(tmp_path: Path) -> Path:
    rows = [{"question_id": q, "model": m, "judge": "gpt-4-1106-preview",
             "games": [{"user_prompt": "...", "judgment": f"My verdict: [[{s}]]", "score": s} for s in scores]}
            for q, m, scores in ARENA]
    return _jsonl(tmp_path / "arena-hard-v0.1" / "model_judgment" / "gpt-4-1106-preview" / "m1.jsonl", rows)


def test_arena_hard_judgments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _imp("judgments", str(_arena(tmp_path)), "--run", str(run), "--format", "arena-hard",
                "--baseline", "base") == 0
    assert "note: skipped 1 rows where model_a == model_b" in capsys.readouterr().err
    assert _board(run) == {"base": (1, 1, 1), "m1": (1, 1, 1)}
    js = rundir.read_judgments(run)
    assert {j.task for j in js} == {"arena-hard-v0.1"}
    assert [(j.order, j.label, j.winner) for j in js if j.question_id == "q3"] == [
        ("ab", "A=B", "tie"), ("ba", "B>>A", "model_a")]
    assert _imp("judgments", str(_arena(tmp_path)), "--run", str(run), "--format", "arena-hard",
                "--weight", "3") == 2  # the weight is a battle count, not a judgment


@pytest.mark.parametrize(("weight", "expected"), [("3", {"base": (7, 1, 3), "m1": (3, 1, 7)}),
                                                  ("1", {"base": (3, 1, 3), "m1": (3, 1, 3)})])
def test_arena_hard_battles_with_weight(tmp_path: Path, weight: str, expected: dict) -> None:
    run = tmp_path / "run"
    assert _imp("battles", str(_arena(tmp_path)), "--run", str(run), "--format", "arena-hard",
                "--baseline", "base", "--weight", weight) == 0
    assert _board(run) == expected
    # Each game and copy is an event of its row; the question id stays the question's.
    battles = rundir.read_battles(run)
    assert {b.question_id for b in battles} == {"q1", "q2", "q3", "q4"}
    assert sorted(b.source or "" for b in battles if b.question_id == "q1") == (
        ["m1.jsonl:1/game1", "m1.jsonl:1/game1/copy2", "m1.jsonl:1/game1/copy3", "m1.jsonl:1/game2"]
        if weight == "3" else ["m1.jsonl:1/game1", "m1.jsonl:1/game2"])


# AlpacaEval preferences: 1 -> generator_1 wins, 2 -> generator_2, 1.5 a draw; a fraction goes to the
# nearer of 1 and 2 (AlpacaEval's discrete rule) and keeps its value as the expected outcome; null is
# an error.  mine: I2, I4 wins; I3 a draw; I1, I5 losses -> 2/1/2
ALPACA = [("I1", 1.0), ("I2", 2.0), ("I3", 1.5), ("I4", 1.8), ("I5", 1.3), ("I6", None)]


def test_alpaca_eval_annotations_and_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ann = tmp_path / "annotations.json"
    ann.write_text(json.dumps([{"instruction": i, "output_1": "o1", "output_2": "o2", "generator_1": "gpt4",
                                "generator_2": "mine", "annotator": "weighted_gpt4", "preference": p}
                               for i, p in ALPACA]), encoding="utf-8")
    outs = tmp_path / "model_outputs.json"
    outs.write_text(json.dumps([{"instruction": i, "output": f"answer to {i}", "generator": g, "dataset": "d"}
                                for i, _ in ALPACA for g in ("gpt4", "mine")]), encoding="utf-8")
    run = tmp_path / "run"
    assert _imp("answers", str(outs), "--run", str(run), "--format", "alpaca_eval") == 0
    assert _imp("judgments", str(ann), "--run", str(run), "--format", "alpaca_eval") == 0
    assert _board(run) == {"gpt4": (2, 1, 2), "mine": (2, 1, 2)}
    js = rundir.read_judgments(run)
    assert {j.question_id: j.soft for j in js if j.label == "1.3"} == {
        j.question_id: pytest.approx((0.7, 0.0, 0.3)) for j in js if j.label == "1.3"}
    answered = {(a.task, a.question_id) for a in rundir.read_answers(run)}
    assert all((j.task, j.question_id) in answered for j in js)  # joined on the instruction's text
    capsys.readouterr()
    assert main(["report", str(run), "--format", "md"]) == 0
    ann.write_text(json.dumps([{"instruction": "I1", "generator_1": "a", "generator_2": "b", "preference": 3}]),
                   encoding="utf-8")
    assert _imp("judgments", str(ann), "--run", str(run), "--format", "alpaca_eval") == 2
    assert f"{ann}: item 1: field 'preference'" in capsys.readouterr().err


def test_import_labels_is_human_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _imp("judgments", str(_jsonl(tmp_path / "j.jsonl", SINGLE)), "--run", str(run)) == 0
    labels = tmp_path / "labels.csv"
    labels.write_text("task,question_id,model_a,model_b,winner\nt,q1,x,y,model_a\nt,q2,y,x,model_a\n",
                      encoding="utf-8")
    assert _imp("labels", str(labels), "--run", str(run)) == 0
    assert len(rundir.read_human(run)) == 2
    capsys.readouterr()
    assert main(["report", str(run), "--format", "md"]) == 0
    report = json.loads((run / "report" / "report.json").read_text(encoding="utf-8"))
    assert "agreement" in json.dumps(report).lower()


def test_import_questions_reads_question_files_as_tasks_dir_does(tmp_path: Path) -> None:
    """One reader for question files: `harness import questions` detects the format as `--tasks-dir`
    does, and an AlpacaEval instruction gets the id its outputs and annotations get."""
    from harness.core.interop import question_key
    from harness.tasks.formats import read_task_file

    src = _jsonl(tmp_path / "alpaca_set.jsonl", [{"instruction": "Say hi", "dataset": "helpful_base"},
                                                 {"instruction": "Say bye", "dataset": "oasst"}])
    run = tmp_path / "run"
    assert _imp("questions", str(src), "--run", str(run)) == 0
    tasks = rundir.read_questions(run)
    assert tasks is not None and tasks[0].id == "alpaca_set"
    assert [q.id for q in tasks[0].questions] == [question_key("Say hi"), question_key("Say bye")]
    assert [q.id for q in read_task_file(src).questions] == [q.id for q in tasks[0].questions]
    two_turns = _jsonl(tmp_path / "mt.jsonl", [{"question_id": 81, "category": "writing", "turns": ["a", "b"]}])
    # A multi-turn question is kept whole (runs refuse it until generation asks every turn).
    assert _imp("questions", str(two_turns), "--run", str(run)) == 0
    held = {t.id: t for t in rundir.read_questions(run) or ()}
    assert held["mt"].questions[0].all_turns == ("a", "b")


def test_imported_single_order_verdicts_and_labels_give_the_agreement_section_everywhere(
        tmp_path: Path) -> None:
    """Issue 16's acceptance: import judgments seen once, import two annotators' labels, report:
    the agreement section is in HTML, Markdown, LaTeX and report.json, with the hand-counted
    agreement and no per-order figures (the judge saw each pair once)."""
    run = tmp_path / "run"
    verdicts = [_judgment(q, "x", "y", w) for q, w in (("q1", "model_a"), ("q2", "model_b"), ("q3", "tie"),
                                                       ("q4", "model_a"))]
    assert _imp("judgments", str(_jsonl(tmp_path / "j.jsonl", verdicts)), "--run", str(run)) == 0
    labels = tmp_path / "labels.csv"
    labels.write_text("task,question_id,model_a,model_b,winner,annotator\n"
                      "t,q1,x,y,model_a,ann\nt,q2,x,y,model_b,ann\nt,q3,x,y,model_a,ann\nt,q4,y,x,model_a,ann\n"
                      "t,q1,x,y,model_a,bob\nt,q2,x,y,tie,bob\nt,q3,x,y,tie,bob\nt,q4,x,y,model_a,bob\n",
                      encoding="utf-8")
    assert _imp("labels", str(labels), "--run", str(run)) == 0
    assert main(["report", str(run), "--format", "html,latex,md"]) == 0
    report = run / "report"
    doc = json.loads((report / "report.json").read_text(encoding="utf-8"))["agreement"]
    rows = {r["annotator"]: r for r in doc["judges"]}
    # ann: q1 agree, q2 agree, q3 tie vs model_a disagree, q4 (y over x = model_b) vs model_a disagree
    assert rows["ann"]["n"] == 4 and rows["ann"]["agreement"] == pytest.approx(2 / 4, abs=1e-9)
    # bob: q1 agree, q2 disagree, q3 agree (tie), q4 agree
    assert rows["bob"]["agreement"] == pytest.approx(3 / 4, abs=1e-9)
    assert rows["ann"]["accuracy_ab"] is None and rows["ann"]["positional_agreement"] is None
    assert "Agreement with the human labels" in (report / "report.md").read_text(encoding="utf-8")
    assert 'id="human"' in (report / "report.html").read_text(encoding="utf-8")
    latex = "\n".join(p.read_text(encoding="utf-8") for p in (report / "latex").rglob("*.tex"))
    assert "Agreement with the human labels" in latex


def _get_winrate(preferences: list[float | None]) -> dict[str, float]:
    """AlpacaEval's get_winrate, rebuilt with pandas from its description (metrics/helpers.py):
    nulls dropped; the absolute rule's mean and standard error of preference - 1 (a draw, 1.5 or
    0, counted apart); the zero-one rule's rounding for the discrete win rate."""
    import pandas as pd

    raw = pd.Series([p for p in preferences if p is not None], dtype=float)
    n_draws = int(((raw == 1.5) | (raw == 0)).sum())
    x = raw.replace({0.0: 1.5}) - 1
    discrete = raw.replace({1.5: 0}).round().replace({0.0: 1.5}) - 1
    return {"win_rate": x.mean() * 100, "standard_error": x.sem() * 100,
            "discrete_win_rate": discrete.mean() * 100, "n_wins": int((x > 0.5).sum()),
            "n_wins_base": int((x < 0.5).sum()), "n_draws": n_draws, "n_total": len(x)}


def test_alpaca_eval_figures_are_get_winrates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A weighted annotator's file (fractional preferences, exact draws both ways, nulls) for two
    models against one baseline, imported and rated with --baseline: every figure AlpacaEval's
    get_winrate gives, to 1e-9."""
    import random

    rng = random.Random(4)
    prefs = {m: [1 + rng.random() for _ in range(40)] + [1.5, 0, None, 2.0, 1.0] for m in ("mine", "theirs")}
    rows = [{"instruction": f"Instruction {m} {k}", "output_1": "o1", "output_2": "o2", "generator_1": "gpt4",
             "generator_2": m, "annotator": "weighted_gpt4", "preference": p}
            for m, ps in prefs.items() for k, p in enumerate(ps)]
    ann = tmp_path / "annotations.json"
    ann.write_text(json.dumps(rows), encoding="utf-8")
    run = tmp_path / "run"
    assert _imp("judgments", str(ann), "--run", str(run), "--format", "alpaca_eval") == 0
    capsys.readouterr()
    assert main(["rate", str(run / rundir.BATTLES), "--baseline", "gpt4", "--format", "json",
                 "--bootstrap", "0"]) == 0
    got = {r["model"]: r for r in json.loads(capsys.readouterr().out)["ratings"]}
    for m, ps in prefs.items():
        want = _get_winrate(ps)
        for key, value in want.items():
            assert got[m][key] == pytest.approx(value, abs=1e-9), (m, key)
    assert got["mine"]["n_draws"] == 2 and got["mine"]["n_total"] == 44
    assert got["gpt4"]["win_rate"] is None  # the baseline has no head-to-head with itself


@pytest.mark.parametrize("turn", [3_000_000, 10**30, 0, 1.5, "2", None])
def test_a_fastchat_turn_no_conversation_has_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         turn: object) -> None:
    """Turn 3,000,000 was imported, and `harness report` then took 71 s, 6.3 GB and wrote 1 GB."""
    rows = [{"question_id": q, "model_1": "a", "model_2": "b", "g1_winner": "model_1", "g2_winner": "model_1",
             "judge": ["gpt-4", "pair-v2"], "turn": t} for q, t in ((81, 1), (82, turn))]
    src = _jsonl(tmp_path / "mt_bench" / "model_judgment" / "gpt-4_pair.jsonl", rows)
    if turn is None:  # a null turn is a single-turn question's judgment (harness's own rows say so)
        assert _imp("judgments", str(src), "--run", str(tmp_path / "run"), "--format", "fastchat") == 0
        return
    assert _imp("judgments", str(src), "--run", str(tmp_path / "run"), "--format", "fastchat") == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"harness: error: {src}:2: field 'turn': expected a turn number from 1 to 100, "
                   f"got {turn!r}"), err
    assert not (tmp_path / "run" / rundir.JUDGMENTS).exists()


def test_a_fastchat_turn_past_the_questions_turns_is_one_line(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    questions = _jsonl(tmp_path / "question.jsonl", [{"question_id": 81, "category": "writing", "turns": ["a", "b"]}])
    run = tmp_path / "run"
    assert _imp("questions", str(questions), "--run", str(run), "--task", "mt_bench") == 0
    rows = [{"question_id": 81, "model_1": "a", "model_2": "b", "g1_winner": "model_1", "g2_winner": "model_1",
             "judge": ["gpt-4", "pair-v2"], "turn": t} for t in (2, 3)]
    src = _jsonl(tmp_path / "mt_bench" / "model_judgment" / "gpt-4_pair.jsonl", rows)
    capsys.readouterr()
    assert _imp("judgments", str(src), "--run", str(run), "--format", "fastchat") == 2
    assert capsys.readouterr().err.strip() == (
        f"harness: error: {src}:2: field 'turn': 3 is past the last turn of question 'mt_bench'/'81', which "
        "has 2 turns in questions.jsonl; nothing was imported")
    assert sorted(p.name for p in run.iterdir()) == sorted([rundir.FORMAT, rundir.QUESTIONS])
