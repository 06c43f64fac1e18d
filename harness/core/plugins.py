"""Plugin discovery by file name: no registry list to keep in sync.

A plugin named ``x`` is the file ``x.<ext>`` in a built-in folder or a user folder, or an entry
point named ``x`` in a group (``harness.tasks``, ``harness.backends``, ``harness.prompts``) of an
installed package. Built-ins come first; a user folder may shadow nothing silently, so a name that
appears twice is an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError


@dataclass(frozen=True)
class PluginRef:
    """Where a plugin lives: a file, or an installed entry point."""

    name: str
    path: Path | None = None
    entry_point: metadata.EntryPoint | None = None

    @property
    def source(self) -> str:
        if self.path is not None:
            return str(self.path)
        assert self.entry_point is not None
        return f"entry point {self.entry_point.group}:{self.entry_point.name}"

    def load_entry_point(self) -> Any:
        assert self.entry_point is not None
        try:
            return self.entry_point.load()
        except Exception as exc:  # a third-party plugin's import error is the user's to see
            raise HarnessError(f"{self.source}: cannot load ({type(exc).__name__}: {exc})") from exc


def discover(
    folders: Iterable[Path], suffixes: tuple[str, ...], group: str | None
) -> dict[str, PluginRef]:
    """Map plugin name -> reference, from files in ``folders`` and entry points in ``group``."""
    found: dict[str, PluginRef] = {}

    def add(ref: PluginRef) -> None:
        if ref.name in found:
            raise HarnessError(
                f"plugin name {ref.name!r} is defined twice: {found[ref.name].source} and {ref.source}"
            )
        found[ref.name] = ref

    for folder in folders:
        if not folder.is_dir():
            raise HarnessError(f"{folder}: not a directory")
        for path in sorted(folder.iterdir()):
            if path.suffix in suffixes and not path.name.startswith(("_", ".")):
                add(PluginRef(path.stem, path=path))
    if group:
        for ep in metadata.entry_points(group=group):
            add(PluginRef(ep.name, entry_point=ep))
    return found


def unknown(kind: str, name: str, known: Iterable[str]) -> HarnessError:
    """The one-line error for a plugin name that does not exist."""
    return HarnessError(f"unknown {kind} {name!r}; known: {', '.join(sorted(known)) or '(none)'}")
