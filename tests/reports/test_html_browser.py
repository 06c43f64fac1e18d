"""report.html in headless Chromium: tables and plots are there, hostile answers are only text,
the filters work, and the page asks the network for nothing."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from judged_run import XSS

from harness.core import rundir


@pytest.fixture
def page(browser: Any, en_run: Path) -> Iterator[tuple[Any, dict[str, list[str]]]]:
    seen: dict[str, list[str]] = {"requests": [], "console": [], "dialogs": [], "errors": []}
    context = browser.new_context()
    pg = context.new_page()
    pg.on("request", lambda r: seen["requests"].append(r.url))
    pg.on("websocket", lambda w: seen["requests"].append(w.url))
    pg.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: seen["errors"].append(str(e)))
    pg.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    pg.goto((en_run / "report" / "report.html").resolve().as_uri(), wait_until="load")
    yield pg, seen
    context.close()


def test_tables_and_plots_are_present(page: tuple[Any, dict[str, list[str]]], en_run: Path) -> None:
    pg, _ = page
    with (en_run / rundir.LEADERBOARD_CSV).open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cells = pg.eval_on_selector_all("#table-leaderboard tbody tr",
                                    "trs => trs.map(tr => [...tr.cells].map(td => td.innerText))")
    assert [[c[1], c[2], c[4]] for c in cells] == [[r["model"], r["bt"], r["elo"]] for r in rows]
    for table in ("pairs", "tasks", "bias", "length_bins", "finetune", "usage"):
        assert pg.locator(f"#table-{table} tbody tr").count() > 0, table
    assert pg.locator("#table-tasks strong").count() >= 3  # best of each column in bold
    for plot in ("ratings", "heatmap", "tasks", "loss"):
        size = pg.eval_on_selector(f"#plot-{plot} img", "img => [img.complete, img.naturalWidth, img.src.slice(0, 26)]")
        assert size[0] and size[1] > 200 and size[2] == "data:image/svg+xml;base64,", plot


def test_hostile_answers_are_shown_as_text_and_run_nothing(page: tuple[Any, dict[str, list[str]]]) -> None:
    pg, seen = page
    pg.select_option("#f-task", "en_law")
    pg.select_option("#f-model", "chatgpt")
    pair = pg.locator("details.pair:not([hidden])", has=pg.locator(".answer", has_text="__pwned")).first
    pair.locator("summary").click()
    assert pg.evaluate("typeof window.__pwned") == "undefined"
    assert pg.locator("img[src='x']").count() == 0
    assert pg.locator("script").count() == 1  # the page's own filter script only
    answers = pg.eval_on_selector_all(".answer", "els => els.map(e => e.textContent)")
    assert any(XSS in a for a in answers)  # the answer is printed, tags and all
    reasoning = pg.eval_on_selector_all(".reasoning", "els => els.map(e => e.textContent)")
    assert reasoning and all(XSS in r for r in reasoning)  # so is the judge's own hostile text
    shown = pair.locator(".answer", has_text="__pwned")
    assert shown.is_visible() and XSS in shown.inner_text()  # rendered on screen as the literal text
    assert not seen["dialogs"] and not seen["errors"]
    # the page's own style and script pass its Content-Security-Policy (nothing was refused)
    assert not [m for m in seen["console"] if "Content Security Policy" in m or m.startswith("error")]


def test_filters_show_only_the_chosen_task_and_model(page: tuple[Any, dict[str, list[str]]]) -> None:
    pg, _ = page
    total = pg.locator("details.pair").count()
    assert total == 18  # 2 tasks x 3 questions x 3 pairs
    pg.select_option("#f-task", "en_medical")
    assert pg.locator("details.pair:not([hidden])").count() == 9
    pg.select_option("#f-model", "ft_v2&co")
    visible = pg.eval_on_selector_all("details.pair:not([hidden])",
                                      "els => els.map(e => [e.dataset.task, e.dataset.modelA, e.dataset.modelB])")
    assert len(visible) == 6 and all(t == "en_medical" and "ft_v2&co" in (a, b) for t, a, b in visible)
    assert pg.inner_text("#f-count") == f"6 of {total} judged pairs shown"


def test_the_page_makes_no_network_request(page: tuple[Any, dict[str, list[str]]], en_run: Path) -> None:
    pg, seen = page
    pg.locator("details.pair summary").first.click()
    pg.wait_for_timeout(300)
    own = (en_run / "report" / "report.html").resolve().as_uri()
    assert [u for u in seen["requests"] if not u.startswith("data:")] == [own]
