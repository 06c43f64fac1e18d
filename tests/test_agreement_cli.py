"""``harness agreement`` and the agreement section of every report format, on a judged run (real
``harness judge`` over a scripted HTTP judge, both orders) with three annotators' labels, and on the
same run judged once per pair (order ``once``). The figures are recomputed here from the raw files
with scikit-learn as the oracle."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from judged_run import make_run, need
from sklearn.metrics import cohen_kappa_score, f1_score

from harness.app import pipeline
from harness.app.cli import main
from harness.core import files, rundir

FLIP = {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}
WINNERS = ("model_a", "model_b", "tie")


def _comparisons(run: Path) -> dict[tuple[str, str, str, str], dict[str, str]]:
    """(task, question, model_a, model_b) -> {order: winner}, straight from judgments.jsonl."""
    out: dict[tuple[str, str, str, str], dict[str, str]] = {}
    for row in files.read_jsonl(run / rundir.JUDGMENTS, lambda r: r):
        out.setdefault((row["task"], row["question_id"], row["model_a"], row["model_b"]), {})[row["order"]] = \
            row["winner"]
    return out


def _label(key: tuple[str, str, str, str], annotator: int) -> str:
    # Deterministic, varied labels: each annotator mostly gives the comparison's "true" label.
    def digest(text: str) -> int:
        return hashlib.sha256(text.encode("utf-8")).digest()[0]

    true = digest("/".join(key)) % 3
    return WINNERS[(true + (digest(f"{key}{annotator}") % 4 == 0)) % 3]


def _import_labels(run: Path, tmp_path: Path) -> dict[str, dict[tuple[str, str, str, str], str]]:
    """Three annotators on every comparison (ann3 writes one of them the other way round)."""
    comparisons = sorted(_comparisons(run))
    given: dict[str, dict[tuple[str, str, str, str], str]] = {}
    lines = ["task,question_id,model_a,model_b,winner,annotator"]
    for i, name in enumerate(("ann1", "ann2", "ann3")):
        for n, key in enumerate(comparisons):
            task, qid, a, b = key
            winner = _label(key, i)
            given.setdefault(name, {})[key] = winner
            if name == "ann3" and n == 0:
                a, b, winner = b, a, FLIP[winner]
            lines.append(f"{task},{qid},{a},{b},{winner},{name}")
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["human", "import", str(labels), "--run", str(run)]) == 0
    return given


def _majority(votes: list[str]) -> str:
    top = Counter(votes).most_common()
    return "tie" if len(top) > 1 and top[0][1] == top[1][1] else top[0][0]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("agreement")
    run = make_run(tmp)
    return run, _import_labels(run, tmp)


def _agreement_json(run: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["agreement", "--run", str(run), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_figures_match_an_independent_computation(labelled: tuple[Path, dict[str, Any]],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    run, given = labelled
    doc = _agreement_json(run, capsys)
    comparisons = _comparisons(run)
    targets = {**given, "majority": {k: _majority([given[a][k] for a in given]) for k in comparisons}}
    assert [r["annotator"] for r in doc["judges"]] == ["ann1", "ann2", "ann3", "majority"]
    for row in doc["judges"]:
        labels = targets[row["annotator"]]
        valid = {k: v for k, v in comparisons.items() if "error" not in v.values()}
        combined = {k: v["ab"] if v["ab"] == v["ba"] else "tie" for k, v in valid.items()}
        people, judge = [labels[k] for k in combined], list(combined.values())
        assert row["n"] == len(combined) and row["errors"] == len(comparisons) - len(valid)
        assert row["agreement"] == pytest.approx(sum(x == y for x, y in zip(people, judge)) / len(judge), abs=1e-9)
        assert row["kappa"] == pytest.approx(cohen_kappa_score(people, judge), abs=1e-9)
        assert row["macro_f1"] == pytest.approx(f1_score(people, judge, average="macro"), abs=1e-9)
        ab = [valid[k]["ab"] for k in combined]
        ba = [valid[k]["ba"] for k in combined]
        assert row["accuracy_ab"] == pytest.approx(sum(x == y for x, y in zip(ab, people)) / len(ab), abs=1e-9)
        assert row["accuracy_ba"] == pytest.approx(sum(x == y for x, y in zip(ba, people)) / len(ba), abs=1e-9)
        assert row["positional_agreement"] == pytest.approx(sum(x == y for x, y in zip(ab, ba)) / len(ab),
                                                            abs=1e-9)
    for pair in doc["annotators"]:
        x, y = ([given[n][k] for k in comparisons] for n in (pair["a"], pair["b"]))
        assert pair["n"] == len(comparisons)
        assert pair["kappa"] == pytest.approx(cohen_kappa_score(x, y), abs=1e-9)
    assert isinstance(doc["fleiss_kappa"], float)


def test_table_and_csv(labelled: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    run, _ = labelled
    doc = _agreement_json(run, capsys)
    assert main(["agreement", "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Agreement with the human labels" in out and "Agreement between annotators" in out
    majority = doc["judges"][-1]
    assert f"{majority['agreement']:.1%}" in out and "majority vote" in out and "Fleiss' kappa" in out
    assert main(["agreement", "--run", str(run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["kind"] for r in rows] == ["judge"] * 4 + ["annotators"] * 3 + ["fleiss"]
    assert float(rows[3]["kappa"]) == majority["kappa"] and rows[3]["annotator"] == "majority"


def test_every_report_format_shows_the_section(labelled: tuple[Path, dict[str, Any]],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    run, _ = labelled
    doc = _agreement_json(run, capsys)
    assert main(["report", str(run)]) == 0
    report = run / "report"
    html = (report / "report.html").read_text(encoding="utf-8")
    assert 'id="table-human"' in html and 'id="table-human_annotators"' in html
    assert "Agreement with the human labels" in (report / "report.md").read_text(encoding="utf-8")
    latex = report / "latex"
    assert r"\input{human}" in (latex / "report.tex").read_text(encoding="utf-8")
    assert "Fleiss" in (latex / "human_annotators.tex").read_text(encoding="utf-8")
    data = json.loads((report / "report.json").read_text(encoding="utf-8"))
    assert data["agreement"] == doc  # full precision, the command's figures
    assert {"human", "human_annotators"} <= {t["key"] for t in data["tables"]}
    human = next(t for t in data["tables"] if t["key"] == "human")
    last = doc["judges"][-1]
    assert human["rows"][-1][3] == (f"{last['agreement']:.1%} [{last['agreement_lower']:.1%}, "  # one decimal
                                    f"{last['agreement_upper']:.1%}]")


def test_the_latex_section_compiles(labelled: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    run, _ = labelled
    out = tmp_path / "latex_report"
    assert main(["report", str(run), "--format", "latex", "--out", str(out)]) == 0
    pdflatex = need("pdflatex", "texlive-latex-recommended")
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
                          cwd=out / "latex", capture_output=True, text=True, errors="replace", timeout=300)
    assert done.returncode == 0, [line for line in done.stdout.splitlines() if line.startswith("!")]


def test_a_single_order_run(labelled: tuple[Path, dict[str, Any]], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    source, _ = labelled
    run = tmp_path / "once"
    shutil.copytree(source, run, ignore=shutil.ignore_patterns("report", "cache.sqlite", "run.lock"))
    rows = [{**r, "order": "once"} for r in files.read_jsonl(run / rundir.JUDGMENTS, lambda r: r)
            if r["order"] == "ab"]
    files.write_jsonl(run / rundir.JUDGMENTS, rows)
    pipeline.rate(run)
    doc = _agreement_json(run, capsys)
    for row in doc["judges"]:
        assert row["n"] + row["errors"] == len(rows)
        for key in ("accuracy_ab", "accuracy_ba", "accuracy_average", "both_correct", "positional_agreement"):
            assert row[key] is None, key
        assert isinstance(row["kappa"], float)
    assert main(["report", str(run)]) == 0
    report = run / "report"
    assert 'id="table-human"' in (report / "report.html").read_text(encoding="utf-8")
    assert "Agreement with the human labels" in (report / "report.md").read_text(encoding="utf-8")
    assert "n/a" in (report / "latex" / "human.tex").read_text(encoding="utf-8")
    assert json.loads((report / "report.json").read_text(encoding="utf-8"))["agreement"] == doc


def test_mistakes_are_one_line(tmp_path: Path, labelled: tuple[Path, dict[str, Any]],
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agreement", "--run", str(tmp_path / "nowhere")]) == 2
    assert "harness: error:" in capsys.readouterr().err
    run = tmp_path / "unlabelled"
    shutil.copytree(labelled[0], run, ignore=shutil.ignore_patterns("human.jsonl", "run.lock"))
    assert main(["agreement", "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no human labels" in err and "harness human import" in err
