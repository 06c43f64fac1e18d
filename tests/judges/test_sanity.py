"""The judges' sanity set: its degraded copies, and `harness prompts test --set sanity` on scripted judges."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from scripted_server import ScriptedServer

from harness.app.cli import main
from harness.core.text import has_chinese
from harness.judges.sanity import KINDS, load_sanity_items

ITEMS = load_sanity_items()
COHERENT = {it.question: it.first for it in ITEMS}


def test_every_coherent_answer_meets_each_degradation_in_both_languages() -> None:
    assert len(ITEMS) == 12 * len(KINDS) and ITEMS == load_sanity_items()  # deterministic
    for kind in KINDS:
        mine = [it for it in ITEMS if it.kind == kind]
        assert sorted(it.language for it in mine) == ["en"] * 6 + ["zh"] * 6, kind
    for it in ITEMS:
        assert it.second.strip() and it.second != it.first and not it.equal, it.id
        if it.kind == "truncated":
            assert it.first.startswith(it.second) and len(it.second) < 0.5 * len(it.first)
        elif it.kind == "wrong_language":
            assert has_chinese(it.second) != (it.language == "zh"), it.id
        elif it.kind == "repeated_question":
            assert it.question.split("\n\n")[0] in it.second
        elif it.kind == "off_topic":
            assert it.second in COHERENT.values() and it.second != it.first
        elif it.kind == "gibberish" and it.language == "en":
            # Unreadable: few of its tokens are words of the answer it was made from.
            words = set(re.findall(r"[a-z]+", it.first.lower()))
            tokens = re.findall(r"[a-z]+", it.second.lower())
            assert sum(t in words for t in tokens) < 0.2 * len(tokens), it.second


def coherent_judge(body: dict[str, Any]) -> str:
    """Prefers the coherent answer, wherever it is shown."""
    text = body["messages"][-1]["content"]
    question = text.split("Question: ", 1)[1].split("\n\nAssistant 1: ", 1)[0].strip()
    second = text.split("\n\nAssistant 2: ", 1)[1].strip()
    worse = second == COHERENT[question]
    return f"Having read both:\nAssistant 1 is {'worse than' if worse else 'better than'} Assistant 2"


def first_slot(body: dict[str, Any]) -> str:
    return "Assistant 1 is better than Assistant 2"


def _sanity(reply: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, list[str]]:
    with ScriptedServer(reply) as server:
        assert main(["prompts", "test", "assignment_en", "--judge", f"openai:scripted@{server.url}",
                     "--set", "sanity", "--out", str(tmp_path / "cache")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "on the sanity set" in lines[0]
    return {r.split()[0]: r.split()[1:] for r in lines[3:]}


def test_a_judge_that_prefers_coherent_text_passes_every_group(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    rows = _sanity(coherent_judge, tmp_path, capsys)
    assert set(rows) == {"all", "en", "zh", *KINDS}
    assert rows["all"] == ["120", "100.0%", "100.0%", "100.0%"]
    assert all(row[1:] == ["100.0%", "100.0%", "100.0%"] for row in rows.values())


def test_a_first_slot_judge_is_caught(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _sanity(first_slot, tmp_path, capsys)
    assert rows["all"] == ["120", "100.0%", "50.0%", "0.0%"]
    assert rows["gibberish"] == ["24", "100.0%", "50.0%", "0.0%"]
