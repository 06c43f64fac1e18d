"""Issue 15, hostile input reaching the output: CSV formula injection, Markdown/HTML in Markdown
tables, control characters on the terminal, and ``harness rate`` options that crashed or printed
invalid JSON."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.app.cli import main
from harness.core import files, rundir
from harness.core.text import csv_cell, csv_value, md_cell, terminal_text
from harness.models.cache import CallCache

FORMULAS = ('=HYPERLINK("http://x","click")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3+cmd|' /C calc'!A0")
MARKUP = ("<img src=x onerror=alert(1)>", "<svg onload=alert(2)>", "a|b", "a\\|b", "line1\nline2",
          "bell\x07\r", "\x1b[31mred", "R&D &lt;b&gt;")
HOSTILE = (*FORMULAS, *MARKUP)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _pipes(line: str) -> int:
    """Column separators of a Markdown table row: pipes not escaped by a backslash."""
    return len(re.findall(r"(?<!\\)(?:\\\\)*\|", line))


def _check_markdown(text: str) -> None:
    assert "<img" not in text and "<svg" not in text
    assert not CONTROL.search(text), repr(CONTROL.search(text))
    lines = text.split("\n")
    for i, line in enumerate(lines):
        # A table starts with a header row followed by its |---| line; every row keeps the columns.
        if line.startswith("|---"):
            columns = _pipes(lines[i - 1])
            for row in lines[i + 1:]:
                if not row.startswith("|"):
                    break
                assert _pipes(row) == columns, row


# --- the sanitising functions ------------------------------------------------------------------

@pytest.mark.parametrize("value", [*FORMULAS, "'quoted", "\tx", "\rx", "-x"])
def test_csv_cell_neutralises_text_that_a_spreadsheet_would_run(value: str) -> None:
    assert csv_cell(value) == "'" + value
    assert csv_value(csv_cell(value)) == value


@pytest.mark.parametrize("value", ["-12.5", "+3", "-1e-05", "0.5000", "", "plain", "a,b", -12.5, 3, None])
def test_csv_cell_keeps_numbers_and_plain_text(value: object) -> None:
    assert csv_cell(value) == ("" if value is None else str(value))


@given(st.text())
def test_csv_cell_round_trips(value: str) -> None:
    assert csv_value(csv_cell(value)) == value


@given(st.text())
def test_md_cell_is_one_cell_without_markup(value: str) -> None:
    cell = md_cell(value)
    assert "\n" not in cell and "\r" not in cell and "<" not in cell and ">" not in cell
    assert not CONTROL.search(cell) and "\t" not in cell
    assert _pipes(f"| {cell} |") == 2


@given(st.text())
def test_terminal_text_has_no_control_characters(value: str) -> None:
    assert not CONTROL.search(terminal_text(value))
    one_line = terminal_text(value, keep_newlines=False)
    assert not CONTROL.search(one_line) and "\n" not in one_line and "\t" not in one_line


# --- harness rate -----------------------------------------------------------------------------

@pytest.fixture
def hostile_battles(tmp_path: Path) -> Path:
    names = [*HOSTILE, "a,b", 'say "hi"', "plain"]
    rows = [{"model_a": a, "model_b": b, "winner": ("model_a", "model_b", "tie")[(i + j) % 3]}
            for i, a in enumerate(names) for j, b in enumerate(names) if a != b]
    path = tmp_path / "battles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_rate_csv_is_quoted_and_neutralised(hostile_battles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A negative anchor makes ratings negative: numbers must stay numbers.
    assert main(["rate", str(hostile_battles), "--format", "csv", "--bootstrap", "5",
                 "--anchor", "plain=-100"]) == 0
    out = capsys.readouterr().out
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[0] == ["rank", "model", "rating", "lower", "upper"]
    assert all(len(r) == 5 for r in rows)
    models = {r[1] for r in rows[1:]}
    assert models == {csv_cell(m) for m in [*HOSTILE, "a,b", 'say "hi"', "plain"]}
    assert "'" + FORMULAS[0] in models and "a,b" in models and 'say "hi"' in models
    plain = next(r for r in rows if r[1] == "plain")
    assert plain[2] == "-100.0"
    numbers = [x for r in rows[1:] for x in r[2:]]
    assert all(re.fullmatch(r"-?\d+\.\d+", x) for x in numbers) and sum(x.startswith("-") for x in numbers) > 3


def test_rate_table_prints_no_control_characters(hostile_battles: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rate", str(hostile_battles), "--bootstrap", "5"]) == 0
    out = capsys.readouterr().out
    assert not CONTROL.search(out), repr(CONTROL.search(out))
    ratings, pairs = out.rstrip("\n").split("\n\n")
    n = len(HOSTILE) + 3
    assert len(ratings.split("\n")) == 1 + n and len(pairs.split("\n")) == 1 + n * (n - 1)


def test_rate_json_keeps_names_exact(hostile_battles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rate", str(hostile_battles), "--format", "json", "--bootstrap", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["model"] for r in out["ratings"]} >= set(HOSTILE)


def _strict_json(text: str) -> object:
    def refuse(name: str) -> object:
        raise AssertionError(f"invalid JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def battles(tmp_path: Path) -> Path:
    rows = [{"model_a": "x", "model_b": "y", "winner": w} for w in ("model_a", "model_a", "model_b", "tie")]
    rows += [{"model_a": "y", "model_b": "z", "winner": w} for w in ("model_a", "model_b", "tie")]
    path = tmp_path / "battles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--seed", "-1"], "--seed: -1 is out of range; seed must be in [0, 4294967295]"),
        (["--base", "0"], "--base: 0.0 is out of range; base must be above 1"),
        (["--base", "-10"], "--base: -10.0 is out of range; base must be above 1"),
        (["--base", "1"], "--base: 1.0 is out of range; base must be above 1"),
        (["--base", "inf"], "--base: inf is not a finite number"),
        (["--method", "elo", "--scale", "0"], "--scale: 0.0 is out of range; scale must be above 0"),
        (["--scale", "nan"], "--scale: nan is not a finite number"),
        (["--scale", "-400"], "--scale: -400.0 is out of range; scale must be above 0"),
        (["--k", "0"], "--k: 0.0 is out of range; k must be above 0"),
        (["--k", "nan"], "--k: nan is not a finite number"),
        (["--method", "elo", "--k", "1e308"], "--method elo: the ratings overflow (not finite numbers) with --k 1e+308 --base 10.0"),
        (["--initial", "inf"], "--initial: inf is not a finite number"),
        (["--initial", "nan"], "--initial: nan is not a finite number"),
        (["--anchor", "x=nan"], "--anchor 'x=nan': nan is not a finite number"),
        (["--anchor", "x=-inf"], "--anchor 'x=-inf': -inf is not a finite number"),
        (["--bootstrap", "-1"], "--bootstrap must be 0 or more, got -1"),
        (["--scale", "1e308", "--base", "1.0000001"], "--method bt: the ratings overflow (not finite numbers) with --base 1.0000001 --scale 1e+308 --initial 1000.0"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "table"])
def test_rate_bad_numbers_are_one_line(battles: Path, options: list[str], message: str, fmt: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rate", str(battles), "--bootstrap", "5", *options, "--format", fmt]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("harness: error: ")
    assert message in captured.err, captured.err


@pytest.mark.parametrize("options", [
    ["--method", "elo", "--k", "32", "--scale", "173.7", "--base", "2.718281828"],
    ["--anchor", "x=-1e6", "--initial", "-5"],
    ["--method", "elo", "--bootstrap", "0", "--seed", "4294967295"],
    ["--base", "1.0001", "--scale", "1"],
    # Any rating gap is then infinitely many scale units: each expected score is its limit, 0 or 1
    # (0.5 at equal ratings), and the ratings stay finite (the Elo steps overflow to that limit).
    ["--method", "elo", "--k", "1000", "--scale", "1e-300"],
])
def test_rate_json_is_strict_json(battles: Path, options: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rate", str(battles), "--bootstrap", "5", "--format", "json", *options]) == 0
    out = _strict_json(capsys.readouterr().out)
    assert isinstance(out, dict) and len(out["ratings"]) == 3


# --- a judged run: leaderboard.csv, usage.csv, leaderboard.md, report.md, the terminal -----------

@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``harness judge`` with the offline reference judge on answers from hostile model names, with
    generation calls of those models already in the call cache (so usage.csv names them)."""
    run = tmp_path_factory.mktemp("hostile") / "run"
    run.mkdir()
    rows = [{"model": m, "task": "en_law", "question_id": q, "spec": "embedded",
             "answer": "Consideration is the value each party gives in a contract. " * (1 + i % 3)
             + f"({q}, {i})"}
            for i, m in enumerate(HOSTILE) for q in ("q01", "q02")]
    files.write_jsonl(run / rundir.ANSWERS, rows)
    with CallCache(run / rundir.CACHE) as cache:
        for m in HOSTILE:
            cache.put("generate", {"model": m}, "answer", name=m, spec="embedded")
    out = io.StringIO()  # capsys is function-scoped; this fixture is the module's
    with contextlib.redirect_stdout(out):
        assert main(["judge", str(run), "--no-progress", "--report", "md"]) == 0
    return run, out.getvalue()


def test_leaderboard_and_usage_csv_are_neutralised(hostile_run: tuple[Path, str]) -> None:
    run, _ = hostile_run
    for name, column in ((rundir.LEADERBOARD_CSV, "model"), (rundir.USAGE_CSV, "name")):
        with (run / name).open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        got = [r[column] for r in rows if r.get("stage", "generate") == "generate"]
        assert sorted(got) == sorted(csv_cell(m) for m in HOSTILE), name
        assert "'" + FORMULAS[0] in got and "'" + FORMULAS[1] in got
        assert not [c for r in rows for c in r.values() if c and c[0] in "=+@" and c != "'"]
    # Numeric columns stay plain numbers (no quote in front of a minus sign).
    with (run / rundir.LEADERBOARD_CSV).open(encoding="utf-8", newline="") as f:
        numbers = [r[k] for r in csv.DictReader(f) for k in ("bt", "bt_lower", "elo_lower")]
    assert all(re.fullmatch(r"-?\d+\.\d", x) for x in numbers)


def test_csv_files_read_back_to_the_real_names(hostile_run: tuple[Path, str], tmp_path: Path) -> None:
    run, _ = hostile_run
    assert sorted(r["model"] for r in rundir.read_leaderboard(run)) == sorted(HOSTILE)
    assert sorted(u.name for u in rundir.read_usage(run) if u.stage == "generate") == sorted(HOSTILE)
    # harness report re-reads leaderboard.csv and looks the names up in battles.jsonl: every pair
    # of models still has its row.
    assert main(["report", str(run), "--format", "md", "--out", str(tmp_path / "again")]) == 0
    md = (tmp_path / "again" / "report.md").read_text(encoding="utf-8")
    # the pairs table: up to the next heading (its section's sign tests have their own)
    pairs = re.split(r"\n#{2,3} ", md.split("## Win / tie / lose per model pair")[1])[0]
    n = len(HOSTILE)
    assert len([line for line in pairs.splitlines() if line.startswith("| ")]) == 1 + n * (n - 1) // 2


def test_markdown_files_and_terminal_are_escaped(hostile_run: tuple[Path, str]) -> None:
    run, printed = hostile_run
    summary = (run / rundir.LEADERBOARD_MD).read_text(encoding="utf-8")
    report = (run / "report" / "report.md").read_text(encoding="utf-8")
    for text in (summary, report, printed):
        _check_markdown(text)
    assert "&lt;img src=x onerror=alert(1)&gt;" in report and "a\\|b" in report and "line1 line2" in report
    assert "R&D &amp;lt;b&amp;gt;" in report  # a bare & stays readable; an entity is shown as typed
    assert "Usage" in summary and "&lt;svg onload=alert(2)&gt;" in summary
