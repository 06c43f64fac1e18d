"""A small judged run directory for report tests: real ``harness judge`` over a scripted HTTP judge.

Answers carry everything a report must survive: LaTeX specials, HTML that would run script if
it were ever interpreted, Chinese text, and a fine-tuned candidate with its adapter's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from scripted_server import ScriptedServer

from harness.app.cli import main
from harness.core import files, rundir
from harness.finetune.train import FinetuneConfig, config_row

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
SPECIALS = r"Costs 50% & more: $5 #1 a_b {x} ~y ^z \path [1]"
MODELS = ("base", "ft_v2&co", "chatgpt")
TEXT = {
    "en": ("Consideration is the value each party gives in a contract; without it a promise is usually "
           "not binding."),
    "zh": "对价是合同双方各自给予的价值；没有对价，承诺通常不具有约束力。",
}


def judge_reply(body: dict[str, Any]) -> str:
    """A deterministic judge that explains itself (with hostile text of its own) and then decides."""
    text = body["messages"][-1]["content"]
    digest = hashlib.sha256(text.encode("utf-8")).digest()[0]
    label = "[[A]]" if digest % 3 == 0 else "[[B]]" if digest % 3 == 1 else "[[C]]"
    if "ft_v2" in text and digest % 2:
        label = "[[A]]"
    return f"Both answers discuss the question. {XSS} Verdict: {label}"


def _answer(model: str, lang: str, qid: str) -> str:
    base = TEXT[lang]
    if model == "ft_v2&co":
        return f"{base} ({qid}) ft_v2 adds detail.\n\nSecond paragraph. {SPECIALS}"
    if model == "chatgpt" and qid == "q01":
        return f"{base} {XSS}"
    return f"{base} ({qid}, {model})"


def write_answers(tmp_path: Path, lang: str = "en") -> Path:
    """Answers for two tasks x 3 questions x 3 models, and a fine-tuned model's adapter files."""
    run = tmp_path / f"run_{lang}"
    run.mkdir()
    adapter = tmp_path / f"adapter_{lang}"
    adapter.mkdir()
    cfg = FinetuneConfig(base="embedded", out=adapter, max_steps=6)
    manifest = {"base": "embedded", "data": "tasks/train/en_law.jsonl", "train_records": 40,
                "eval_records": 5, "config": config_row(cfg), "steps": 6, "train_loss": 2.1,
                "eval_loss_before": 2.5, "eval_loss_after": 2.0}
    (adapter / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    log = [{"step": 0, "eval_loss": 2.5}, *({"step": s, "loss": 2.6 - 0.1 * s} for s in range(1, 7)),
           {"step": 6, "eval_loss": 2.0}]
    (adapter / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log), encoding="utf-8")
    tasks = ("en_law", "en_medical") if lang == "en" else ("zh_law", "zh_finance")
    specs = {"base": "embedded", "ft_v2&co": f"embedded+lora:{adapter}", "chatgpt": "openai:gpt-4o-mini"}
    rows = [{"model": m, "task": t, "question_id": q, "answer": _answer(m, lang, q), "spec": specs[m]}
            for t in tasks for q in ("q01", "q02", "q03") for m in MODELS]
    files.write_jsonl(run / rundir.ANSWERS, rows)
    return run


def judge_spec(server: ScriptedServer) -> str:
    return f"openai:judge@{server.url}"


def judge(run: Path, server: ScriptedServer) -> None:
    """``harness judge`` (both orders, then the reports) with the scripted judge."""
    assert main(["judge", str(run), "--judge", judge_spec(server), "--prompt", "mtbench_pairwise",
                 "--judge-method", "generate", "--no-progress"]) == 0


def make_run(tmp_path: Path, lang: str = "en") -> Path:
    """A judged run directory with its reports; returns the run directory."""
    run = write_answers(tmp_path, lang)
    with ScriptedServer(judge_reply) as server:
        judge(run, server)
    return run


def need(tool: str, install: str) -> str:
    """The tool's path; skipped where it is not installed, but CI (which installs it) must have it."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing; .ci/run installs it ({install})")
        pytest.skip(f"{tool} not installed ({install})")
    return path
