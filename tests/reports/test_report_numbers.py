"""Every number in every format comes from the run's files: leaderboard.csv exactly, and the
per-pair and per-task counts from battles.jsonl (recomputed here independently)."""

from __future__ import annotations

import csv
import html as html_lib
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
from judged_run import judge, judge_reply, judge_spec, write_answers
from report_tables import html_tables as _html_tables
from report_tables import tex_rows as _tex_rows
from scripted_server import ScriptedServer

from harness.app.cli import main
from harness.core import files, rundir
from harness.reports.latex import escape


def _csv(run: Path) -> list[dict[str, str]]:
    with (run / rundir.LEADERBOARD_CSV).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _pct(share: float) -> str:
    return f"{100 * share:.2f}"


def _expected_leaderboard(run: Path) -> list[list[str]]:
    return [[r["rank"], r["model"], r["bt"], f"[{r['bt_lower']}, {r['bt_upper']}]", r["elo"],
             f"[{r['elo_lower']}, {r['elo_upper']}]", r["wins"], r["ties"], r["losses"],
             _pct(float(r["win_rate"]))] for r in _csv(run)]


def _battle_counts(run: Path) -> dict[tuple[str, str, str], list[int]]:
    """(task, model, opponent) -> [wins, ties, losses], straight from battles.jsonl."""
    out: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in (run / rundir.BATTLES).read_text(encoding="utf-8").splitlines():
        b = json.loads(line)
        for me, other, mine in ((b["model_a"], b["model_b"], "model_a"), (b["model_b"], b["model_a"], "model_b")):
            slot = 1 if b["winner"].startswith("tie") else 0 if b["winner"] == mine else 2
            out[(b["task"], me, other)][slot] += 1
    return out


def _md_rows(text: str, title: str) -> list[list[str]]:
    # the table under the heading: up to the next heading (a section's second table has its own)
    section = re.split(r"\n#{2,3} ", text.split(f"## {title}")[1])[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]


def test_the_leaderboard_in_every_format_is_leaderboard_csv(en_run: Path) -> None:
    expected = _expected_leaderboard(en_run)
    assert len(expected) == 3
    assert _html_tables(en_run)["table-leaderboard"] == expected
    md = (en_run / "report" / "report.md").read_text(encoding="utf-8")
    assert _md_rows(md, "Leaderboard") == expected
    # leaderboard.md (printed by harness run / judge) shows the same rows in the same format.
    summary = (en_run / rundir.LEADERBOARD_MD).read_text(encoding="utf-8")
    assert _md_rows(summary, "Leaderboard") == expected
    tex = [[escape(c) for c in row] for row in expected]
    assert _tex_rows(en_run / "report" / "latex" / "leaderboard.tex") == tex


def test_win_tie_lose_per_pair_matches_the_battles_and_sums_to_the_leaderboard(en_run: Path) -> None:
    counts = _battle_counts(en_run)
    rows = _html_tables(en_run)["table-pairs"]
    assert len(rows) == 3  # three models: each pair once
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for comparison, w, t, lose, rate in rows:
        a, b = comparison.split(" vs. ")
        got = [int(w), int(t), int(lose)]
        assert got == [sum(counts[(task, a, b)][k] for task in ("en_law", "en_medical")) for k in range(3)]
        assert rate == _pct((got[0] + got[1] / 2) / sum(got))
        for model, wtl in ((a, got), (b, got[::-1])):
            totals[model] = [x + y for x, y in zip(totals[model], wtl)]
    assert {r["model"]: [int(r["wins"]), int(r["ties"]), int(r["losses"])] for r in _csv(en_run)} == totals


def test_per_task_table_has_tasks_as_columns_best_in_bold_and_overall_from_the_csv(en_run: Path) -> None:
    counts = _battle_counts(en_run)
    lines = (en_run / "report" / "latex" / "tasks.tex").read_text(encoding="utf-8")
    assert r"Model & en\_law & en\_medical & Overall \\" in lines
    rows = _tex_rows(en_run / "report" / "latex" / "tasks.tex")
    csv_rows = _csv(en_run)
    for (model_tex, *cells), r in zip(rows, csv_rows):
        assert model_tex == escape(r["model"])
        for task, cell in zip(("en_law", "en_medical"), cells):
            wtl = [sum(v[k] for (t, m, _), v in counts.items() if t == task and m == r["model"]) for k in range(3)]
            assert cell.removeprefix(r"\textbf{").removesuffix("}") == _pct((wtl[0] + wtl[1] / 2) / sum(wtl))
        assert cells[-1].removeprefix(r"\textbf{").removesuffix("}") == _pct(float(r["win_rate"]))
    for col in range(1, 4):  # exactly the best value(s) of each column are bold
        values = [float(re.sub(r"[^\d.]", "", row[col])) for row in rows]
        assert [row[col].startswith(r"\textbf{") for row in rows] == [v == max(values) for v in values]


def test_bias_and_fine_tune_tables_come_from_the_run(en_run: Path) -> None:
    tables = _html_tables(en_run)
    bias = {(row[0], row[1]): row for row in tables["table-bias"]}
    judge = next(iter(bias))[0]
    consistency = bias[(judge, "position: swap consistency")]
    judgments = [json.loads(x) for x in (en_run / rundir.JUDGMENTS).read_text(encoding="utf-8").splitlines()]
    pairs: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for j in judgments:
        pairs[(j["task"], j["question_id"], j["model_a"], j["model_b"])].add(j["winner"])
    same = sum(len(w) == 1 for w in pairs.values())
    assert consistency[2] == f"{same / len(pairs):.0%}" and consistency[4] == str(len(pairs))
    (finetune,) = tables["table-finetune"]
    assert finetune[:3] == ["ft_v2&co", "embedded", "yes"] and finetune[3] == "8 / 16 / 0.05"
    assert finetune[-1] == "2.5 / 2"


@pytest.mark.parametrize(("argv", "message"), [
    (["report", "{missing}"], "no such run directory"),
    (["report", "{run}", "--format", "html,pdf"], "unknown report format 'pdf' (known: html, latex, md)"),
    (["report", "{run}", "--format", "html", "--pdf"], "--pdf compiles the LaTeX report"),
    (["report", "{empty}"], "leaderboard.csv: no such file (judge the run first"),
    (["report", "{bad}"], "leaderboard.csv:3: field 'bt': not a number: 'high'"),
])
def test_bad_input_is_one_line_and_exit_2(en_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          argv: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in (rundir.ANSWERS, rundir.BATTLES, rundir.JUDGMENTS):
        (bad / name).write_bytes((en_run / name).read_bytes())
    rows = (en_run / rundir.LEADERBOARD_CSV).read_text(encoding="utf-8").splitlines()
    rows[2] = re.sub(r"^([^,]*,[^,]*,)[^,]*", r"\1high", rows[2])
    (bad / rundir.LEADERBOARD_CSV).write_text("\n".join(rows) + "\n", encoding="utf-8")
    paths = {"missing": tmp_path / "nope", "run": en_run, "empty": tmp_path / "empty", "bad": bad}
    assert main([a.format(**{k: str(v) for k, v in paths.items()}) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_report_to_another_folder_with_one_format(en_run: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(en_run), "--format", "md", "--out", str(tmp_path / "out")]) == 0
    # report.json (every table as data) comes with any format.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json", "report.md"]
    assert capsys.readouterr().out.splitlines() == [f"wrote {tmp_path / 'out' / 'report.md'}",
                                                    f"wrote {tmp_path / 'out' / 'report.json'}"]


def test_probe_figures_from_harness_bias_reach_the_html_report(tmp_path: Path) -> None:
    run = write_answers(tmp_path)
    with ScriptedServer(judge_reply) as server:
        judge(run, server)
        assert main(["bias", "--run", str(run), "--judge", judge_spec(server), "--prompt", "mtbench_pairwise",
                     "--judge-method", "generate", "--no-progress", "--probes", "rich_content"]) == 0
    assert main(["report", str(run), "--format", "html"]) == 0
    with (run / rundir.BIAS_CSV).open(encoding="utf-8") as f:
        probe = next(r for r in csv.DictReader(f) if r["check"].startswith("probe:"))
    row = next(r for r in _html_tables(run)["table-bias"] if r[1] == probe["check"])
    assert row[2] == f"{float(probe['value']):.0%}" and row[4] == probe["n"]


def test_unparseable_verdicts_are_counted_in_the_report_not_turned_into_ties(tmp_path: Path) -> None:
    run = write_answers(tmp_path)
    with ScriptedServer(lambda body: "I cannot decide.") as server:
        judge(run, server)
    (row,) = _html_tables(run)["table-judges"]
    assert row[1:4] == ["36", "36", "0"]  # 18 pairs x 2 orders, all errors, no pair usable
    assert _html_tables(run)["table-pairs"] == []  # no battle at all: nothing became a tie
    html = (run / "report" / "report.html").read_text(encoding="utf-8")
    assert html.count("not counted (a verdict is missing)") == 18


def test_single_answer_grades_get_their_own_table(tmp_path: Path) -> None:
    run = write_answers(tmp_path)
    def grade(body: dict[str, object]) -> str:
        return "Rating: [[8]]" if "ft_v2" in str(body["messages"]) else "Rating: [[5]]"

    with ScriptedServer(grade) as s:
        assert main(["judge", str(run), "--judge", judge_spec(s), "--prompt", "single_1to10",
                     "--judge-method", "generate", "--no-progress"]) == 0
    grades = [json.loads(x) for x in (run / rundir.GRADES).read_text(encoding="utf-8").splitlines()]
    rows = {r[0]: r for r in _html_tables(run)["table-grades"]}
    for model in ("base", "ft_v2&co", "chatgpt"):
        scores = [g["score"] for g in grades if g["model"] == model]
        assert rows[model][1] == f"{sum(scores) / len(scores):.2f}" and rows[model][3] == str(len(scores))
    assert rows["ft_v2&co"][1] == "8.00"


def test_an_unchanged_run_keeps_its_report_and_a_changed_one_is_rebuilt(tmp_path: Path) -> None:
    run = write_answers(tmp_path)
    with ScriptedServer(judge_reply) as server:
        judge(run, server)
    files.write_jsonl(run / rundir.QUESTIONS, [])  # as harness generate writes it (no text here)
    assert main(["report", str(run)]) == 0
    html = run / "report" / "report.html"
    built = html.stat().st_mtime_ns
    assert main(["report", str(run)]) == 0
    assert html.stat().st_mtime_ns == built  # nothing read changed: nothing rebuilt
    labels = tmp_path / "labels.csv"
    labels.write_text("task,question_id,model_a,model_b,winner\nen_law,q01,base,chatgpt,model_a\n",
                      encoding="utf-8")
    assert main(["human", "import", str(labels), "--run", str(run)]) == 0
    assert main(["report", str(run)]) == 0
    assert html.stat().st_mtime_ns != built and "table-human" in html.read_text(encoding="utf-8")


def test_a_malformed_bias_csv_is_one_line_naming_it(en_run: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for name in (rundir.ANSWERS, rundir.BATTLES, rundir.JUDGMENTS, rundir.LEADERBOARD_CSV):
        (run / name).write_bytes((en_run / name).read_bytes())
    (run / rundir.BIAS_CSV).write_text("judge,check,value,lower,upper,n,note\nj,probe: x,high,0,1,3,\n",
                                        encoding="utf-8")
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"harness: error: {run / rundir.BIAS_CSV}:2: could not convert string to float: 'high'"]


def test_each_judged_pair_shows_the_outcome_battles_jsonl_counts(en_run: Path) -> None:
    html = (en_run / "report" / "report.html").read_text(encoding="utf-8")
    shown = {tuple(m[:4]): m[4] for m in re.findall(
        r"<summary>(\S+) / (\S+): (.+?) vs\. (.+?) — (.+?)</summary>", html_lib.unescape(html))}
    expected = {}
    for line in (en_run / rundir.BATTLES).read_text(encoding="utf-8").splitlines():
        b = json.loads(line)
        a, o = b["model_a"], b["model_b"]
        expected[(b["task"], b["question_id"], a, o)] = {"model_a": f"{a} wins", "model_b": f"{o} wins"}.get(
            b["winner"], "tie")
    assert len(shown) == 18 and shown == expected


def test_report_json_holds_leaderboard_csv_digit_for_digit(en_run: Path) -> None:
    text = (en_run / "report" / "report.json").read_text(encoding="utf-8")
    exact = json.loads(text, parse_float=str, parse_int=str)
    assert exact["leaderboard"] == _csv(en_run)  # every field spelled as the CSV spells it
    typed = json.loads(text)
    assert all(isinstance(r["bt"], float) and isinstance(r["wins"], int) for r in typed["leaderboard"])
    tables = {t["key"]: t for t in typed["tables"]}
    assert {"leaderboard", "pairs", "tasks", "judges", "significance", "usage", "finetune"} <= set(tables)
    assert tables["leaderboard"]["rows"] == _expected_leaderboard(en_run)
    # Bold cells are listed, and each is the best of its column.
    for i, j in tables["tasks"]["bold"]:
        column = [float(row[j]) for row in tables["tasks"]["rows"] if row[j] != "n/a"]
        assert float(tables["tasks"]["rows"][i][j]) == max(column)


def test_pair_numbers_agree_between_leaderboard_md_and_report_md(en_run: Path) -> None:
    summary = (en_run / rundir.LEADERBOARD_MD).read_text(encoding="utf-8")
    report = (en_run / "report" / "report.md").read_text(encoding="utf-8")
    pairs = {row[0]: row[1:] for row in _md_rows(report, "Win / tie / lose per model pair")}
    tests = _md_rows(summary, "Sign tests per model pair")
    assert tests and len(pairs) == len(tests) // 2
    for model, opponent, win, tie, lose, rate, *_ in tests:
        key = f"{model} vs. {opponent}"
        if key in pairs:  # the report lists each pair once, the better-ranked model first
            assert pairs[key] == [win, tie, lose, rate.split(" [")[0]]
    # One warning wording, printed once, and no second threshold.
    assert summary.count("> **Warning:**") == len(json.loads(
        (en_run / "report" / "report.json").read_text(encoding="utf-8"))["warnings"])


def test_bias_figures_are_computed_once_per_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.stats import bias as bias_stats

    counted: list[str] = []
    real = bias_stats.summarise

    def counting(*args: object, **kwargs: object) -> object:
        counted.append("summarise")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bias_stats, "summarise", counting)
    run = write_answers(tmp_path)
    with ScriptedServer(judge_reply) as server:
        judge(run, server)  # leaderboard.md and every report format
    assert counted == ["summarise"]
    assert main(["report", str(run), "--format", "md", "--out", str(tmp_path / "again")]) == 0
    assert counted == ["summarise"] * 2


def test_bias_notes_beside_the_rows_in_markdown_and_json_not_in_latex(en_run: Path) -> None:
    summary = (en_run / rundir.LEADERBOARD_MD).read_text(encoding="utf-8")
    header = next(line for line in summary.splitlines() if line.startswith("| Judge | Check |"))
    assert header.endswith("| n | What it means |")
    bias = next(t for t in json.loads((en_run / "report" / "report.json").read_text(encoding="utf-8"))["tables"]
                if t["key"] == "bias")
    assert len(bias["notes"]) == len(bias["rows"]) and all(bias["notes"])
    tex = (en_run / "report" / "latex" / "bias.tex").read_text(encoding="utf-8")
    assert "What it means" not in tex and r"\begin{tabular}{llrcr}" in tex
