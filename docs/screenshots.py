"""The README's screenshots of ``harness human serve``: the voting page in English and in Chinese,
and the owner's results page, taken in Debian's headless Chromium (through playwright).

    python docs/screenshots.py            # writes docs/human_vote_en.png, human_vote_zh.png, human_owner.png

It makes a small run of its own (two tasks, three questions, two candidates, judged offline by
``reference:chrf``), serves it on loopback, has one annotator vote on every pair and a second on
some, and photographs the pages. Nothing leaves the machine.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness.app.cli import main
from harness.core import files, rundir

DOCS = Path(__file__).resolve().parent
SHOTS = ("human_vote_en.png", "human_vote_zh.png", "human_owner.png")
ANSWERS = {
    "en_law": ("Consideration is what each party gives in exchange for the other's promise: a promise, "
               "an act or a forbearance.\n\n- Without it, a promise is usually **not binding**.\n- A deed "
               "is the usual exception.",
               "It is the price paid for a contract."),
    "zh_law": ("对价是合同双方为换取对方承诺而给予的价值，可以是承诺、行为或不作为。\n\n"
               "- 没有对价，承诺通常**不具有约束力**。",
               "对价就是合同的价格。"),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_run(root: Path) -> Path:
    run = root / "run"
    run.mkdir()
    rows = [{"model": model, "task": task, "question_id": q, "answer": text}
            for task, texts in ANSWERS.items() for q in ("q01", "q02", "q03")
            for model, text in zip(("finetuned", "base"), texts)]
    files.write_jsonl(run / rundir.ANSWERS, rows)
    if main(["judge", str(run), "--judge", "reference:chrf", "--no-progress", "--report", "none"]) != 0:
        raise SystemExit("could not judge the screenshot run")
    return run


def main_() -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp))
        port = _free_port()
        out = Path(tmp) / "links.txt"
        with out.open("w") as links:
            server = subprocess.Popen([sys.executable, "-m", "harness", "human", "serve", "--run", str(run),
                                       "--port", str(port), "--annotators", "alice,bob", "--reference"],
                                      stdout=links, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/static/human.css", timeout=2).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.2)
            url = dict(line.split(": ", 1) for line in out.read_text().splitlines() if ": " in line)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                shot = {"en": False, "zh": False}
                for name, votes in (("alice", None), ("bob", 5)):
                    page.goto(url[name], wait_until="load")
                    total = int(re.findall(r"\d+", page.inner_text("#progress"))[1])
                    for pos in range(total if votes is None else votes):
                        lang = "zh" if page.get_attribute("html", "lang") == "zh-CN" else "en"
                        if name == "alice" and not shot[lang]:
                            page.fill("#reason", "clearer and complete" if lang == "en" else "更清楚、更完整")
                            page.screenshot(path=str(DOCS / f"human_vote_{lang}.png"), full_page=True)
                            shot[lang] = True
                        key = "1" if pos % 3 else "3"
                        if page.evaluate("document.activeElement && document.activeElement.id") == "reason":
                            page.click(f"#vote button[data-key='{key}']")  # a key would type a reason
                        else:
                            page.keyboard.press(key)
                        if pos + 1 < total:
                            page.wait_for_url(re.compile(rf"/a/[^/]+/{pos + 1}(\?.*)?$"))
                            page.wait_for_load_state("load")
                        else:
                            page.wait_for_selector("#done")
                page.goto(url["owner"])
                page.screenshot(path=str(DOCS / "human_owner.png"), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    print("wrote", ", ".join(str(DOCS / f) for f in SHOTS))


if __name__ == "__main__":
    main_()
