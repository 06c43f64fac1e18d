"""Judge-evaluation sets (``harness import ... --format judgebench|llmbar|pandalm|autoj``) and
``harness agreement`` on them, checked against each set's own statistics worked out by hand.

Every file here is written by hand in the shape each format's docstring describes (no third-party
data); the expected figures are counted in the comments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.app.cli import main
from harness.core import rundir

Cap = pytest.CaptureFixture[str]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _json(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return path


def _imp(kind: str, src: Path, fmt: str, run: Path, *extra: str) -> int:
    return main(["import", kind, str(src), "--format", fmt, "--run", str(run), *extra])


def _rows(run: Path, capsys: Cap, *extra: str) -> list[dict[str, Any]]:
    """The judge rows of ``harness agreement --format json``."""
    capsys.readouterr()
    assert main(["agreement", "--run", str(run), "--format", "json", *extra]) == 0
    return list(json.loads(capsys.readouterr().out)["judges"])


def _error(capsys: Cap) -> str:
    """The one ``harness: error:`` line of a failed command."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("harness: error: "), err
    return err


# --- JudgeBench ------------------------------------------------------------------------------------

JB_NAME = "dataset=judgebench,response_model=m,judge_name=arena_hard,judge_model={}.jsonl"


def _jb(pid: str, label: str, games: list[Any] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"pair_id": pid, "original_id": "o" + pid, "source": "mmlu-pro-math",
                           "question": f"question {pid}?", "response_A": f"A on {pid}",
                           "response_B": f"B on {pid}", "label": label}
    if games is not None:
        row |= {"judge_name": "arena_hard", "judgments": games}
    return row


def _g(decision: str | None) -> dict[str, Any]:
    return {"judgment": {"response": f"my verdict: [[{decision}]]"}, "decision": decision}


# The second game showed the pair swapped: its "A>B" means response_B won.
#   p1 A>B: A>B, swapped B>A (-> A)     +1 +1 = +2  right   (ab A, ba A)
#   p2 B>A: B>A, swapped A=B (tie)      +1  0 = +1  right   (ab B, ba tie)
#   p3 A>B: A>B, swapped A>B (-> B)     +1 -1 =  0  wrong   (ab A, ba B)
#   p4 B>A: A>B, swapped B>A (-> A)     -1 -1 = -2  wrong   (ab A, ba A)
#   p5 A>B: null, swapped B>A (-> A)     0 +1 = +1  right   (ab error, ba A)
#   p6 B>A: decision null, swapped B>A   0 -1 = -1  wrong   (ab error, ba A)
# JudgeBench: 3 right of all 6 pairs = 0.5. Excluding the 2 with an error (p5, p6): n = 4;
# combined verdicts p1 A (=label), p2 tie, p3 tie, p4 A -> agreement 1/4; ab right p1 p2 p3 = 3/4,
# ba right p1 = 1/4; both right p1 = 1/4; same verdict p1 p4 = 2/4.
JB = [_jb("p1", "A>B", [_g("A>B"), _g("B>A")]), _jb("p2", "B>A", [_g("B>A"), _g("A=B")]),
      _jb("p3", "A>B", [_g("A>B"), _g("A>B")]), _jb("p4", "B>A", [_g("A>B"), _g("B>A")]),
      _jb("p5", "A>B", [None, _g("B>A")]), _jb("p6", "B>A", [_g(None), _g("B>A")])]
# One game each (--single_game): right when the decision is the label.
#   p1 A>B right, p2 A>B (label B>A) wrong, p3 A=B wrong, p4 B>A right, p5 null wrong -> 2/5
JB_SINGLE = [_jb("p1", "A>B", [_g("A>B")]), _jb("p2", "B>A", [_g("A>B")]), _jb("p3", "A>B", [_g("A=B")]),
             _jb("p4", "B>A", [_g("B>A")]), _jb("p5", "A>B", [None])]


def test_judgebench_net_accuracy(tmp_path: Path, capsys: Cap) -> None:
    run = tmp_path / "run"
    out = _jsonl(tmp_path / "outputs" / JB_NAME.format("J1"), JB)
    pairs = _jsonl(tmp_path / "data" / "dataset=judgebench,split=gpt.jsonl", [_jb(r["pair_id"], r["label"]) for r in JB])
    assert _imp("judgments", out, "judgebench", run) == 0
    assert _imp("labels", pairs, "judgebench", run) == 0
    judgments = rundir.read_judgments(run)
    assert {j.judge for j in judgments} == {"J1"} and {j.task for j in judgments} == {"judgebench"}
    assert {j.prompt for j in judgments} == {"judgebench:arena_hard"}
    by = {(j.question_id, j.order): j.winner for j in judgments}
    assert (by["p3", "ab"], by["p3", "ba"], by["p5", "ab"], by["p6", "ab"]) == ("model_a", "model_b", "error", "error")
    assert {h.annotator for h in rundir.read_human(run)} == {"gold"}
    assert {a.model for a in rundir.read_answers(run)} == {"response_A", "response_B"}
    [row] = _rows(run, capsys)
    assert (row["judge"], row["annotator"], row["errors_rule"]) == ("J1", "gold", "exclude")
    assert row["accuracy_net"] == pytest.approx(3 / 6) and row["n_net"] == 6
    assert (row["n"], row["errors"], row["n_both_orders"]) == (4, 2, 4)
    assert row["agreement"] == pytest.approx(1 / 4)
    assert (row["accuracy_ab"], row["accuracy_ba"]) == (pytest.approx(3 / 4), pytest.approx(1 / 4))
    assert (row["both_correct"], row["positional_agreement"]) == (pytest.approx(1 / 4), pytest.approx(2 / 4))
    for rule in ("wrong", "tie"):  # JudgeBench's figure does not depend on the error rule
        assert _rows(run, capsys, "--errors", rule)[0]["accuracy_net"] == pytest.approx(0.5)
    before = (run / rundir.JUDGMENTS).read_text(encoding="utf-8")
    capsys.readouterr()
    assert _imp("judgments", out, "judgebench", run) == 0
    assert "imported 0 new judgments (12 already there)" in capsys.readouterr().out
    assert (run / rundir.JUDGMENTS).read_text(encoding="utf-8") == before
    assert _imp("labels", pairs, "judgebench", run) == 0
    assert len(rundir.read_human(run)) == 6


def test_judgebench_single_game(tmp_path: Path, capsys: Cap) -> None:
    run = tmp_path / "run"
    assert _imp("judgments", _jsonl(tmp_path / JB_NAME.format("J2"), JB_SINGLE), "judgebench", run) == 0
    assert _imp("labels", _jsonl(tmp_path / "pairs.jsonl", JB), "judgebench", run) == 0
    assert {j.order for j in rundir.read_judgments(run)} == {"once"}
    [row] = _rows(run, capsys)
    assert row["judge"] == "J2" and row["n_net"] == 5 and row["accuracy_net"] == pytest.approx(2 / 5)
    assert row["n_both_orders"] is None and row["accuracy_ab"] is None


# --- LLMBar ----------------------------------------------------------------------------------------


def _side(winner: str | None) -> dict[str, Any]:
    return {"completion": [f"Output ({winner})" if winner else "I cannot decide.", "stop"], "winner": winner}


def _bar(i: int, label: int, no_swap: str | None = None, swap: str | None = None,
         judged: bool = True) -> dict[str, Any]:
    row: dict[str, Any] = {"input": f"instruction {i}", "output_1": f"first {i}", "output_2": f"second {i}",
                           "label": label}
    if judged:
        row["results"] = [{"swap = False": _side("1"), "swap = True": _side("2")},  # an earlier round
                          {"swap = False": _side(no_swap), "swap = True": _side(swap)}]
    return row


# Winners are already mapped back to the original numbering.
#   item label  swap=False swap=True   F ok  T ok  both  equal
#   1    1      1          1           y     y     y     y
#   2    2      2          1           y     n     n     n
#   3    1      2          2           n     n     n     y
#   4    2      null       2           n     y     n     n
#   5    1      null       null        n     n     n     y (two nulls are equal)
#   6    2      1          2           n     y     n     n
# LLMBar (n = 6): correct_False 2/6, correct_True 3/6, average 5/12, correct_both 1/6, equal 3/6.
# Leaving the items with a null out (4, 5): n = 4, F ok 1 2 -> 2/4.
BAR = [(1, "1", "1"), (2, "2", "1"), (1, "2", "2"), (2, None, "2"), (1, None, None), (2, "1", "2")]


def test_llmbar_statistics(tmp_path: Path, capsys: Cap) -> None:
    run, sets = tmp_path / "run", tmp_path / "Dataset" / "LLMBar" / "Natural"
    result = _json(sets / "evaluators" / "GPT-X" / "Vanilla" / "result.json",
                   [_bar(i, label, f, t) for i, (label, f, t) in enumerate(BAR, 1)])
    data = _json(sets / "dataset.json", [_bar(i, label, judged=False) for i, (label, _, _) in enumerate(BAR, 1)])
    assert _imp("judgments", result, "llmbar", run) == 0
    assert _imp("labels", data, "llmbar", run) == 0
    judgments = rundir.read_judgments(run)
    assert {(j.judge, j.task) for j in judgments} == {("GPT-X/Vanilla", "llmbar-natural")}
    assert {j.question_id for j in judgments} == {str(i) for i in range(1, 7)}
    raw = {(j.question_id, j.order): j.raw for j in judgments}
    assert raw["1", "ab"] == "Output (1)" and raw["5", "ba"] == "I cannot decide."
    [row] = _rows(run, capsys, "--errors", "wrong")
    assert (row["judge"], row["annotator"], row["errors_rule"]) == ("GPT-X/Vanilla", "gold", "wrong")
    assert row["n_both_orders"] == 6 and row["errors"] == 2
    assert row["accuracy_ab"] == pytest.approx(2 / 6)
    assert row["accuracy_ba"] == pytest.approx(3 / 6)
    assert row["accuracy_average"] == pytest.approx(5 / 12)
    assert row["both_correct"] == pytest.approx(1 / 6)
    assert row["positional_agreement"] == pytest.approx(3 / 6)
    [row] = _rows(run, capsys)
    assert (row["n"], row["n_both_orders"], row["errors"]) == (4, 4, 2)
    assert row["accuracy_ab"] == pytest.approx(2 / 4)
    # The evaluator's folder reads as its result.json.
    other = tmp_path / "other"
    assert _imp("judgments", result.parent, "llmbar", other) == 0
    assert rundir.read_judgments(other) == judgments


# --- PandaLM ---------------------------------------------------------------------------------------


def _panda(idx: int, votes: tuple[int, int, int], key: str = "m1_m2", response2: Any = None) -> dict[str, Any]:
    return {"idx": idx, "motivation_app": "writing", "cmp_key": key, "instruction": f"do {idx}", "input": "",
            "response1": f"one {idx}", "response2": f"two {idx}" if response2 is None else response2,
            **{f"annotator{i}": v for i, v in enumerate(votes, 1)}}


# idx votes    majority  judge     --errors tie   exclude
#  1  1 1 2    A         "1"       right          right
#  2  2 2 2    B         "2"       right          right
#  3  0 0 1    tie       "Tie"     right          right
#  4  1 2 0    tie (no plurality)  garbage -> tie right   left out
#  5  2 2 1    B         "1"       wrong          wrong
#  6  1 1 0    A         garbage -> tie wrong     left out
# --errors tie (PandaLM's count): 4 of 6; exclude: 3 of 4, 2 errors.
PANDA = [_panda(1, (1, 1, 2)), _panda(2, (2, 2, 2), response2=True), _panda(3, (0, 0, 1)),
         _panda(4, (1, 2, 0)), _panda(5, (2, 2, 1), key="m3_m1"), _panda(6, (1, 1, 0))]
PANDA_OUT = [{"idx": i, "gpt_result": r, "gpt_reason": f"because {i}"}
             for i, r in ((1, "1"), (2, "2"), (3, "Tie"), (4, "garbage"), (5, "1"), (6, "garbage"))]


def test_pandalm_majority_agreement(tmp_path: Path, capsys: Cap) -> None:
    run = tmp_path / "run"
    testset = _json(tmp_path / "data" / "testset-v1.json", PANDA)
    out = _json(tmp_path / "data" / "judgeX-testset-v1.json", PANDA_OUT)
    assert _imp("labels", testset, "pandalm", run) == 0
    assert _imp("judgments", out, "pandalm", run, "--pairs", str(testset)) == 0
    answers = {(a.model, a.question_id): a.answer for a in rundir.read_answers(run)}
    assert {m for m, _ in answers} == {"m1", "m2", "m3"}
    assert answers["m2", "2"] == "true"  # JSON true read as the text PandaLM prints
    assert answers["m3", "5"] == "one 5" and answers["m1", "5"] == "two 5"  # cmp_key names response1's model
    assert {h.annotator for h in rundir.read_human(run)} == {"annotator1", "annotator2", "annotator3"}
    assert {(j.judge, j.order) for j in rundir.read_judgments(run)} == {("judgeX", "once")}
    rows = _rows(run, capsys, "--errors", "tie")
    major = next(r for r in rows if r["annotator"] == "majority")
    assert (major["judge"], major["n"], major["errors"]) == ("judgeX", 6, 2)
    assert major["agreement"] == pytest.approx(4 / 6)
    major = next(r for r in _rows(run, capsys) if r["annotator"] == "majority")
    assert (major["n"], major["errors"]) == (4, 2) and major["agreement"] == pytest.approx(3 / 4)


def test_pandalm_output_needs_its_test_set(tmp_path: Path, capsys: Cap) -> None:
    out = _json(tmp_path / "judgeX-testset-v1.json", PANDA_OUT)
    assert _imp("judgments", out, "pandalm", tmp_path / "run") == 2
    err = _error(capsys)
    assert str(out) in err and "--pairs" in err


# --- Auto-J ----------------------------------------------------------------------------------------

# label 0: response 1 better, 1: response 2, 2: tie. The exchange file's outputs are about the swapped
# pair: its 0 means (original) response 2.
#   item label  output  exchange (mapped back)  both right  same
#   1    0      0       1 (-> 0)               y           y
#   2    1      1       1 (-> 0)               n           n
#   3    2      2       2 (-> 2)               y           y
#   4    0      1       0 (-> 1)               n           y
#   5    1      -1      0 (-> 1)               n           n     (-1: unparsable)
#   6    0      0       0 (-> 1)               n           n
# Auto-J over all 6: agreement 2/6, consistency 3/6 (--errors wrong); excluding item 5: 2/5, 3/5.
AUTOJ = [(0, 0, 1), (1, 1, 1), (2, 2, 2), (0, 1, 0), (1, -1, 0), (0, 0, 0)]


def _autoj(tmp_path: Path) -> tuple[Path, Path, Path]:
    test = _jsonl(tmp_path / "testdata_pairwise.jsonl",
                  [{"scenario": "chitchat", "label": label, "prompt": f"say {i}", "response 1": f"r1 {i}",
                    "response 2": f"r2 {i}"} for i, (label, _, _) in enumerate(AUTOJ, 1)])
    out = _jsonl(tmp_path / "autoj-13b.jsonl", [{"output": o} for _, o, _ in AUTOJ])
    swapped = _jsonl(tmp_path / "autoj-13b-exchange.jsonl", [{"output": s} for _, _, s in AUTOJ])
    return test, out, swapped


def test_autoj_agreement_and_consistency(tmp_path: Path, capsys: Cap) -> None:
    run = tmp_path / "run"
    test, out, swapped = _autoj(tmp_path)
    assert _imp("labels", test, "autoj", run) == 0
    assert _imp("judgments", out, "autoj", run, "--pairs", str(test), "--swapped", str(swapped)) == 0
    by = {(j.question_id, j.order): j.winner for j in rundir.read_judgments(run)}
    assert (by["2", "ba"], by["4", "ab"], by["5", "ab"]) == ("model_a", "model_b", "error")
    assert {j.judge for j in rundir.read_judgments(run)} == {"autoj-13b"}
    [row] = _rows(run, capsys, "--errors", "wrong")
    assert row["n_both_orders"] == 6
    assert row["both_correct"] == pytest.approx(2 / 6)
    assert row["positional_agreement"] == pytest.approx(3 / 6)
    [row] = _rows(run, capsys)
    assert (row["n_both_orders"], row["errors"]) == (5, 1)
    assert (row["both_correct"], row["positional_agreement"]) == (pytest.approx(2 / 5), pytest.approx(3 / 5))


def test_autoj_output_count_must_match(tmp_path: Path, capsys: Cap) -> None:
    test, out, _ = _autoj(tmp_path)
    short = _jsonl(tmp_path / "short.jsonl", [{"output": 0}] * 5)
    assert _imp("judgments", out, "autoj", tmp_path / "run", "--pairs", str(test), "--swapped", str(short)) == 2
    err = _error(capsys)
    assert f"{short}: 5 outputs for the 6 pairs" in err
    assert not (tmp_path / "run" / rundir.JUDGMENTS).exists()


# --- Bad input -------------------------------------------------------------------------------------


def test_bad_labels_name_file_row_and_field(tmp_path: Path, capsys: Cap) -> None:
    run = tmp_path / "run"
    jb = _jsonl(tmp_path / "jb.jsonl", [_jb("p1", "A>B"), _jb("p2", "C>D")])
    assert _imp("labels", jb, "judgebench", run) == 2
    err = _error(capsys)
    assert f"{jb}:2: field 'label'" in err and "'C>D'" in err
    bar = _json(tmp_path / "Dataset" / "LLMBar" / "Natural" / "dataset.json",
                [_bar(1, 1, judged=False), _bar(2, 3, judged=False)])
    assert _imp("labels", bar, "llmbar", run) == 2
    assert f"{bar}: item 2: field 'label': 3 is not 1 or 2" in _error(capsys)
    panda = _json(tmp_path / "testset-v1.json", [_panda(1, (1, 1, 2)), _panda(2, (1, 5, 2))])
    assert _imp("labels", panda, "pandalm", run) == 2
    assert f"{panda}: item 2: field 'annotator2': 5" in _error(capsys)
    autoj = _jsonl(tmp_path / "pairwise.jsonl", [{"label": 3, "prompt": "p", "response 1": "x", "response 2": "y"}])
    assert _imp("labels", autoj, "autoj", run) == 2
    assert f"{autoj}:1: field 'label': 3" in _error(capsys)
    games = _jsonl(tmp_path / JB_NAME.format("J1"), [_jb("p1", "A>B", [_g("A>B"), _g("B>A"), _g("A>B")])])
    assert _imp("judgments", games, "judgebench", run) == 2
    assert f"{games}:1: field 'judgments'" in _error(capsys)
    assert not (run / rundir.HUMAN).exists() and not (run / rundir.JUDGMENTS).exists()


def test_judge_set_flags_with_generic_format(tmp_path: Path, capsys: Cap) -> None:
    src = _jsonl(tmp_path / "j.jsonl", [{"task": "t", "question_id": "q1", "model_a": "x", "model_b": "y",
                                         "judge": "J", "winner": "model_a"}])
    assert _imp("judgments", src, "generic", tmp_path / "run", "--pairs", str(src)) == 2
    assert "--pairs applies to judge-evaluation sets only" in _error(capsys)
    # a flag a set's format does not read is refused, not ignored
    jb = _jsonl(tmp_path / "jb.jsonl", JB)
    assert _imp("answers", jb, "judgebench", tmp_path / "run", "--swapped", str(jb)) == 2
    assert "--swapped does not apply to --format judgebench" in _error(capsys)
    # labels come in the generic format or from a judge-evaluation set
    assert _imp("labels", jb, "fastchat", tmp_path / "run") == 2
    assert "harness import labels has no --format fastchat" in _error(capsys)
    assert not (tmp_path / "run").exists()


# --- Output formats --------------------------------------------------------------------------------


def test_agreement_table_and_csv_columns(tmp_path: Path, capsys: Cap) -> None:
    run = tmp_path / "run"
    assert _imp("judgments", _jsonl(tmp_path / JB_NAME.format("J1"), JB), "judgebench", run) == 0
    assert _imp("labels", _jsonl(tmp_path / "pairs.jsonl", JB), "judgebench", run) == 0
    capsys.readouterr()
    assert main(["agreement", "--run", str(run)]) == 0
    table = capsys.readouterr().out
    assert "Net accuracy" in table and "J1" in table and "50.0" in table  # 3/6 as a percentage
    assert main(["agreement", "--run", str(run), "--format", "csv", "--errors", "wrong"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split(",")
    assert "accuracy_net" in header and "errors_rule" in header
    judge = dict(zip(header, lines[1].split(",")))
    assert (judge["kind"], judge["judge"], judge["errors_rule"], judge["n_net"]) == ("judge", "J1", "wrong", "6")
    assert float(judge["accuracy_net"]) == pytest.approx(0.5)
