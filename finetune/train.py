"""A minimal, real QLoRA fine-tune with transformers' Trainer (so ``accelerate launch`` scales it).

The base loads in 4-bit NF4 with double quantization (bitsandbytes, on CPU or CUDA) unless
``four_bit`` is off; peft adds LoRA adapters; prompts are formatted with the chat template that
generation uses and the loss covers the response tokens only. The output folder is a peft adapter
usable as ``BASE+lora:DIR``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.finetune.data import Example
from harness.models.backends import embedded, parse_spec

IGNORE = -100  # label value the loss skips (the prompt tokens)


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything one fine-tune needs; written to the manifest."""

    base: str
    """``embedded`` or ``hf:PATH_OR_ID`` (a local transformers model)."""
    out: Path
    epochs: float = 3.0
    max_steps: int = -1
    """Stop after this many optimizer steps (-1: run all epochs)."""
    learning_rate: float = 2e-4
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    max_seq_len: int = 512
    batch_size: int = 4
    grad_accum: int = 1
    seed: int = 0
    four_bit: bool = True
    eval_fraction: float = 0.1
    """Share of the data held out for the eval loss when no eval set is given."""
    save_every: int | None = None
    """Keep the adapter every N optimizer steps as ``OUT/checkpoints/step-000N`` (for ``harness
    sweep``); None keeps none (the resume checkpoints are kept regardless)."""

    def __post_init__(self) -> None:
        # bool is an int to Python; "save every True steps" is a mistake, not 1
        if self.save_every is not None and (isinstance(self.save_every, bool)
                                            or not isinstance(self.save_every, int) or self.save_every < 1):
            raise HarnessError(f"--save-every {self.save_every!r}: expected a whole number of optimizer "
                               "steps, at least 1")


def base_source(spec: str) -> str:
    """The local directory or hub id to fine-tune from."""
    parsed = parse_spec(spec)
    if parsed.adapter is not None:
        raise HarnessError(f"--base {spec!r}: fine-tune from a base model, not from an adapter")
    if parsed.scheme == "embedded" and not parsed.arg:
        return str(embedded.ensure_converted())
    if parsed.scheme == "hf" and parsed.arg:
        return parsed.arg
    raise HarnessError(f"--base {spec!r}: fine-tuning needs a local model: 'embedded' or 'hf:PATH_OR_ID'")


def encode(tok: Any, example: Example, max_len: int) -> dict[str, list[int]]:
    """Token ids and labels; prompt tokens are masked so only the reply is learned."""
    prompt = tok.apply_chat_template(list(example.messages[:-1]), tokenize=False,
                                     add_generation_prompt=True)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tok(example.messages[-1]["content"] + (tok.eos_token or ""),
                    add_special_tokens=False)["input_ids"]
    ids = prompt_ids + reply_ids
    if len(ids) > max_len:
        raise HarnessError(f"{example.where}: {len(ids)} tokens is over --max-seq-len {max_len}; "
                           "shorten the record or raise the limit")
    return {"input_ids": ids, "labels": [IGNORE] * len(prompt_ids) + reply_ids}


def collate(pad_id: int) -> Callable[[list[dict[str, list[int]]]], dict[str, Any]]:
    """A batch padder for transformers' Trainer: token ids, labels and attention mask as tensors."""
    import torch

    def pad(batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        width = max(len(b["input_ids"]) for b in batch)
        ids = [b["input_ids"] + [pad_id] * (width - len(b["input_ids"])) for b in batch]
        labels = [b["labels"] + [IGNORE] * (width - len(b["labels"])) for b in batch]
        mask = [[1] * len(b["input_ids"]) + [0] * (width - len(b["input_ids"])) for b in batch]
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "attention_mask": torch.tensor(mask)}

    return pad


def split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, round(len(examples) * fraction)) if len(examples) > 1 else 0
    held = set(order[:n_eval])
    return ([e for i, e in enumerate(examples) if i not in held],
            [e for i, e in enumerate(examples) if i in held])


def data_hash(examples: list[Example]) -> str:
    blob = json.dumps([e.messages for e in examples], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def load_for_training(source: str, cfg: FinetuneConfig) -> tuple[Any, Any]:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    cuda = torch.cuda.is_available()
    compute = torch.bfloat16 if cuda else torch.float32
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                               bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=compute) if cfg.four_bit else None
    try:
        tok = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, quantization_config=quant, dtype=compute,
                                                     device_map={"": 0} if cuda else None)
    except OSError as exc:
        raise HarnessError(f"cannot load base model {source!r}: {str(exc).splitlines()[0]}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if cfg.four_bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.target_modules), task_type="CAUSAL_LM")
    try:
        peft_model = get_peft_model(model, lora)
    except ValueError as exc:
        raise HarnessError(f"--target-modules {','.join(cfg.target_modules)}: {exc}") from None
    return peft_model, tok


def config_row(cfg: FinetuneConfig) -> dict[str, Any]:
    row = dataclasses.asdict(cfg)
    row["out"] = str(cfg.out)
    row["target_modules"] = list(cfg.target_modules)
    return row
