"""``harness human serve`` over HTTP: link tokens, CSRF, idempotent votes, undo and re-votes, the
votes as the run's human labels, export, no model names for annotators, and a SIGKILL restart; and
hostile input: replayed nonces, deep JSON, huge positions, foreign Host headers, revoked links,
look-alike nicknames, a port in use, a bad run file under the owner page, a pathological answer."""

from __future__ import annotations

import csv
import http.client
import io
import json
import random
import re
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from human_server import MODELS, Client, Server, copy_run, make_bilingual_run, progress, vote

from harness.app.agreement_command import load as load_agreement
from harness.app.cli import main
from harness.core import files, rundir
from harness.core.votes import VoteStore, token_hash
from harness.web import items as human_items

pytestmark = pytest.mark.slow  # starts servers

NAMES = ("ann1", "ann2", "ann3", "ann4", "ann5", "ann6", "ann7", "ann8", "ann9")


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
    from harness.core.types import Answer, Question, Task
    from harness.core.votes import Item
    from harness.web.study import Options, Study

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


def _token_url(client: Client, link: str) -> tuple[str, dict[str, str]]:
    """The annotator's ``/a/TOKEN`` and the form fields of the page their link opens."""
    url, _, f = client.page(link)
    return url.split("?")[0].rsplit("/", 1)[0], f


def test_a_nonce_replayed_for_anything_else_is_a_409_never_an_ack(server: Server, run: Path) -> None:
    c8, c9 = Client(), Client()
    base8, f8 = _token_url(c8, server.links["ann8"])
    base9, f9 = _token_url(c9, server.links["ann9"])
    data = {"csrf": f8["csrf"], "position": "0", "nonce": f8["nonce"], "choice": "1", "reason": "r"}
    status, _, text = c8.request(f"{base8}/vote", data)
    assert status == 200 and json.loads(text)["choice"] == "1"
    assert c8.request(f"{base8}/vote", data)[0] == 200  # the same request again: what is stored
    for changed in ({"choice": "2"}, {"position": "1"}, {"reason": "other"}):
        status, _, text = c8.request(f"{base8}/vote", {**data, **changed})
        reply = json.loads(text)
        assert status == 409 and reply["ok"] is False, changed
        assert (reply["position"], reply["choice"]) == (0, "1") and reply["next"] == f"{base8[len(server.base):]}/0"
    # Without the page's script (a plain form post), a 409 too, not a redirect as if saved.
    assert c8.request(f"{base8}/vote", {**data, "choice": "2"}, json_reply=False)[0] == 409
    # ann9 replays ann8's nonce on their own link: refused, told nothing of ann8's vote.
    mine = {"csrf": f9["csrf"], "position": "0", "nonce": f8["nonce"], "choice": "2"}
    status, _, text = c9.request(f"{base9}/vote", mine)
    assert status == 409 and "choice" not in json.loads(text)
    assert vote(c9, f"{base9}/0", "tie")[0] == 200
    # Undo nonces: ann8's undo nonce, replayed by ann9, undoes nothing of theirs.
    undo = {"csrf": f8["csrf"], "nonce": f8["undo_nonce"]}
    assert c8.request(f"{base8}/undo", undo)[0] == 200
    assert c9.request(f"{base9}/undo", {"csrf": f9["csrf"], "nonce": f8["undo_nonce"]})[0] == 409
    with _store(run) as store:
        assert [(v.position, v.choice, v.undone) for v in store.history("ann8")] == [(0, "1", True)]
        assert [(v.position, v.choice, v.undone) for v in store.history("ann9")] == [(0, "tie", False)]
    assert "Traceback" not in server.log_text()


def test_hostile_bodies_and_paths_are_short_4xx(server: Server) -> None:
    c = Client()
    base, f = _token_url(c, server.links["ann7"])
    nested = b"[" * 8000 + b"]" * 8000  # 16,000 bytes: under the body limit, too deep for json
    as_json = {"Content-Type": "application/json"}
    cases = [
        (f"{base}/vote", nested, as_json, 400),
        (f"{base}/vote", b'{"a": ' * 2000 + b"1" + b"}" * 2000, as_json, 400),
        (f"{base}/vote", json.dumps({"csrf": f["csrf"], "position": 0, "nonce": f["nonce"],
                                     "choice": "1"}).encode(), as_json, 400),  # a number, not a string
        (f"{base}/vote", json.dumps({"csrf": f["csrf"], "choice": ["1"]}).encode(), as_json, 400),
        (f"{base}/vote", json.dumps(["csrf"]).encode(), as_json, 400),
        (f"{base}/vote", b'{"csrf": "%s", "position": "0", "choice": "1", "nonce": "\\ud800abcdefgh"}'
         % f["csrf"].encode(), as_json, 400),
        (f"{base}/vote", json.dumps({"csrf": f["csrf"], "position": "9" * 5000, "choice": "1",
                                     "nonce": f["nonce"]}).encode(), as_json, 400),
        (f"{base}/vote", b"csrf=" + f["csrf"].encode() + b"&position=0&choice=1&nonce=" + f["nonce"].encode()
         + b"&seconds=nan", {}, 400),
        (f"{base}/vote", b"x", {"Origin": "http://["}, 403),
    ]
    for url, body, headers, expected in cases:
        status, _, text = c.request(url, raw=body, headers=headers)
        assert status == expected and len(text) < 200, (body[:60], status, text)
    for path in ("9" * 5000, "-1", "1e3", "\u0663", "vote"):
        status, _, text = c.request(f"{base}/{urllib.parse.quote(path)}")
        assert status == 404 and len(text) < 200, (path[:20], status)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:  # a non-ASCII digit
        raw.sendall(f"POST {base[len(server.base):]}/vote HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                    "Content-Length: \u00b2\r\n\r\nxx".encode("latin-1"))
        assert raw.recv(100).split(b" ")[1] in (b"400", b"413")
    with _store(server.run) as store:
        assert store.history("ann7") == []
    assert "Traceback" not in server.log_text()


@pytest.fixture(scope="module")
def open_server(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server without named annotators (open sign-up), on a run of its own."""
    with Server(copy_run(run, tmp_path_factory.mktemp("open") / "run")) as s:
        yield s


def test_only_the_servers_own_host_names_are_answered(open_server: Server) -> None:
    c = Client()
    port = open_server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert c.request(open_server.base + "/", headers={"Host": host})[0] == 200, host
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", "127.0.0.1", ""):
        for path in ("/", "/static/human.css", "/owner/x"):
            status, _, text = c.request(open_server.base + path, headers={"Host": host})
            assert status == 421 and text == "unknown host name", (host, path)
    # Open sign-up is exactly what a rebinding page would use: it cannot join either.
    _, _, f = c.page(open_server.base + "/")
    status, _, _ = c.request(open_server.base + "/join", {"nickname": "mallory", "csrf": f["csrf"]},
                             headers={"Host": f"evil.example:{port}"})
    assert status == 421


def test_nicknames_are_one_person_whatever_their_case_or_width(open_server: Server) -> None:
    c = Client()
    _, _, f = c.page(open_server.base + "/")
    nested = b"[" * 8000 + b"]" * 8000
    assert c.request(open_server.base + "/join", raw=nested, headers={"Content-Type": "application/json"})[0] == 400
    status, headers, _ = c.request(open_server.base + "/join", {"nickname": "Alice", "csrf": f["csrf"]})
    assert status == 303
    for taken in ("alice", "ALICE", "\uff41\uff4c\uff49\uff43\uff45", " alice "):
        status, _, html = c.request(open_server.base + "/join", {"nickname": taken, "csrf": f["csrf"]},
                                    json_reply=False)
        assert status == 400 and "taken" in html, taken
    with _store(open_server.run) as store:
        assert store.annotators() == ["alice"]
    assert "Traceback" not in open_server.log_text()


def test_annotator_names_are_folded(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fresh = copy_run(run, tmp_path / "run")
    assert main(["human", "serve", "--run", str(fresh), "--annotators", "Alice,\uff21\uff2c\uff29\uff23\uff25"]) == 2
    err = capsys.readouterr().err
    assert "appears twice" in err and err.count("\n") == 1
    assert not (fresh / rundir.VOTES).exists()


def test_links_of_annotators_no_longer_listed_stop_working(run: Path, tmp_path: Path) -> None:
    fresh = copy_run(run, tmp_path / "run")
    with Server(fresh, "--annotators", "alice,bob") as first:
        alice, bob = first.links["alice"], first.links["bob"]
        assert vote(Client(), bob, "1")[0] == 200
    with Server(fresh, "--annotators", "ALICE") as second:  # bob is no longer listed
        assert set(second.links) == {"alice", "owner"}
        c = Client()
        assert c.page(alice.replace(first.base, second.base))[0]  # the same person (folded): still works
        bob_url = bob.replace(first.base, second.base)
        assert c.request(bob_url)[0] == 403 and c.request(bob_url + "/0")[0] == 403
        _, _, f = c.page(second.links["alice"])
        status, _, _ = c.request(bob_url + "/vote", {"csrf": f["csrf"], "position": "0", "nonce": "n" * 16,
                                                     "choice": "2"})
        assert status == 403
        assert "bob" in Client().page(second.links["owner"])[1]  # his votes are still counted
    with _store(fresh) as store:
        assert [v.choice for v in store.history("bob")] == ["1"]
    assert any(h.annotator == "bob" for h in rundir.read_human(fresh))


def test_a_failed_bind_is_one_error_line_and_stores_nothing(run: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    fresh = copy_run(run, tmp_path / "run")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for extra, words in ((["--port", str(port)], f"--port {port}"),
                             (["--host", "no-such-host.invalid"], "--host no-such-host.invalid"),
                             (["--host", "a" * 300], "--host")):
            assert main(["human", "serve", "--run", str(fresh), "--annotators", "alice", *extra]) == 2
            out, err = capsys.readouterr()
            assert out == "" and err.startswith("harness: error: ") and err.count("\n") == 1, err
            assert words in err
            assert not (fresh / rundir.VOTES).exists()


def test_the_owner_page_shows_a_bad_run_file_in_one_line(run: Path, tmp_path: Path) -> None:
    fresh = copy_run(run, tmp_path / "run")
    files.write_jsonl(fresh / rundir.HUMAN, [{"task": "en_law", "question_id": "q01", "model_a": MODELS[0]}])
    with Server(fresh, "--annotators", "alice") as srv:
        status, _, html = Client().request(srv.links["owner"])
        assert status == 200
        error = re.search(r'<p id="error" class="error">(.*?)</p>', html, re.S)
        assert error and "human.jsonl" in error.group(1) and "\n" not in error.group(1)
        assert "Traceback" not in srv.log_text()


def test_a_pathological_answer_renders_in_linear_time() -> None:
    from harness.web.text import MAX_TEXT, markdown

    hostile = "**a " * 12000  # 48 KB: the lazy bold pattern took seconds on it
    took = []
    for _ in range(3):
        start = time.perf_counter()
        html = str(markdown(hostile))
        took.append(time.perf_counter() - start)
    assert min(took) < 0.1, took
    assert "<strong>" not in html and "28,000 characters, is not shown" in html
    assert str(markdown("x" * MAX_TEXT)).count('class="cut"') == 0
    assert "其余 1 个字符未显示" in str(markdown("x" * (MAX_TEXT + 1), "zh"))


def test_bold_is_what_the_old_pattern_found() -> None:
    from harness.web.text import _bold

    old = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")  # quadratic, but the reference on short lines
    rng = random.Random(7)
    for _ in range(5000):
        text = "".join(rng.choice("**ab \t") for _ in range(rng.randint(0, 16)))
        assert _bold(text) == old.sub(r"<strong>\1</strong>", text), text


def test_a_store_from_before_undos_named_their_annotator_still_refuses_others(tmp_path: Path) -> None:
    from harness.core.votes import Item, NonceConflict

    path = tmp_path / "votes.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE undos (nonce TEXT PRIMARY KEY, vote_id INTEGER, created REAL NOT NULL)")
    db.commit()
    db.close()
    store = VoteStore(path)
    try:
        for name in ("a", "b"):
            store.assign(name, [Item("pair", "t", "q", "x", "y", "x")])
        store.vote("a", 0, "1", nonce="vote-nonce-a")
        with pytest.raises(NonceConflict):
            store.vote("b", 0, "1", nonce="vote-nonce-a")
        assert store.undo("a", nonce="undo-nonce-a") == 0
        with pytest.raises(NonceConflict):
            store.undo("b", nonce="undo-nonce-a")
        db = store.db
        db.execute("INSERT INTO undos (nonce, vote_id, created) VALUES ('old-undo', 1, 0)")  # an old row
        assert store.undo("a", nonce="old-undo") == 0
        with pytest.raises(NonceConflict):
            store.undo("b", nonce="old-undo")
    finally:
        store.close()
