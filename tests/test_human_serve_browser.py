"""``harness human serve`` in real headless Chromium: two annotators vote by keyboard and by mouse
on a run with an English and a Chinese task; undo, previous/next and the progress line work; the
votes reach the run's human labels with the order each annotator saw; hostile answers run
nothing; and the pages ask nothing of any host but the server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from human_server import MODELS, Server, make_bilingual_run

from harness.core import rundir
from harness.core.votes import VoteStore, winner

pytestmark = pytest.mark.slow  # a server and a browser (the `browser` fixture is in conftest.py)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Server]]:
    run = make_bilingual_run(tmp_path_factory.mktemp("browser"))
    with Server(run, "--annotators", "alice,bob", "--reference") as server:
        yield run, server


class Watched:
    """A page with everything it did recorded: requests, console lines, dialogs, script errors."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("websocket", lambda w: self.requests.append(w.url))
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("dialog", lambda d: (self.problems.append(d.message), d.dismiss()))

    def position(self) -> int:
        return int(self.page.url.split("?")[0].rsplit("/", 1)[1])

    def progress(self) -> tuple[int, int]:
        a, b = re.findall(r"\d+", self.page.inner_text("#progress"))[:2]
        return int(a), int(b)

    def wait_for(self, pos: int) -> None:
        self.page.wait_for_url(re.compile(rf"/a/[^/]+/{pos}(\?.*)?$"))
        self.page.wait_for_load_state("load")

    def safe(self) -> None:
        """The page's hostile answers stayed text."""
        assert self.page.evaluate("typeof window.__pwned") == "undefined"
        assert self.page.locator("main img").count() == 0
        assert self.page.locator("script").count() == 1  # the page's own


def _vote_all(w: Watched, start: str, by: str) -> list[str]:
    """Vote on every item, by keyboard or by mouse; the choices made, by position."""
    w.page.goto(start, wait_until="load")
    total = w.progress()[1]
    made = []
    keys = ["1", "2", "3", "4"]
    labels = {"1": "1", "2": "2", "3": "tie", "4": "bothbad"}
    for pos in range(total):
        assert w.position() == pos and w.progress() == (pos, total)
        w.safe()
        lang = w.page.get_attribute("html", "lang")
        first = w.page.inner_text("#answer-1 h2")
        assert first == ("回答1" if lang == "zh-CN" else "Answer 1")
        key = keys[pos % 4]
        if by == "keyboard":
            w.page.keyboard.press(key)
        else:
            w.page.fill("#reason", f"reason {pos}")
            w.page.click(f"#vote button[data-key='{key}']")
        made.append(labels[key])
        w.wait_for(pos + 1) if pos + 1 < total else w.page.wait_for_selector("#done")
    assert w.progress() == (total, total)
    return made


def test_two_annotators_vote_undo_and_move(browser: Any, served: tuple[Path, Server]) -> None:
    run, server = served
    alice, bob = Watched(browser), Watched(browser)
    made = {"alice": _vote_all(alice, server.links["alice"], "keyboard"),
            "bob": _vote_all(bob, server.links["bob"], "mouse")}
    total = len(made["alice"])

    # previous / next (links and arrow keys), then a re-vote and an undo, by alice
    alice.page.click("#prev")
    alice.wait_for(total - 1)
    alice.page.click("#prev")
    alice.wait_for(total - 2)
    alice.page.keyboard.press("ArrowRight")
    alice.wait_for(total - 1)
    alice.page.keyboard.press("ArrowLeft")
    alice.wait_for(total - 2)
    assert alice.progress() == (total, total)
    alice.page.click("#undo button")  # takes back her last vote: the last item
    alice.wait_for(total - 1)
    assert alice.progress() == (total - 1, total)
    alice.page.keyboard.press("4")
    alice.page.wait_for_selector("#done")
    made["alice"][-1] = "bothbad"
    assert alice.progress() == (total, total)

    # the language switch
    alice.page.goto(alice.page.url.split("?")[0].rsplit("/", 1)[0] + "/0?lang=zh", wait_until="load")
    assert alice.page.inner_text("#answer-2 h2") == "回答2"
    alice.page.click("#lang")
    alice.page.wait_for_url(re.compile(r"lang=en$"))
    assert alice.page.inner_text("#answer-2 h2") == "Answer 2"
    # the reference answer sits behind a toggle
    assert not alice.page.locator("#reference p").is_visible()
    alice.page.click("#reference summary")
    assert alice.page.locator("#reference p").first.is_visible()

    store = VoteStore(run / rundir.VOTES)
    try:
        for name in ("alice", "bob"):
            items = store.items(name)
            current = store.current(name)
            assert [current[k].choice for k in range(total)] == made[name]
            labels = {(h.task, h.question_id): h for h in rundir.read_human(run) if h.annotator == name}
            pairs = [(k, it) for k, it in enumerate(items) if it.kind == "pair"]
            assert len(labels) == len(pairs) == 6 and {t for t, _ in labels} == {"en_law", "zh_law"}
            for k, it in pairs:
                h = labels[(it.task, it.question_id)]
                assert h.shown_first == it.shown_first and h.winner == winner(it, made[name][k])
                assert h.seconds is not None and h.seconds >= 0
            if name == "bob":
                assert all(h.reason.startswith("reason ") for h in labels.values())
        assert len(store.history("alice")) == total + 1  # the undone vote is kept
    finally:
        store.close()

    for w in (alice, bob):
        assert not w.problems
        assert all(u.startswith(server.base + "/") for u in w.requests), w.requests
        for text in (w.page.content(),):
            assert not any(m in text for m in MODELS)
        w.context.close()
