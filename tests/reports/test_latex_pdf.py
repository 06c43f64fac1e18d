"""report.tex compiles to PDF (English and Chinese runs) and its first page renders to PNG."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from judged_run import SPECIALS, need

from harness.reports.build import compile_pdf, write_report

TEX = "Debian: texlive-xetex texlive-latex-recommended texlive-lang-chinese lmodern"


def _compile(run: Path, out: Path, engine: str = "xelatex") -> Path:
    need(engine, TEX)
    files = write_report(run, formats=["latex"], out=out)
    assert files.latex == out / "latex" / "report.tex"
    pdf = compile_pdf(files.latex, engine)
    log = pdf.with_suffix(".log").read_text(encoding="utf-8", errors="replace")
    assert pdf.stat().st_size > 10_000
    assert "LaTeX Error" not in log and "Undefined control sequence" not in log
    return pdf


def test_english_report_compiles_with_xelatex_and_pdflatex(en_run: Path, tmp_path: Path) -> None:
    tex = _compile(en_run, tmp_path / "x").with_suffix(".tex").read_text(encoding="utf-8")
    assert "ctex" not in tex
    for name in ("leaderboard", "pairs", "tasks", "bias", "finetune", "cases"):
        assert rf"\input{{{name}}}" in tex
    cases = (tmp_path / "x" / "latex" / "cases.tex").read_text(encoding="utf-8")
    # the answer's specials survive as text: each one escaped, none left raw
    assert r"Costs 50\% \& more: \$5 \#1 a\_b \{x\} \textasciitilde{}y \textasciicircum{}z " \
           r"\textbackslash{}path {[}1{]}" in cases
    assert SPECIALS not in cases
    _compile(en_run, tmp_path / "p", "pdflatex")


def test_chinese_report_compiles_with_ctex(zh_run: Path, tmp_path: Path) -> None:
    pdf = _compile(zh_run, tmp_path)
    assert r"\usepackage[UTF8]{ctex}" in pdf.with_suffix(".tex").read_text(encoding="utf-8")
    log = pdf.with_suffix(".log").read_text(encoding="utf-8", errors="replace")
    assert "Missing character" not in log  # every Chinese glyph found a font
    pdftotext = need("pdftotext", "Debian: poppler-utils")
    text = subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "对价是合同双方各自给予的价值" in text.replace("\n", "")


def test_cjk_flag_turns_on_chinese_support_for_an_english_run(en_run: Path, tmp_path: Path) -> None:
    write_report(en_run, formats=["latex"], out=tmp_path, cjk=True)
    assert r"\usepackage[UTF8]{ctex}" in (tmp_path / "latex" / "report.tex").read_text(encoding="utf-8")


def test_first_page_renders_to_png(en_run: Path, tmp_path: Path) -> None:
    pdf = _compile(en_run, tmp_path)
    pdftoppm = need("pdftoppm", "Debian: poppler-utils")
    subprocess.run([pdftoppm, "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(tmp_path / "page1")], check=True)
    from matplotlib import image

    pixels = image.imread(tmp_path / "page1.png")
    assert pixels.shape[0] > 500 and pixels.shape[1] > 400  # a letter/A4 page at 60 dpi
    ink = (pixels[..., :3].mean(axis=2) < 0.5).mean()
    assert 0.005 < ink < 0.5  # text and rules on a white page: neither blank nor black


def test_a_failed_compile_is_one_error_naming_the_log(en_run: Path, tmp_path: Path) -> None:
    need("xelatex", TEX)
    files = write_report(en_run, formats=["latex"], out=tmp_path)
    assert files.latex is not None
    (files.latex.parent / "pairs.tex").write_text(r"\undefinedmacro", encoding="utf-8")
    from harness.core.errors import HarnessError

    with pytest.raises(HarnessError, match=r"report.tex: xelatex failed \(! Undefined control sequence"):
        compile_pdf(files.latex)
