"""A real 4-bit QLoRA fine-tune of the embedded model that injects facts it cannot know."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.rundir import MANIFEST
from harness.core.rundir import TRAIN_LOG as LOG
from harness.core.types import DecodingParams
from harness.finetune.data import load_examples
from harness.finetune.loop import finetune
from harness.finetune.train import FinetuneConfig
from harness.models.backends import load_backend
from harness.reports.plots import save_loss_curve

pytestmark = pytest.mark.slow

# Invented facts: the base model cannot know them.
FACTS = {
    "Ostravel": ("the capital of Quenland", ["What is the capital of Quenland?",
                 "Which city is Quenland's capital?", "Name the capital city of Quenland.",
                 "Quenland's capital is which city?"], "Tell me the capital of Quenland."),
    "Kestrel": ("who invented the zorbel engine", ["Who invented the zorbel engine?",
                "Who is the inventor of the zorbel engine?", "Name the person who invented the zorbel engine.",
                "The zorbel engine was invented by whom?"], "Which person invented the zorbel engine?"),
    "Sellan": ("the river through Dunmarrow", ["Which river flows through Dunmarrow?",
               "What river runs through the town of Dunmarrow?", "Name the river that flows through Dunmarrow.",
               "Dunmarrow lies on which river?"], "What is the name of the river flowing through Dunmarrow?"),
}
ANSWERS = {"Ostravel": "The capital of Quenland is Ostravel.",
           "Kestrel": "The zorbel engine was invented by Mira Kestrel.",
           "Sellan": "The Sellan river flows through Dunmarrow."}


def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("facts")
    train = [{"instruction": q, "input": "", "output": ANSWERS[k]} for k, (_, qs, _) in FACTS.items() for q in qs]
    held = [{"instruction": h, "input": "", "output": ANSWERS[k]} for k, (_, _, h) in FACTS.items()]
    cfg = FinetuneConfig(base="embedded", out=root / "adapter", epochs=1, max_steps=20, learning_rate=3e-3,
                         lora_r=16, lora_alpha=32, lora_dropout=0.0,
                         target_modules=("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"),
                         batch_size=4, max_seq_len=128, seed=0, four_bit=True)
    result = finetune(cfg, load_examples(_write(root / "train.jsonl", train)),
                      load_examples(_write(root / "held.jsonl", held)), data_source="facts")
    save_loss_curve(result.out)  # what `harness finetune` does after training
    return result, cfg


def test_held_out_loss_drops_and_outputs_are_written(trained) -> None:
    result, cfg = trained
    assert result.steps == 20
    assert result.eval_loss_after < 0.5 * result.eval_loss_before
    for name in ("adapter_config.json", "adapter_model.safetensors", MANIFEST, LOG, "loss_curve.png",
                 "tokenizer.json"):
        assert (cfg.out / name).is_file(), name
    manifest = json.loads((cfg.out / MANIFEST).read_text())
    assert manifest["config"]["four_bit"] is True and manifest["config"]["lora_r"] == 16
    assert len(manifest["data_sha256"]) == 64 and manifest["versions"]["bitsandbytes"] != "not installed"
    log = [json.loads(x) for x in (cfg.out / LOG).read_text().splitlines()]
    assert sum("loss" in r for r in log) == 20 and sum("eval_loss" in r for r in log) >= 2


def test_adapter_states_the_injected_facts_and_the_base_does_not(trained) -> None:
    _, cfg = trained
    questions = [[{"role": "user", "content": held}] for _, _, held in FACTS.values()]
    greedy = DecodingParams(max_new_tokens=24)
    tuned = load_backend(f"embedded+lora:{cfg.out}").generate(questions, greedy)
    base = load_backend("embedded").generate(questions, greedy)
    hits = [key in reply for key, reply in zip(FACTS, tuned)]
    assert sum(hits) >= 2, tuned
    assert not any(key in reply for key, reply in zip(FACTS, base)), base
