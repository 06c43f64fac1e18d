"""``hf:PATH_OR_ID[+lora:ADAPTER_DIR]``: a local or Hugging Face transformers model.

A hub id needs the network the first time (then the Hugging Face cache); a local directory never
does. The chat template comes from the tokenizer.
"""

from __future__ import annotations

from typing import Any

from harness.core.errors import BackendError, SpecError
from harness.models.backends._transformers import TransformersBackend, missing_package

HELP = "hf:PATH_OR_ID[+lora:ADAPTER_DIR]  local transformers model (chat template)"


def load_model(source: str, adapter: str | None, **kwargs: Any) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a directory or hub id, with an optional LoRA adapter."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise missing_package(exc.name or "transformers", "pip install harness") from exc
    try:
        tok = AutoTokenizer.from_pretrained(source, **kwargs)
        dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(
            f"cannot load model {source!r}: {first} (a hub id needs network access the first time; "
            "a local directory must hold config.json and weights)"
        ) from None
    if torch.cuda.is_available():
        model = model.to("cuda")  # type: ignore[arg-type]
    return apply_adapter(model, adapter), tok


def apply_adapter(model: Any, adapter: str | None) -> Any:
    """Wrap ``model`` with the peft LoRA adapter in ``adapter`` (if any)."""
    if not adapter:
        return model
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, adapter)
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load LoRA adapter {adapter!r}: {exc}") from None


def create(spec: str, arg: str, adapter: str | None) -> TransformersBackend:
    if not arg.strip():
        raise SpecError(f"model spec {spec!r}: 'hf:' needs a model path or hub id, e.g. hf:gpt2")
    return TransformersBackend(spec, lambda: load_model(arg, adapter))
