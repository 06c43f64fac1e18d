"""``harness human serve`` in a subprocess on loopback, and a small cookie-keeping HTTP client.

The run has an English and a Chinese task, two models whose names appear in no answer (so a test
can look for them in every annotator-facing response), and a hostile answer.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from conftest import wait_until_up
from judged_run import XSS, judge, judge_reply
from scripted_server import ScriptedServer

from harness.core import files, rundir

MODELS = ("zephyrmodelx", "quokkamodely")
TEXT = {"en_law": "Consideration is **value** each party gives.\n\n- a promise\n- an act",
        "zh_law": "对价是合同双方各自给予的价值。"}


def make_bilingual_run(tmp_path: Path) -> Path:
    """Two tasks (en_law, zh_law) x 3 questions x 2 models, judged by the scripted judge."""
    run = tmp_path / "run"
    run.mkdir()
    rows = []
    for task, text in TEXT.items():
        for q in ("q01", "q02", "q03"):
            for k, m in enumerate(MODELS):
                answer = f"{text} ({q}, {'left' if k == 0 else 'right'} side)"
                if q == "q01" and k == 1:
                    answer += " " + XSS
                rows.append({"model": m, "task": task, "question_id": q, "answer": answer, "spec": "embedded"})
    files.write_jsonl(run / rundir.ANSWERS, rows)
    with ScriptedServer(judge_reply) as server:
        judge(run, server)
    return run


def copy_run(run: Path, dest: Path) -> Path:
    """A fresh copy of ``run``'s answers and judgments at ``dest`` (no votes yet)."""
    dest.mkdir(parents=True)
    for name in ("answers.jsonl", "judgments.jsonl", "battles.jsonl", "run.json"):
        if (run / name).exists():
            (dest / name).write_bytes((run / name).read_bytes())
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m harness human serve`` with the given options; ``links`` maps NAME to URL."""

    def __init__(self, run: Path, *extra: str) -> None:
        self.run = run
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = run.parent / f"serve-{self.port}.log"
        self.out = run.parent / f"serve-{self.port}.out"
        cmd = [sys.executable, "-m", "harness", "human", "serve", "--run", str(run), "--port", str(self.port),
               *extra]
        with self.out.open("w") as out, self.log.open("w") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        try:
            wait_until_up(f"{self.base}/static/human.css", self.proc, what="harness human serve", log=self.log)
        except RuntimeError:
            self.stop()
            raise
        self.links = dict(line.split(": ", 1) for line in self.out.read_text().splitlines() if ": " in line)

    def log_text(self) -> str:
        """What the server wrote to stderr so far (a traceback there is a bug)."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Client:
    """A browser-like client: keeps cookies, does not follow redirects, reads the page's form fields."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def request(self, url: str, data: dict[str, Any] | None = None, *, json_reply: bool = True,
                headers: dict[str, str] | None = None, raw: bytes | None = None) -> tuple[int, dict[str, str], str]:
        body = raw if raw is not None else (urllib.parse.urlencode(data).encode() if data is not None else None)
        req = urllib.request.Request(url, data=body, headers=dict(headers or {}))
        if json_reply and body is not None:
            req.add_header("Accept", "application/json")
        try:
            with self.opener.open(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode("utf-8")

    def page(self, url: str) -> tuple[str, str, dict[str, str]]:
        """Follow redirects from ``url`` to a page: (final url, html, the vote form's fields)."""
        for _ in range(5):
            status, headers, text = self.request(url)
            if status in (301, 302, 303, 307):
                url = urllib.parse.urljoin(url, headers["location"])
                continue
            assert status == 200, (status, text)
            return url, text, fields(text)
        raise AssertionError("too many redirects")


def fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page's forms (the vote form's nonce first; ``undo_nonce`` the undo's)."""
    out: dict[str, str] = {}
    for name, value in re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', html):
        out["undo_nonce" if name == "nonce" and "nonce" in out else name] = value
    return out


def progress(html: str) -> tuple[int, int]:
    """(answered, total) of the page's progress line, in either language."""
    m = re.search(r'id="progress"[^>]*>[^<\d]*(\d+)[^<\d]*(\d+)', html)
    assert m, html
    return int(m.group(1)), int(m.group(2))


def vote(client: Client, page_url: str, choice: str, **extra: str) -> tuple[int, dict[str, Any] | str]:
    """Open ``page_url`` and vote ``choice`` there; the JSON reply (or the error text)."""
    url, _, f = client.page(page_url)
    token_url = url.split("?")[0].rsplit("/", 1)[0]
    data = {"csrf": f["csrf"], "position": f["position"], "nonce": f["nonce"], "choice": choice, **extra}
    status, _, text = client.request(f"{token_url}/vote", data)
    return status, (json.loads(text) if status == 200 else text)
