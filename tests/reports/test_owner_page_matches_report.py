"""Issue 30: the owner's page of ``harness human serve`` and ``report.html`` print the same human
leaderboard, digit for digit (both read it from the read model, with the run's bootstrap settings).

Before, the owner's page fitted its own leaderboard (200 bootstrap rounds, no model order), so the
same labels printed other intervals there than in the report.
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

from human_server import MODELS, Client, Server, make_bilingual_run
from report_tables import html_tables

from harness.app.cli import main
from harness.core import rundir
from harness.core.types import HumanLabel


def _owner_table(page: str, key: str) -> list[list[str]]:
    """The body rows of the owner page's table ``key`` (a ``<section id="table-KEY">``)."""
    section = page.split(f'id="table-{key}"', 1)[1].split("</section>", 1)[0]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[html_lib.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_owner_page_and_the_report_print_the_same_human_leaderboard(tmp_path: Path) -> None:
    run = make_bilingual_run(tmp_path)
    a, b = MODELS
    rundir.write_human(run, [HumanLabel(task, q, a, b, winner, annotator)  # type: ignore[arg-type]
                             for annotator, winners in (("ann", ("model_a", "model_a", "tie")),
                                                        ("bob", ("model_a", "model_b", "model_a")))
                             for task in ("en_law", "zh_law") for q, winner in zip(("q01", "q02", "q03"), winners)])
    assert main(["report", str(run), "--format", "html"]) == 0
    in_report = html_tables(run)["table-human_leaderboard"]
    assert [row[1] for row in in_report] == [a, b] and len(in_report[0]) == 4
    with Server(run) as srv:
        page = Client().page(srv.links["owner"])[1]
    assert _owner_table(page, "human_leaderboard") == in_report
    # the agreement between the annotators is the report's too
    assert _owner_table(page, "human_annotators") == html_tables(run)["table-human_annotators"]
