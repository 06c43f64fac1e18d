"""`harness finetune --task` offline, then a run config with the base and its adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.app.cli import main

pytestmark = pytest.mark.slow


def test_finetune_a_task_then_rank_base_and_adapter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "medical"
    assert main(["finetune", "--base", "embedded", "--task", "en_medical", "--out", str(out),
                 "--max-steps", "2", "--batch-size", "2", "--max-seq-len", "384"]) == 0
    said = capsys.readouterr().out
    assert "trained 2 steps on" in said and f"embedded+lora:{out}" in said
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["base"] == "embedded" and manifest["data"].endswith("en_medical.jsonl")
    assert manifest["train_records"] + manifest["eval_records"] == 48

    config = tmp_path / "compare.yaml"
    config.write_text(
        f"tasks: [en_medical]\nlimit: 2\nout: run\n"
        f"models:\n  - {{name: base, spec: embedded, decoding: {{max_new_tokens: 16}}}}\n"
        f"  - {{name: base+lora, spec: 'embedded+lora:{out}', decoding: {{max_new_tokens: 16}}}}\n",
        encoding="utf-8")
    assert main(["run", str(config), "--no-progress"]) == 0
    rows = (tmp_path / "run" / "leaderboard.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[1] for r in rows) == ["base", "base+lora"]


def test_resume_continues_from_the_last_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "resumed"
    args = ["finetune", "--base", "embedded", "--task", "en_law", "--out", str(out), "--batch-size", "2",
            "--max-seq-len", "384", "--no-4bit"]
    assert main([*args, "--max-steps", "2"]) == 0
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    capsys.readouterr()
    # Asked for more steps, the same command picks up at step 2 instead of starting over.
    assert main([*args, "--max-steps", "3"]) == 0
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in log if "loss" in r]
    assert steps == [1, 2, 3]
