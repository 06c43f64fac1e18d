"""Multi-turn runs in every report format: per-turn leaderboards with the sentence on how overall
combines turns, per-turn win / tie / lose per pair, and the judged pair's full conversations.

The run is written with the run-directory writers (no model, no judge): alpha wins every turn-1
battle, beta every turn-2 battle, and gamma vs. alpha at turn 2 flips with the order (a tie).
"""

from __future__ import annotations

import csv
import html
import json
import shutil
from pathlib import Path

import pytest
from report_tables import html_tables as _html_tables
from report_tables import tex_rows as _tex_rows

from harness.analysis.figures import load_figures
from harness.app.pipeline import rate
from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.types import Answer, Judgment, Question, Task
from harness.reports.build import publish
from harness.reports.latex import escape, render_cases
from harness.stats.ratings import OVERALL_TURNS

MODELS = ("alpha", "beta", "gamma")
USER = ("Plan a weekend in Rome.", "Now fit it into one day.")
# the winner of each pair (in MODELS order) at each turn; None: the verdict flips with the order
WINNERS = {1: {("alpha", "beta"): "alpha", ("alpha", "gamma"): "alpha", ("beta", "gamma"): "beta"},
           2: {("alpha", "beta"): "beta", ("alpha", "gamma"): None, ("beta", "gamma"): "beta"}}
# per turn: each model's [wins, ties, losses] against all others
TURN_WTL = {1: {"alpha": [2, 0, 0], "beta": [1, 0, 1], "gamma": [0, 0, 2]},
            2: {"alpha": [0, 1, 1], "beta": [2, 0, 0], "gamma": [0, 1, 1]}}
# per pair and turn, "W / T / L" of the first model
PAIR_WTL = {("alpha", "beta"): ("1 / 0 / 0", "0 / 0 / 1"), ("alpha", "gamma"): ("1 / 0 / 0", "0 / 1 / 0"),
            ("beta", "gamma"): ("1 / 0 / 0", "1 / 0 / 0")}
FORMATS = ("html", "latex", "md")


def _said(model: str, turn: int) -> str:
    return f"{model} says at turn {turn}: see the Colosseum"


def _judgment(a: str, b: str, order: str, winner: str, turn: int | None) -> Judgment:
    return Judgment("trip", "q1", a, b, order, winner, "", "judge:test", "generate",  # type: ignore[arg-type]
                    "mtbench_pairwise", "h", f"reply {order} turn {turn}", turn=turn)


def _write_run(run: Path, *, multi_turn: bool) -> Path:
    run.mkdir()
    question = (Question("q1", USER[0], "travel", "ref1", turns=USER[1:], turn_references=("ref2",))
                if multi_turn else Question("q1", USER[0], "travel", "ref1"))
    rundir.write_questions(run, [Task("trip", "en", "travel", "A trip.", (question,))])
    rundir.write_answers(run, [Answer(m, "trip", "q1", _said(m, 1), turns=(_said(m, 2),) if multi_turn else ())
                               for m in MODELS])
    judgments = []
    for turn, winners in WINNERS.items() if multi_turn else [(None, WINNERS[1])]:
        for (a, b), winner in winners.items():
            first = "tie" if winner is None else "model_a" if winner == a else "model_b"
            second = "model_b" if winner is None else first
            judgments += [_judgment(a, b, "ab", first, turn), _judgment(a, b, "ba", second, turn)]
    rundir.write_judgments(run, judgments)
    rate(run, bootstrap=50, elo_rounds=10)
    publish(run, formats=FORMATS)
    return run


@pytest.fixture(scope="module")
def turns_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_run(tmp_path_factory.mktemp("turns") / "run", multi_turn=True)


@pytest.fixture(scope="module")
def single_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_run(tmp_path_factory.mktemp("single") / "run", multi_turn=False)


def _turn_csv(run: Path) -> dict[int, list[dict[str, str]]]:
    with (run / rundir.TURN_LEADERBOARD_CSV).open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {t: [r for r in rows if r["turn"] == str(t)] for t in (1, 2)}


def _expected_rows(run: Path, turn: int) -> list[list[str]]:
    """The turn's leaderboard as every format prints it: leaderboard_by_turn.csv's strings."""
    return [[r["rank"], r["model"], r["bt"], f"[{r['bt_lower']}, {r['bt_upper']}]", r["elo"],
             f"[{r['elo_lower']}, {r['elo_upper']}]", r["wins"], r["ties"], r["losses"],
             f"{100 * float(r['win_rate']):.2f}"] for r in _turn_csv(run)[turn]]


def _check_turn_rows(rows: list[list[str]], turn: int) -> None:
    """Right winner on top, and each model's win / tie / lose of that turn alone."""
    assert rows[0][1] == ("alpha" if turn == 1 else "beta")
    assert {r[1]: [int(x) for x in r[6:9]] for r in rows} == TURN_WTL[turn]


def _md_section(text: str, heading: str) -> list[list[str]]:
    section = text.split(f"{heading}\n")[1].split("\n#")[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]


def _check_pair_rows(rows: list[list[str]]) -> None:
    """Each pair's per-turn cells, read from the first model's side whichever the table puts first."""
    got = {}
    for comparison, *_, turn1, turn2 in rows:
        a, b = comparison.split(" vs. ")
        if (a, b) not in PAIR_WTL:  # the table names the pair the other way round: lose / tie / win
            a, b, turn1, turn2 = b, a, *(" / ".join(c.split(" / ")[::-1]) for c in (turn1, turn2))
        got[(a, b)] = (turn1, turn2)
    assert got == PAIR_WTL


def test_the_csv_holds_the_per_turn_counts(turns_run: Path) -> None:
    for turn in (1, 2):
        _check_turn_rows(_expected_rows(turns_run, turn), turn)


def test_markdown_has_the_per_turn_section(turns_run: Path) -> None:
    for text in ((turns_run / rundir.LEADERBOARD_MD).read_text(encoding="utf-8"),
                 (turns_run / "report" / "report.md").read_text(encoding="utf-8")):
        assert f"## Per turn\n\n{OVERALL_TURNS}\n\n### Leaderboard, turn 1" in text
        for turn in (1, 2):
            rows = _md_section(text, f"### Leaderboard, turn {turn}")
            assert rows == _expected_rows(turns_run, turn)
            _check_turn_rows(rows, turn)
    report = (turns_run / "report" / "report.md").read_text(encoding="utf-8")
    assert "| Comparison | Win | Tie | Lose | Win rate (%) | Turn 1 (W / T / L) | Turn 2 (W / T / L) |" in report
    _check_pair_rows(_md_section(report, "## Win / tie / lose per model pair"))


def test_html_has_the_per_turn_section_and_pair_columns(turns_run: Path) -> None:
    page = (turns_run / "report" / "report.html").read_text(encoding="utf-8")
    assert '<h2 id="turns">Per turn</h2>' in page and html.escape(OVERALL_TURNS) in page
    tables = _html_tables(turns_run)
    for turn in (1, 2):
        rows = tables[f"table-turn{turn}"]
        assert rows == _expected_rows(turns_run, turn)
        _check_turn_rows(rows, turn)
    pairs = page.split('id="table-pairs"')[1].split("</thead>")[0]
    assert '"c">Turn 1 (W / T / L)</th><th class="c">Turn 2 (W / T / L)</th></tr>' in pairs
    _check_pair_rows(tables["table-pairs"])


def _pair_block(page: str, summary: str) -> str:
    blocks = [b.split("</details>")[0] for b in page.split('<details class="pair"')[1:]]
    found = [b for b in blocks if summary in b]
    assert len(found) == 1, summary
    return found[0]


def test_the_pair_browser_shows_both_conversations_up_to_the_judged_turn(turns_run: Path) -> None:
    page = (turns_run / "report" / "report.html").read_text(encoding="utf-8")
    assert page.count('<details class="pair"') == 6  # 3 pairs x 2 turns
    second = _pair_block(page, "trip / q1, turn 2: alpha vs. beta — beta wins")
    for text in (*USER, _said("alpha", 1), _said("alpha", 2), _said("beta", 1), _said("beta", 2)):
        assert html.escape(text) in second
    # each model's conversation apart: alpha's column holds both its answers before beta's starts
    alpha, beta = second.split('<div class="text answer">')[1:3], second.split('<div class="text answer">')[3:5]
    assert [a.startswith(html.escape(_said("alpha", k))) for k, a in zip((1, 2), alpha)] == [True, True]
    assert [b.startswith(html.escape(_said("beta", k))) for k, b in zip((1, 2), beta)] == [True, True]
    assert "User, turn 2" in second and "reply ba turn 2" in second
    first = _pair_block(page, "trip / q1, turn 1: alpha vs. beta — alpha wins")
    assert html.escape(_said("alpha", 1)) in first and html.escape(USER[1]) not in first
    assert html.escape(_said("alpha", 2)) not in first and "reply ab turn 1" in first


def test_latex_has_the_per_turn_section_and_conversations(turns_run: Path) -> None:
    latex = turns_run / "report" / "latex"
    report = (latex / "report.tex").read_text(encoding="utf-8")
    assert "\\section{Per turn}\n\\label{sec:turns}\n" + escape(OVERALL_TURNS) + "\\par\n\\input{turn1}\n\\input{turn2}" in report
    for turn in (1, 2):
        rows = _tex_rows(latex / f"turn{turn}.tex")
        assert rows == [[escape(c) for c in r] for r in _expected_rows(turns_run, turn)]
        _check_turn_rows(rows, turn)
    _check_pair_rows(_tex_rows(latex / "pairs.tex"))
    pair = next(p for p in load_figures(turns_run).judged_pairs
                if (p.turn, p.model_a, p.model_b) == (2, "alpha", "beta"))
    assert pair.conversation == tuple((USER[k - 1], _said("alpha", k), _said("beta", k)) for k in (1, 2))
    cases = render_cases([pair])
    assert r"\subsection*{trip, q1, turn 2: alpha vs.\ beta}" in cases
    for text in (*USER, _said("alpha", 1), _said("alpha", 2), _said("beta", 1), _said("beta", 2)):
        assert escape(text) in cases
    assert r"\textbf{User, turn 2.}" in cases and r"\textbf{beta, turn 1.}" in cases
    assert ", turn " in (latex / "cases.tex").read_text(encoding="utf-8")


def test_report_json_has_turns(turns_run: Path) -> None:
    doc = json.loads((turns_run / "report" / "report.json").read_text(encoding="utf-8"), parse_float=str)
    assert doc["turns"]["note"] == OVERALL_TURNS
    boards = doc["turns"]["leaderboards"]
    assert list(boards) == ["1", "2"]
    for turn in (1, 2):
        expected = _turn_csv(turns_run)[turn]
        assert [r["model"] for r in boards[str(turn)]] == [r["model"] for r in expected]
        assert [str(r["bt"]) for r in boards[str(turn)]] == [r["bt"] for r in expected]
        assert {r["model"]: [r["wins"], r["ties"], r["losses"]] for r in boards[str(turn)]} == TURN_WTL[turn]
    assert {"turn1", "turn2"} <= {t["key"] for t in doc["tables"]}


def test_a_single_turn_run_has_no_per_turn_section(single_run: Path) -> None:
    assert not (single_run / rundir.TURN_LEADERBOARD_CSV).exists()
    report = single_run / "report"
    for path in (single_run / rundir.LEADERBOARD_MD, report / "report.md", report / "report.html",
                 report / "latex" / "report.tex"):
        text = path.read_text(encoding="utf-8")
        assert "Per turn" not in text and "(W / T / L)" not in text and ", turn " not in text, path
    doc = json.loads((report / "report.json").read_text(encoding="utf-8"))
    assert "turns" not in doc
    assert not any(t["key"].startswith("turn") for t in doc["tables"])
    pairs = next(t for t in doc["tables"] if t["key"] == "pairs")
    assert pairs["columns"] == ["Comparison", "Win", "Tie", "Lose", "Win rate (%)"]
    assert not list((report / "latex").glob("turn*.tex"))


def test_a_missing_per_turn_leaderboard_is_an_error(tmp_path: Path, turns_run: Path) -> None:
    run = tmp_path / "copy"
    shutil.copytree(turns_run, run)
    (run / rundir.TURN_LEADERBOARD_CSV).unlink()
    with pytest.raises(HarnessError, match="leaderboard_by_turn.csv: no such file"):
        load_figures(run)
