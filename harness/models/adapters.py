"""A LoRA adapter's identity: the hash of its files, not the folder they sit in.

A ``BASE+lora:DIR`` spec names a folder, but what decides the answers is the adapter's bytes. So
the cache key of every call holds :func:`keyed_spec` (``BASE+lora:sha256:<hex>``) rather than the
spec as written: retrained weights in the same folder are asked again, and the same adapter moved
or copied elsewhere is not. A serving engine that loads adapters at run time (vLLM, SGLang) is
given :func:`served_name`, a name derived from the same hash, so two contents never share a name
on one server.

The hash covers ``adapter_config.json`` and the weights (``adapter_model.*``, and
``new_embeddings.*`` where an adapter adds tokens): their names and bytes, in sorted order. It is
computed once per folder for as long as those files keep their size, modification time and inode
(a retrained adapter is rewritten, which changes them), so a run of thousands of requests reads
the weights once.

Not handled here: loading an adapter (the backends do), and the folder's other files (tokenizer,
``manifest.json``, training logs, checkpoints), which do not change what the adapter answers.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError, SpecError
from harness.models.backends import ADAPTER_MARK

CONFIG_FILE = "adapter_config.json"
WEIGHT_PREFIXES = ("adapter_model.", "new_embeddings.")
HASH_MARK = "sha256:"
"""How a keyed spec's adapter part begins: ``BASE+lora:sha256:<64 hex digits>``."""
NAME_PREFIX = "harness-"
NAME_DIGITS = 16
"""Hex digits of the hash in a served name: 64 bits, so two adapters on one server never collide
in practice, and the name stays short in logs and ``/v1/models``."""
_CHUNK = 1 << 20


@dataclass(frozen=True)
class _Hashed:
    """One folder's hash, with the state of its files when it was computed."""

    signature: tuple[tuple[str, int, int, int], ...]
    """Each hashed file's name, size, modification time (ns) and inode."""
    digest: str
    """The sha256 of the files, 64 hex digits."""


_HASHED: dict[str, _Hashed] = {}
_LOCK = threading.Lock()


def adapter_files(folder: Path) -> list[Path]:
    """The files of the adapter in ``folder`` that decide its answers, in sorted order.

    Raises :class:`SpecError` when the folder is missing or holds no peft LoRA adapter (no
    ``adapter_config.json``, or no ``adapter_model.*`` weights).
    """
    if not folder.is_dir():
        raise SpecError(f"adapter directory {str(folder)!r} does not exist")
    try:
        names = sorted(e.name for e in os.scandir(folder)
                       if e.is_file() and (e.name == CONFIG_FILE or e.name.startswith(WEIGHT_PREFIXES)))
    except OSError as exc:
        raise HarnessError(f"adapter directory {str(folder)!r}: cannot list it ({exc.strerror})") from None
    if CONFIG_FILE not in names or not any(n.startswith("adapter_model.") for n in names):
        raise SpecError(f"adapter directory {str(folder)!r} holds no peft LoRA adapter (expected "
                        f"{CONFIG_FILE} and adapter_model.safetensors, as `harness finetune` writes)")
    return [folder / n for n in names]


def adapter_hash(path: str | Path) -> str:
    """The sha256 (64 hex digits) of the adapter in folder ``path``: its files' names and bytes.

    Computed once per folder while its files keep their size, modification time and inode.
    """
    folder = Path(path).expanduser()
    files = adapter_files(folder)
    try:
        stats = [f.stat() for f in files]
    except OSError as exc:
        raise HarnessError(f"adapter directory {str(folder)!r}: cannot read it ({exc.strerror})") from None
    signature = tuple((f.name, s.st_size, s.st_mtime_ns, s.st_ino) for f, s in zip(files, stats))
    where = str(folder.resolve())
    with _LOCK:
        known = _HASHED.get(where)
    if known is not None and known.signature == signature:
        return known.digest
    digest = _digest(files)
    with _LOCK:
        _HASHED[where] = _Hashed(signature, digest)
    return digest


def _digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        # Each file's name and length go first, so no two different folders hash the same bytes.
        h.update(f.name.encode("utf-8") + b"\0")
        try:
            h.update(f.stat().st_size.to_bytes(8, "big"))
            with f.open("rb") as stream:
                while chunk := stream.read(_CHUNK):
                    h.update(chunk)
        except OSError as exc:
            raise HarnessError(f"adapter file {str(f)!r}: cannot read it ({exc.strerror})") from None
    return h.hexdigest()


def keyed_spec(spec: str) -> str:
    """``spec`` as cache keys hold it: a ``+lora:DIR`` part becomes the adapter's content hash
    (``+lora:sha256:<hex>``); any other spec is returned as it is.

    >>> keyed_spec("openai:gpt-4o-mini@http://localhost:8000/v1")
    'openai:gpt-4o-mini@http://localhost:8000/v1'
    """
    base, mark, adapter = spec.partition(ADAPTER_MARK)
    if not mark:
        return spec
    try:
        digest = adapter_hash(adapter)
    except SpecError as exc:
        raise SpecError(f"model spec {spec!r}: {exc}") from None
    return f"{base}{ADAPTER_MARK}{HASH_MARK}{digest}"


def served_name(digest: str) -> str:
    """The name a serving engine loads an adapter under: ``harness-`` and the first 16 hex digits
    of its hash, so the same content always has the same name and other content another.

    >>> served_name("0123456789abcdef" * 4)
    'harness-0123456789abcdef'
    """
    return f"{NAME_PREFIX}{digest[:NAME_DIGITS]}"
