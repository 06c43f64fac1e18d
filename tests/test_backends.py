"""Local backends: embedded, hf:DIR, +lora:DIR, and plugins from entry points."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness import tasks
from harness.core.errors import SpecError
from harness.core.types import DecodingParams
from harness.models.backends import load_backend, parse_spec
from harness.models.backends.embedded import converted_dir

QUESTIONS = [[{"role": "user", "content": "What is the capital of France?"}],
             [{"role": "user", "content": "Write one sentence about the sea."}]]
GREEDY = DecodingParams(max_new_tokens=16)


@pytest.fixture(scope="module")
def embedded_dir() -> Path:
    """The embedded model converted to a plain transformers directory (by loading it once)."""
    load_backend("embedded").generate(QUESTIONS[:1], DecodingParams(max_new_tokens=1))
    saved = converted_dir()
    assert (saved / "config.json").is_file() and (saved / "model.safetensors").is_file()
    return saved


@pytest.mark.slow
def test_embedded_answers_and_batches_with_left_padding() -> None:
    backend = load_backend("embedded")
    batched = backend.generate(QUESTIONS, GREEDY)
    alone = [backend.generate([q], GREEDY)[0] for q in QUESTIONS]
    assert "paris" in batched[0].lower()
    assert batched == alone  # left padding keeps each row's continuation intact


@pytest.mark.slow
def test_hf_backend_loads_a_local_directory(embedded_dir: Path) -> None:
    assert load_backend(f"hf:{embedded_dir}").generate(QUESTIONS, GREEDY) == \
        load_backend("embedded").generate(QUESTIONS, GREEDY)


@pytest.mark.slow
def test_lora_adapter_is_applied(embedded_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(embedded_dir)
    # A deliberately non-zero adapter (peft starts B at zero, which would change nothing).
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    adapted = load_backend(f"embedded+lora:{tmp_path / 'adapter'}")
    conv = QUESTIONS[0]
    labels = ["Paris.", "London."]
    assert adapted.label_logprobs(conv, labels) != load_backend("embedded").label_logprobs(conv, labels)


def test_spec_parsing_and_errors() -> None:
    assert parse_spec("embedded").scheme == "embedded"
    assert parse_spec("hf:a/b+lora:x").adapter == "x"
    with pytest.raises(SpecError, match="'\\+lora:' needs an adapter directory"):
        parse_spec("embedded+lora:")
    with pytest.raises(SpecError, match="expected SCHEME"):
        parse_spec(":x")


def test_missing_hf_model_is_one_clear_error(tmp_path: Path) -> None:
    from harness.core.errors import BackendError

    with pytest.raises(BackendError, match="cannot load model"):
        load_backend(f"hf:{tmp_path / 'nothing-here'}").generate(QUESTIONS[:1], GREEDY)


def test_task_from_an_installed_package_entry_point(task_file: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    dist = site / "harness_extra-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: harness-extra\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[harness.tasks]\nextra_math = harness_extra_tasks:task\n")
    (site / "harness_extra_tasks.py").write_text(f"def task():\n    return {str(task_file)!r}\n")
    monkeypatch.syspath_prepend(str(site))
    assert "extra_math" in tasks.available()
    loaded = tasks.load_task("extra_math")
    assert loaded.id == "extra_math" and len(loaded.questions) == 20
    sys.modules.pop("harness_extra_tasks", None)
