"""Issue 32, part 5: why the fine-tune lost.

A run of three models (one a fine-tune, ``embedded+lora:DIR`` with the manifest ``harness finetune``
writes, pointing at a small training JSONL) judged by ``harness judge`` through a scripted judge on
127.0.0.1 that prefers whichever answer is not marked weak, in both orders. The report must list
exactly the questions a model lost in both orders (counted here from ``judgments.jsonl`` on its
own), give each of the fine-tune's lost questions the three training records built to be nearest
it, show both tables in every format with the run's hostile text escaped, cut long texts in
Markdown and LaTeX only, and say in one line when the training file is missing.
"""

from __future__ import annotations

import html
import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from judged_run import SPECIALS, XSS, need
from report_tables import html_tables, tex_rows
from scripted_server import ScriptedServer

from harness.analysis.figures import load_figures
from harness.analysis.files import Finetune
from harness.analysis.losses import losses, read_training
from harness.app.cli import main
from harness.core import files, rundir
from harness.core.types import Question, Task
from harness.finetune.data import load_examples
from harness.finetune.train import data_hash
from harness.reports.build import compile_pdf, write_report
from harness.reports.latex import escape
from harness.reports.tables import LOSS_CUTS
from harness.stats.dedup import NearDuplicateIndex, naive_nearest, rouge_l, rouge_tokens

FT = "ft_v2&co"
MODELS = ("base", FT, "chatgpt")
QUESTIONS = {
    "q1": "What is consideration in contract law?",
    "q2": "How do you treat a mild fever at home?",
    "q3": "Summarise the doctrine of estoppel.",
    "q4": "What does a notary public do?",
    "q5": "Define negligence.",
    "q6": "Describe photosynthesis briefly.",
}
WEAK = {"q1": FT, "q2": FT, "q6": FT, "q4": "base"}
"""Whose answer the judge calls worse, in both orders (so it loses to both others)."""
FLIP = "q3"
"""The fine-tune's answer here sways the judge to the first slot: a flip, so a tie, never a loss."""
LONG = "Photosynthesis " + "turns light, water and carbon dioxide into sugar and oxygen; " * 8 + XSS
"""chatgpt's q6 answer: longer than the Markdown / LaTeX cut, with hostile HTML after the cut."""

# The training prompts, one a line (line N of train.jsonl is TRAIN[N - 1]). By construction, with
# rouge_tokens: q1's three nearest are lines 1, 2, 3 (ROUGE-L 1, 10/12, 4/10), q2's lines 5, 6, 7
# (1, 12/15, 8/14; line 2 shares only "a", 2/15, so it comes fourth); q6 shares no word with any.
TRAIN = [
    "What is consideration in contract law?",
    "What is consideration in a contract?",
    "Explain contract law simply.",
    "List three prime numbers.",
    "How do you treat a mild fever at home?",
    "How do you treat a fever?",
    "Treat a cold at home.",
    "Write haiku about autumn leaves.",
    "Why rivers flood each spring.",
]
NEAREST = {"q1": [1, 2, 3], "q2": [5, 6, 7], "q6": []}


def _answer(model: str, qid: str) -> str:
    if model == "chatgpt" and qid == "q6":
        return LONG
    text = f"{model} on {qid}: {SPECIALS}" if model == FT else f"{model} answers {qid}."
    if WEAK.get(qid) == model:
        text += " WEAK"
    if model == FT and qid == FLIP:
        text += " FLIP"
    return text


def _judge(body: dict[str, Any]) -> str:
    """Prefers the answer not marked WEAK; with FLIP in either, the first; else a tie. Its reason
    carries hostile text of its own."""
    text = body["messages"][-1]["content"]
    a, b = (re.search(rf"\[Assistant {s}'s answer starts\]\n(.*?)\n\[Assistant {s}'s answer ends\]", text,
                      re.DOTALL).group(1) for s in "AB")  # type: ignore[union-attr]
    if "WEAK" in a and "WEAK" not in b:
        label = "[[B]]"
    elif "WEAK" in b and "WEAK" not in a:
        label = "[[A]]"
    elif "FLIP" in a + b:
        label = "[[A]]"
    else:
        label = "[[C]]"
    return f"The other answer is better. {XSS} {SPECIALS}\nVerdict: {label}"


def _write_run(root: Path) -> tuple[Path, Path]:
    run, adapter = root / "run", root / "adapter"
    run.mkdir()
    adapter.mkdir()
    train = root / "train.jsonl"
    files.write_jsonl(train, [{"instruction": t, "output": f"Reply {i}: {SPECIALS}"} for i, t in enumerate(TRAIN, 1)])
    manifest = {"base": "embedded", "data": str(train), "data_sha256": data_hash(load_examples(str(train))),
                "train_records": len(TRAIN), "eval_records": 0, "config": {}, "steps": 3}
    (adapter / rundir.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    rundir.write_questions(run, [Task("law", "en", "law", "Law.", tuple(
        Question(qid, text, "law", "ref") for qid, text in QUESTIONS.items()))])
    specs = {"base": "embedded", FT: f"embedded+lora:{adapter}", "chatgpt": "openai:gpt-4o-mini"}
    files.write_jsonl(run / rundir.ANSWERS, [
        {"model": m, "task": "law", "question_id": q, "answer": _answer(m, q), "spec": specs[m]}
        for q in QUESTIONS for m in MODELS])
    with ScriptedServer(_judge) as server:
        assert main(["judge", str(run), "--judge", f"openai:judge@{server.url}", "--prompt", "mtbench_pairwise",
                     "--judge-method", "generate", "--no-progress"]) == 0
    write_report(run, formats=("html", "latex", "md"))
    return run, adapter


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _write_run(tmp_path_factory.mktemp("losses"))


def _lost_in_both_orders(run: Path) -> Counter[tuple[str, str, str]]:
    """(loser, winner, question) from judgments.jsonl alone: both orders name the same winner."""
    orders: dict[tuple[str, str, str], dict[str, str]] = {}
    for line in (run / rundir.JUDGMENTS).read_text(encoding="utf-8").splitlines():
        j = json.loads(line)
        orders.setdefault((j["question_id"], j["model_a"], j["model_b"]), {})[j["order"]] = j["winner"]
    out: Counter[tuple[str, str, str]] = Counter()
    for (qid, a, b), got in orders.items():
        if got.get("ab") == got.get("ba") in ("model_a", "model_b"):
            winner = a if got["ab"] == "model_a" else b
            out[(b if winner == a else a, winner, qid)] += 1
    return out


def _tables(run: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads((run / "report" / "report.json").read_text(encoding="utf-8"))
    return {t["key"]: t for t in doc["tables"]}


def test_the_section_lists_exactly_the_questions_lost_in_both_orders(judged: tuple[Path, Path]) -> None:
    run, _ = judged
    expected = _lost_in_both_orders(run)
    # the scripted judge made the losses the questions were built for
    assert {(loser, qid) for loser, _, qid in expected} == {(m, q) for q, m in WEAK.items()}
    tables = _tables(run)
    listed = Counter((row[0].split(" lost to ")[0], row[0].split(" lost to ")[1], row[1].split(":")[0].split(" / ")[1])
                     for row in tables["lost_questions"]["rows"])
    assert listed == expected
    summary = {(r[0], r[1]): r for r in tables["losses"]["rows"]}
    per_pair = Counter((loser, winner) for loser, winner, _ in expected)
    assert set(summary) == set(per_pair)
    for (loser, winner), n in per_pair.items():
        assert summary[(loser, winner)][2] == f"{n} of {len(QUESTIONS)}"
        assert summary[(loser, winner)][3] == str(n)
    # the fine-tune first; the flip on q3 is a tie, not a loss
    assert tables["losses"]["rows"][0][0] == FT
    assert not any("/ q3:" in row[1] for row in tables["lost_questions"]["rows"])


def test_each_lost_question_has_its_three_nearest_training_records(judged: tuple[Path, Path]) -> None:
    run, adapter = judged
    found = load_figures(run).losses
    mine = [p for p in found if p.loser == FT]
    assert {p.winner for p in mine} == {"base", "chatgpt"} and all(p.training is not None for p in mine)
    train = Path(json.loads((adapter / rundir.MANIFEST).read_text(encoding="utf-8"))["data"])
    for p in mine:
        for lost in p.shown:
            qid = lost.pair.question_id
            assert [int(n.where.rsplit(":", 1)[1]) for n in lost.nearest] == NEAREST[qid], qid
            for n in lost.nearest:
                line = int(n.where.rsplit(":", 1)[1])
                assert n.where == f"{train}:{line}" and n.prompt == TRAIN[line - 1]
                assert n.score == rouge_l(rouge_tokens(QUESTIONS[qid]), rouge_tokens(TRAIN[line - 1]))
                assert n.reply == f"Reply {line}: {SPECIALS}"
    rows = {row[1].split(":")[0]: row for row in _tables(run)["lost_questions"]["rows"]
            if row[0].startswith(f"{FT} lost to base")}
    assert rows["law / q1"][5].startswith("[1] ROUGE-L 1.00, train.jsonl:1. Prompt: What is consideration")
    assert "[2] ROUGE-L 0.83, train.jsonl:2." in rows["law / q1"][5] and "[3] ROUGE-L 0.40" in rows["law / q1"][5]
    assert rows["law / q6"][5] == "none: no training prompt shares a word with the question"
    # base is no fine-tune: its lost question has no training records to show
    base = [row for row in _tables(run)["lost_questions"]["rows"] if row[0].startswith("base lost to")]
    assert base and all(row[5] == "n/a (not a fine-tune)" for row in base)


def test_every_format_shows_the_section_escaped_and_long_texts_cut(judged: tuple[Path, Path]) -> None:
    run, _ = judged
    report = run / "report"
    tables = _tables(run)
    page = (report / "report.html").read_text(encoding="utf-8")
    md = (report / "report.md").read_text(encoding="utf-8")
    tex = (report / "latex" / "report.tex").read_text(encoding="utf-8")
    in_html = html_tables(run)
    for key in ("losses", "lost_questions"):
        t = tables[key]
        # HTML and JSON: every cell whole (the long answer, hostile HTML and all, as text)
        assert in_html[f"table-{key}"] == [[str(c) for c in row] for row in t["rows"]], key
        assert rf"\input{{{key}}}" in tex and html.escape(t["title"], quote=False) in page and t["title"] in md
    assert 'id="losses"' in page and "<script>window.__pwned" not in page.split('id="losses"')[1].split("judged")[0]
    assert any(LONG in row for row in tables["lost_questions"]["rows"])
    # Markdown: the lost-question rows, the long answer cut, no raw HTML
    section = md.split("## Questions lost in both orders")[1].split("\n## ")[0]
    assert "<script>" not in section and "&lt;script&gt;window.__pwned" in section
    assert LONG not in section and LONG[:LOSS_CUTS["answer"]].rstrip() + " [...]" in section
    # LaTeX: a longtable, every special escaped, the long answer cut the same way
    lost_tex = (report / "latex" / "lost_questions.tex").read_text(encoding="utf-8")
    assert r"\begin{longtable}" in lost_tex and r"\usepackage{longtable}" in tex
    assert escape(SPECIALS) in lost_tex and SPECIALS not in lost_tex
    assert escape(LONG[:LOSS_CUTS["answer"]].rstrip() + " [...]") in lost_tex
    assert len(tex_rows(report / "latex" / "lost_questions.tex")) == len(tables["lost_questions"]["rows"])
    assert tex_rows(report / "latex" / "losses.tex") == [[escape(c) for c in row] for row in tables["losses"]["rows"]]


def test_the_latex_report_with_the_section_compiles(judged: tuple[Path, Path], tmp_path: Path) -> None:
    need("xelatex", "Debian: texlive-xetex texlive-latex-recommended lmodern")
    files_ = write_report(judged[0], formats=["latex"], out=tmp_path)
    assert files_.latex is not None
    pdf = compile_pdf(files_.latex)
    log = pdf.with_suffix(".log").read_text(encoding="utf-8", errors="replace")
    assert "LaTeX Error" not in log and "Undefined control sequence" not in log


def test_a_missing_training_file_is_one_line_not_a_failure(judged: tuple[Path, Path], tmp_path: Path) -> None:
    run, adapter = judged
    manifest = json.loads((adapter / rundir.MANIFEST).read_text(encoding="utf-8"))
    gone = tmp_path / "gone.jsonl"
    note = (f"{FT}: its training data {gone} (from {adapter / rundir.MANIFEST}) is not a file here, so no "
            "nearest training records are shown.")
    try:
        (adapter / rundir.MANIFEST).write_text(json.dumps({**manifest, "data": str(gone)}), encoding="utf-8")
        out = tmp_path / "report"
        write_report(run, formats=("html", "latex", "md"), out=out)  # the manifest changed: rebuilt
        doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
        losses_table = next(t for t in doc["tables"] if t["key"] == "losses")
        assert losses_table["caption"].count(note) == 1
        assert all(r[4] == "n/a (training data not read)" for r in losses_table["rows"] if r[0] == FT)
        lost = next(t for t in doc["tables"] if t["key"] == "lost_questions")
        assert all(r[5] == "n/a (training data not read: see the caption)" for r in lost["rows"]
                   if r[0].startswith(FT))
        assert html.escape(note, quote=False) in (out / "report.html").read_text(encoding="utf-8")
        assert note in (out / "report.md").read_text(encoding="utf-8")  # captions print as written
        assert escape(note) in (out / "latex" / "losses.tex").read_text(encoding="utf-8")
    finally:
        (adapter / rundir.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def test_unreadable_changed_or_absent_training_data_each_say_why(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x"}\n', encoding="utf-8")  # no output
    training, examples = read_training(Finetune(FT, tmp_path, {"data": str(bad)}, ()))
    assert not examples and "could not be read" in training.note and "'output'" in training.note
    assert "\n" not in training.note
    good = tmp_path / "good.jsonl"
    files.write_jsonl(good, [{"instruction": "Define tort.", "output": "A civil wrong."}])
    training, examples = read_training(Finetune(FT, tmp_path, {"data": str(good), "data_sha256": "0" * 64}, ()))
    assert len(examples) == 1 and "has changed since the fine-tune" in training.note
    training, _ = read_training(Finetune(FT, tmp_path, {"base": "embedded"}, ()))
    assert "names no training data" in training.note
    training, _ = read_training(Finetune(FT, tmp_path, {"data": "org/some-hub-dataset"}, ()))
    assert "is not a file here" in training.note  # a hub name is never downloaded for a report


def test_the_listing_is_bounded_per_pair(judged: tuple[Path, Path]) -> None:
    figures = load_figures(judged[0])
    bounded = losses(pairs=figures.judged_pairs, models=figures.models, finetunes=figures.finetunes, limit=1, k=2)
    for p in bounded:
        assert len(p.shown) == 1 and all(len(lost.nearest) <= 2 for lost in p.shown)
    assert {(p.loser, p.winner, p.lost) for p in bounded} == {(p.loser, p.winner, p.lost) for p in figures.losses}


def test_nearest_equals_the_naive_top_k() -> None:
    rng = random.Random(5)
    vocab = [f"w{i}" for i in range(12)]
    kept = [[rng.choice(vocab) for _ in range(rng.randint(0, 9))] for _ in range(300)]
    index = NearDuplicateIndex()
    for record in kept:
        index.add(record)
    for _ in range(200):
        query = [rng.choice(vocab) for _ in range(rng.randint(0, 8))]
        for k in (1, 3, 10):
            assert index.nearest(query, k) == naive_nearest(query, kept, k)
    with pytest.raises(ValueError):
        index.nearest(["w1"], 0)
