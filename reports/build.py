"""``harness report``: HTML, LaTeX and Markdown reports from a judged run directory."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.analysis.figures import Figures, load_figures
from harness.core import rundir, runlock
from harness.core.errors import HarnessError
from harness.core.files import atomic_write
from harness.reports import plots
from harness.reports.html import render_html
from harness.reports.latex import write_latex
from harness.reports.markdown import render_markdown_report, render_summary
from harness.reports.report_json import render_json
from harness.reports.sections import in_order
from harness.reports.stamp import fingerprint as stamp_of
from harness.reports.stamp import record, unchanged
from harness.reports.tables import every_table

REPORT_FORMATS = ("html", "latex", "md")


def parse_report_formats(value: str) -> tuple[str, ...]:
    """A comma-separated list of formats; ``none`` stands for no report.

    >>> parse_report_formats("html, md"), parse_report_formats("none")
    (('html', 'md'), ())
    """
    formats = tuple(f.strip() for f in value.split(",") if f.strip() and f.strip() != "none")
    check_report_formats(formats)
    return formats


def check_report_formats(formats: Sequence[str], where: str = "") -> None:
    unknown = [f for f in formats if f not in REPORT_FORMATS]
    if unknown:
        raise HarnessError(f"{where}unknown report format {unknown[0]!r} "
                           f"(known: {', '.join(REPORT_FORMATS)})")


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote (None: that format was not asked for)."""

    html: Path | None = None
    latex: Path | None = None
    """``report.tex``; the table files, ``cases.tex`` and ``figures/`` lie beside it."""
    markdown: Path | None = None
    json: Path | None = None
    """``report.json``: every table as data; written with any format."""
    pdf: Path | None = None


@dataclass(frozen=True)
class Summary:
    """What :func:`publish` made of a judged run."""

    markdown: str
    """``leaderboard.md`` as written."""
    data: Figures
    """Everything the summary and the report show (bias figures included), computed once."""
    report: ReportFiles | None
    """The report folder's files; None when no format was asked for."""


def check_formats(formats: Sequence[str]) -> list[str]:
    if not formats:
        raise HarnessError(f"no report format given (known: {', '.join(REPORT_FORMATS)})")
    check_report_formats(formats)
    return list(dict.fromkeys(formats))


def publish(run_dir: Path, *, formats: Sequence[str] = REPORT_FORMATS, tasks_dirs: Sequence[Path] = ()
            ) -> Summary:
    """Write ``leaderboard.md`` and the report folder from the run's files, reading them (and
    computing the bias figures) once for both."""
    data = load_figures(run_dir, tasks_dirs)
    markdown = render_summary(data)
    rundir.write_leaderboard_md(run_dir, markdown)
    report = write_report(run_dir, formats=formats, tasks_dirs=tasks_dirs, data=data) if formats else None
    return Summary(markdown, data, report)


def write_report(run_dir: Path, *, formats: Sequence[str] = REPORT_FORMATS, out: Path | None = None,
                 cjk: bool = False, tasks_dirs: Sequence[Path] = (), pdf: bool = False,
                 data: Figures | None = None) -> ReportFiles:
    """Write the chosen formats and ``report.json`` into ``out`` (default ``RUN_DIR/report``); only
    reads the run's files (or uses ``data`` already read from them).

    ``cjk`` forces Chinese support in LaTeX; it is switched on anyway when the run has Chinese text.
    A report whose inputs and options are unchanged is not rebuilt.
    """
    with runlock.hold(run_dir, command="report"):
        formats = check_formats(formats)
        if pdf and "latex" not in formats:
            raise HarnessError("--pdf compiles the LaTeX report: add latex to --format")
        out = out if out is not None else run_dir / rundir.REPORT_DIR
        planned = ReportFiles(out / "report.html" if "html" in formats else None,
                              out / "latex" / "report.tex" if "latex" in formats else None,
                              out / "report.md" if "md" in formats else None, out / "report.json")
        outputs = [p for p in (planned.html, planned.latex, planned.markdown, planned.json) if p is not None]
        stamp = None if pdf else stamp_of(run_dir, f"{sorted(formats)} cjk={cjk} out={out.resolve()}")
        if unchanged(out, stamp, outputs):
            return planned
        data = data if data is not None else load_figures(run_dir, tasks_dirs)
        title = f"harness report: {run_dir.resolve().name}"
        # every format shows every table, in the one section order
        tables = in_order(every_table(data))
        pdf_file = None
        assert planned.json is not None
        atomic_write(planned.json, render_json(data, title, tables))
        if planned.markdown is not None:
            atomic_write(planned.markdown,
                         render_markdown_report(title, tables, data.health, data.bias.warnings))
        if planned.html is not None or planned.latex is not None:
            figures = plots.figures(data)
            if planned.latex is not None:
                for stem, fig in figures.items():
                    plots.save_pdf(fig, planned.latex.parent / "figures" / f"{stem}.pdf")
                write_latex(planned.latex.parent, title, tables, list(figures), data.case_studies,
                            cjk or data.has_cjk(), [h.line() for h in data.health])
                if pdf:
                    pdf_file = compile_pdf(planned.latex)
            if planned.html is not None:
                uris = {stem: plots.svg_uri(fig) for stem, fig in figures.items()}
                atomic_write(planned.html, render_html(data, title, tables, uris, data.judged_pairs))
        record(out, stamp)
        return dataclasses.replace(planned, pdf=pdf_file)


def compile_pdf(tex: Path, engine: str = "xelatex") -> Path:
    """Compile ``report.tex`` beside itself (twice, so references settle); returns the PDF."""
    exe = shutil.which(engine)
    if exe is None:
        raise HarnessError(f"{engine} not found: install TeX Live (Debian/Ubuntu: texlive-xetex "
                           "texlive-latex-recommended texlive-lang-chinese) or upload "
                           f"{tex.parent} to Overleaf")
    for _ in range(2):
        try:
            done = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", tex.name],
                                  cwd=tex.parent, capture_output=True, text=True, errors="replace",
                                  timeout=600)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"{tex}: {engine} ran for 10 minutes without finishing") from None
        if done.returncode != 0:
            errors = [line for line in done.stdout.splitlines() if line.startswith("!")]
            raise HarnessError(f"{tex}: {engine} failed ({errors[0] if errors else 'see report.log'}; "
                               f"log: {tex.with_suffix('.log')})")
    return tex.with_suffix(".pdf")
