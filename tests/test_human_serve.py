"""``harness human serve`` over HTTP: link tokens, CSRF, idempotent votes, undo and re-votes, the
votes as the run's human labels, export, no model names for annotators, and a SIGKILL restart."""

from __future__ import annotations

import csv
import http.client
import io
import json
import random
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from human_server import MODELS, Client, Server, make_bilingual_run, progress, vote

from harness.app import human_items
from harness.app.agreement_command import load as load_agreement
from harness.app.cli import main
from harness.core import rundir
from harness.core.votes import VoteStore, token_hash

pytestmark = pytest.mark.slow  # starts servers

NAMES = ("ann1", "ann2", "ann3", "ann4", "ann5", "ann6", "ann7")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bilingual_run(tmp_path_factory.mktemp("human"))


@pytest.fixture(scope="module")
def server(run: Path) -> Iterator[Server]:
    with Server(run, "--annotators", ",".join(NAMES), "--reference") as s:
        yield s


def test_links_are_printed_and_tokens_stored_hashed(server: Server, run: Path) -> None:
    assert set(server.links) == {*NAMES, "owner"}
    db = sqlite3.connect(run / rundir.VOTES)
    stored = {r[0] for r in db.execute("SELECT sha256 FROM tokens")}
    for url in server.links.values():
        token = url.rsplit("/", 1)[1]
        assert token not in stored and token_hash(token) in stored
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_tokens_get_403(server: Server) -> None:
    c = Client()
    for path in ("/a/nope", "/a/nope/0", "/owner/nope", "/"):
        assert c.request(server.base + path)[0] == 403, path
    assert c.request(server.base + "/a/nope/vote", {"choice": "1"})[0] == 403
    annotator_token = server.links["ann1"].rsplit("/", 1)[1]
    assert c.request(f"{server.base}/owner/{annotator_token}")[0] == 403  # an annotator is not the owner
    owner_token = server.links["owner"].rsplit("/", 1)[1]
    assert c.request(f"{server.base}/a/{owner_token}")[0] == 403


def test_votes_need_a_matching_csrf_token_and_same_origin(server: Server, run: Path) -> None:
    c = Client()
    url, _, f = c.page(server.links["ann2"])
    target = url.rsplit("/", 1)[0] + "/vote"
    base = {"position": f["position"], "nonce": f["nonce"], "choice": "1"}
    assert c.request(target, base)[0] == 403  # no token
    assert c.request(target, {**base, "csrf": "0" * 64})[0] == 403  # a wrong token
    other = Client()  # another browser: its own session cookie, so this page's token is not valid there
    other.page(server.links["ann2"])
    assert other.request(target, {**base, "csrf": f["csrf"]})[0] == 403
    assert c.request(target, {**base, "csrf": f["csrf"]}, headers={"Origin": "http://evil.example"})[0] == 403
    assert c.request(target, raw=b"x" * 20000, headers={"Content-Type": "text/plain"})[0] == 413
    with _store(run) as store:
        assert store.history("ann2") == []
    status, reply = vote(c, url, "1")
    assert status == 200 and isinstance(reply, dict) and reply["answered"] == 1


class _store:
    def __init__(self, run: Path) -> None:
        self.store = VoteStore(run / rundir.VOTES)

    def __enter__(self) -> VoteStore:
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def test_a_double_click_is_one_vote_and_a_revote_keeps_the_history(server: Server, run: Path) -> None:
    c = Client()
    url, html, f = c.page(server.links["ann3"])
    assert url.endswith("/0") and progress(html)[0] == 0
    target = url.rsplit("/", 1)[0] + "/vote"
    data = {"csrf": f["csrf"], "position": "0", "nonce": f["nonce"], "choice": "1", "reason": "clearer"}
    replies = [c.request(target, data) for _ in range(3)]
    assert all(r[0] == 200 for r in replies)
    with _store(run) as store:
        assert len(store.history("ann3")) == 1
    status, reply = vote(c, url, "2")  # the page again: a new nonce, a new vote on the same item
    assert status == 200 and isinstance(reply, dict) and reply["answered"] == 1
    with _store(run) as store:
        assert [v.choice for v in store.history("ann3")] == ["1", "2"]
        assert store.current("ann3")[0].choice == "2"
    _, html, _ = c.page(url)
    assert 'value="2" data-key="2" class="chosen"' in html


def test_undo_takes_back_the_last_vote(server: Server, run: Path) -> None:
    c = Client()
    start = server.links["ann4"]
    for choice in ("1", "tie"):
        vote(c, start, choice)  # the start link resumes at the first unanswered item
    url, html, f = c.page(start)
    assert url.endswith("/2") and progress(html)[0] == 2
    token_url = url.rsplit("/", 1)[0]
    status, _, text = c.request(f"{token_url}/undo", {"csrf": f["csrf"], "nonce": f["undo_nonce"]})
    assert status == 200 and json.loads(text)["position"] == 1 and json.loads(text)["answered"] == 1
    c.request(f"{token_url}/undo", {"csrf": f["csrf"], "nonce": f["undo_nonce"]})  # the same undo twice
    with _store(run) as store:
        assert sorted(store.current("ann4")) == [0] and len(store.history("ann4")) == 2
    assert c.page(start)[0].endswith("/1")


def test_votes_become_the_runs_human_labels_and_export(server: Server, run: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    c = Client()
    url = c.page(server.links["ann5"])[0]
    token_url = url.rsplit("/", 1)[0]
    n = progress(c.page(url)[1])[1]
    for pos in range(n):
        vote(c, f"{token_url}/{pos}", random.Random(pos).choice(["1", "2", "tie", "bothbad"]),
             reason=f"because {pos}")
    _, html, _ = c.page(server.links["ann5"] + "?lang=en")
    assert "All done" in html and progress(html) == (n, n)
    with _store(run) as store:
        items = store.items("ann5")
    mine = [h for h in rundir.read_human(run) if h.annotator == "ann5"]
    pairs = [it for it in items if it.kind == "pair"]
    assert len(mine) == len(pairs) == 6 and len(items) == 7  # one repeat (about 10%), not a label
    assert {(h.task, h.question_id, h.shown_first) for h in mine} == \
        {(it.task, it.question_id, it.shown_first) for it in pairs}
    assert all(h.seconds is not None and h.reason.startswith("because") for h in mine)
    assert {h.task for h in mine} == {"en_law", "zh_law"}
    assert any(r.annotator == "ann5" for r in load_agreement(run).judges)  # reports see them
    out = tmp_path / "votes.csv"
    assert main(["human", "export", "--run", str(run), "--format", "csv", "--out", str(out)]) == 0
    rows = [r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))) if r["annotator"] == "ann5"]
    assert len(rows) == 7 and {r["kind"] for r in rows} == {"pair", "repeat"}
    capsys.readouterr()
    assert main(["human", "export", "--run", str(run), "--format", "jsonl"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert sum(r["annotator"] == "ann5" for r in lines) == 7
    owner = Client().page(server.links["owner"])[1]
    assert "Votes per annotator" in owner and "ann5" in owner and "Agreement with the human labels" in owner


def test_annotator_pages_and_replies_never_name_a_model(server: Server) -> None:
    c = Client()
    url, html, _ = c.page(server.links["ann6"])
    token_url = url.rsplit("/", 1)[0]
    seen = [html]
    for pos in range(8):
        for lang in ("", "?lang=zh", "?lang=en"):
            seen.append(c.page(f"{token_url}/{pos}{lang}")[1])
        status, reply = vote(c, f"{token_url}/{pos}", "tie") if pos < 7 else (200, "")
        seen.append(json.dumps(reply))
    seen.append(c.request(f"{server.base}/static/human.js")[2])
    for text in seen:
        for model in MODELS:
            assert model not in text
    zh = c.page(f"{token_url}/0?lang=zh")[1]
    assert "回答1" in zh and "回答2" in zh and "已回答" in zh
    assert "<script>window" not in "".join(seen) and "&lt;script&gt;" in "".join(seen)


def test_sigkill_loses_no_acknowledged_vote(run: Path) -> None:
    acked: dict[str, list[int]] = {"ann1": [], "ann2": []}
    fresh = run.parent / "killrun"
    if not fresh.exists():
        fresh.mkdir()
        for name in ("answers.jsonl", "judgments.jsonl", "battles.jsonl", "run.json"):
            if (run / name).exists():
                (fresh / name).write_bytes((run / name).read_bytes())
    srv = Server(fresh, "--annotators", "ann1,ann2")
    try:
        stop = threading.Event()

        def voter(name: str) -> None:
            c = Client()
            url = c.page(srv.links[name])[0]
            token_url = url.rsplit("/", 1)[0]
            for pos in range(5):
                if stop.is_set():
                    return
                try:
                    status, _ = vote(c, f"{token_url}/{pos}", "1")
                except (OSError, AssertionError, http.client.HTTPException):  # not acknowledged
                    return
                if status == 200:
                    acked[name].append(pos)

        threads = [threading.Thread(target=voter, args=(n,)) for n in acked]
        for t in threads:
            t.start()
        while sum(map(len, acked.values())) < 4:
            threading.Event().wait(0.005)
        srv.kill()
        stop.set()
        for t in threads:
            t.join(10)
    finally:
        srv.stop()
    with _store(fresh) as store:
        for name, positions in acked.items():
            history = store.history(name)
            stored = [v.position for v in history]
            assert set(positions) <= set(stored)
            assert len(stored) == len(set(stored))  # each vote once
    with Server(fresh, "--annotators", "ann1,ann2") as again:
        for name in acked:
            url, html, _ = Client().page(again.links[name])
            with _store(fresh) as store:
                expected, answered = store.resume(name), len(store.current(name))
            assert url.endswith(f"/{expected}") and expected >= len(acked[name])
            assert progress(html)[0] == answered


def test_mistakes_are_one_line_errors(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in [
        (["--run", str(tmp_path)], "not a run directory"),
        (["--run", str(run), "--annotators", "a,a"], "appears twice"),
        (["--run", str(run), "--annotators", "a b"], "each name"),
        (["--run", str(run), "--per-annotator", "0"], "positive"),
        (["--run", str(run), "--guide", str(tmp_path / "none.md")], "--guide"),
    ]:
        assert main(["human", "serve", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("harness: error: ") and message in err and err.count("\n") == 1, err
    assert main(["human", "export", "--run", str(tmp_path)]) == 2
    assert "no votes yet" in capsys.readouterr().err


def test_assignment_puts_doubtful_pairs_first_and_stratifies() -> None:
    pairs = [human_items.Pair(t, f"q{k}", "x", "y", doubt=int(k == 3)) for t in ("en", "zh") for k in range(10)]
    items = human_items.assignment(pairs, random.Random(1), order="disagreement", per_annotator=6)
    firsts = [it for it in items if it.kind == "pair"]
    assert len(firsts) == 6 and {it.question_id for it in firsts[:2]} == {"q3"}
    assert sum(it.task == "en" for it in firsts) == 3
    repeats = [it for it in items if it.kind == "repeat"]
    assert len(repeats) == 1 and repeats[0].shown_first != items[int(repeats[0].ref)].shown_first
    assert int(repeats[0].ref) < items.index(repeats[0])


def test_nickname_gold_and_guide(run: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "run"
    fresh.mkdir()
    for name in ("answers.jsonl", "judgments.jsonl", "battles.jsonl", "run.json"):
        (fresh / name).write_bytes((run / name).read_bytes())
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "g1", "question": "What is 2+2?", "answer_1": "4", "answer_2": "5",
                                "label": 1}) + "\n", encoding="utf-8")
    guide = tmp_path / "guide.md"
    guide.write_text("Prefer the **correct** answer. <b>raw</b>", encoding="utf-8")
    with Server(fresh, "--gold", str(gold), "--guide", str(guide), "--order", "random") as srv:
        c = Client()
        _, html, f = c.page(srv.base + "/")
        assert 'id="nickname"' in html
        assert c.request(srv.base + "/join", {"nickname": "zoe"})[0] == 403  # no CSRF token
        assert c.request(srv.base + "/join", {"nickname": "<x>", "csrf": f["csrf"]}, json_reply=False)[0] == 400
        status, headers, _ = c.request(srv.base + "/join", {"nickname": "zoe", "csrf": f["csrf"]})
        assert status == 303 and headers["location"].startswith("/a/")
        assert c.request(srv.base + "/join", {"nickname": "zoe", "csrf": f["csrf"]})[0] == 400  # taken
        url, html, _ = c.page(srv.base + headers["location"] + "?lang=en")
        assert "Prefer the <strong>correct</strong> answer. &lt;b&gt;raw&lt;/b&gt;" in html
        assert "Correctness:" not in html  # the file replaces the default guide
        token_url = url.split("?")[0].rsplit("/", 1)[0]
        n = progress(html)[1]
        assert n == 6 + 1 + 1  # six pairs, one repeat, one gold pair
        with _store(fresh) as store:
            items = store.items("zoe")
        g = next(k for k, it in enumerate(items) if it.kind == "gold")
        _, gold_html, _ = c.page(f"{token_url}/{g}")
        assert "What is 2+2?" in gold_html and "gold" not in gold_html.lower().replace("golden", "")
        for pos in range(n):
            vote(c, f"{token_url}/{pos}", "1" if items[pos].shown_first == "answer_1" or pos != g else "2")
        owner = Client().page(srv.links["owner"])[1]
        assert "100.0% (1/1)" in owner  # zoe's gold accuracy
        assert "Human leaderboard" in owner and MODELS[0] in owner
    assert all(h.task != "gold" for h in rundir.read_human(fresh))


def test_a_multi_turn_item_shows_every_turn_and_each_models_whole_conversation(tmp_path: Path) -> None:
    from harness.app.human_serve import Options, Study
    from harness.core.types import Answer, Question, Task
    from harness.core.votes import Item

    run_dir = tmp_path / "run"
    q = Question("q1", "What is 3 plus 3?", "math", "6", turns=("Now double it.",), turn_references=("12",))
    rundir.write_questions(run_dir, [Task("mt", "en", "testing", "A two-turn task.", (q,))])
    rundir.write_answers(run_dir, [Answer("x", "mt", "q1", "Six.", turns=("Twelve.",)),
                                   Answer("y", "mt", "q1", "Seven.", turns=("Fourteen.",))])
    study = Study(run_dir, Options())
    lang, question, _, reference, first, second = study.texts(Item("pair", "mt", "q1", "x", "y", "y"))
    assert lang == "en"
    assert question == "**Turn 1**\n\nWhat is 3 plus 3?\n\n**Turn 2**\n\nNow double it."
    assert reference == "**Turn 1**\n\n6\n\n**Turn 2**\n\n12"
    assert (first, second) == ("**Turn 1**\n\nSeven.\n\n**Turn 2**\n\nFourteen.",
                               "**Turn 1**\n\nSix.\n\n**Turn 2**\n\nTwelve.")
