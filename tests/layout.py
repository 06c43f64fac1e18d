"""The installed layout of the one ``harness`` package, read from ``pyproject.toml``.

The design card's folders live side by side in the repository (``harness/``, ``tasks/``,
``judges/``, ``finetune/``, ``reports/``) and are mapped into one import name by setuptools'
``package-dir`` (``tasks/`` is ``harness.tasks``). Python imports them through that map, but
tools that find modules by walking folders (mypy, import-linter's grimp) need the installed
layout on disk: ``python tests/layout.py DIR`` builds it as a tree of symlinks to the sources and
prints the tree's path. Tests use the same map to list every module.

Not handled: namespace packages, and package-dir entries other than the ones in our pyproject.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def package_dirs() -> dict[str, Path]:
    """Every package the wheel installs -> its source folder."""
    config = _setuptools()
    mapping: dict[str, str] = config["package-dir"]
    out = {}
    for package in config["packages"]:
        parts = package.split(".")
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in mapping:
                out[package] = ROOT / mapping[prefix] / Path(*parts[i:])
                break
        else:
            raise ValueError(f"pyproject.toml: package {package!r} has no package-dir entry")
    return out


def modules() -> dict[str, Path]:
    """Every module of the package (``harness.judges.verdict``) -> its source file."""
    out = {}
    for package, folder in package_dirs().items():
        for path in sorted(folder.glob("*.py")):
            out[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return out


def link_tree(dest: Path) -> Path:
    """Build (afresh) ``dest/harness/...`` with one symlink per source file; returns ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    for package, folder in package_dirs().items():
        target = dest.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.iterdir()):
            if path.is_file() and (path.suffix == ".py" or path.name == "py.typed"):
                (target / path.name).symlink_to(path)
    return dest


if __name__ == "__main__":
    print(link_tree(Path(sys.argv[1]).resolve()))
