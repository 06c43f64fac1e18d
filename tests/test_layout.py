"""One import name in floors: the wheel's contents, shadowing, the layers contract, no import cycle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import layout
import pytest

FOLDERS = ("harness", "tasks", "judges", "finetune", "reports")


def test_every_package_folder_is_in_the_wheel_list() -> None:
    """A new subpackage folder must be added to pyproject's list, or the wheel would miss it."""
    listed = {p.resolve() for p in layout.package_dirs().values()}
    found = {init.parent.resolve() for f in FOLDERS for init in (layout.ROOT / f).rglob("__init__.py")}
    assert found == listed, (sorted(map(str, found - listed)), sorted(map(str, listed - found)))


@pytest.mark.slow
def test_wheel_installs_exactly_one_top_level_package(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(layout.ROOT), "--no-deps", "-q",
                    "-w", str(tmp_path)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("harness-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"harness", next(t for t in top if t.endswith(".dist-info"))}, top
    for module, source in layout.modules().items():
        assert "/".join(module.split(".")) + (
            "/__init__.py" if source.name == "__init__.py" else ".py") in names, module
    for data in ("harness/tasks/en_law.yaml", "harness/tasks/train/en_law.jsonl",
                 "harness/judges/prompts/assignment_en.yaml", "harness/judges/calibration.yaml",
                 "harness/judges/sanity.yaml",
                 "harness/models/prices.yaml", "harness/reports/templates/report.html.j2",
                 "harness/py.typed"):
        assert data in names, data
    dist = next(t for t in top if t.endswith(".dist-info"))
    entry_points = zipfile.ZipFile(wheel).read(f"{dist}/entry_points.txt").decode()
    assert "harness = harness.app.cli:main" in entry_points


def _shadowed(tmp_path: Path) -> Path:
    """A working directory whose own tasks.py, judges.py and reports/ would shadow generic names."""
    work = tmp_path / "work"
    (work / "reports").mkdir(parents=True)
    for path in (work / "tasks.py", work / "judges.py", work / "reports" / "__init__.py"):
        path.write_text("raise ImportError('the user module was imported instead of harness')\n")
    return work


def test_help_works_beside_user_modules_named_like_ours(tmp_path: Path) -> None:
    work = _shadowed(tmp_path)
    out = subprocess.run([sys.executable, "-m", "harness", "--help"], cwd=work, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert "harness" in out.stdout and "report" in out.stdout


def test_script_in_shadowed_folder_uses_harness_modules(tmp_path: Path) -> None:
    work = _shadowed(tmp_path)
    (work / "check.py").write_text(textwrap.dedent("""
        import harness
        from harness import tasks
        print(len(tasks.load_tasks(["en_law"])[0].questions), harness.RunConfig.__name__)
    """))
    out = subprocess.run([sys.executable, "check.py"], cwd=work, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["20", "RunConfig"]


@pytest.mark.slow
def test_public_api_runs_a_small_pipeline_beside_user_modules(tmp_path: Path) -> None:
    work = _shadowed(tmp_path)
    (work / "my_script.py").write_text(textwrap.dedent("""
        from pathlib import Path

        import harness
        from harness.core.types import DecodingParams, ModelConfig

        short = DecodingParams(max_new_tokens=8)
        config = harness.RunConfig(tasks=("en_law",), limit=1, out=Path("run"), report=("md",),
                                   models=(ModelConfig("a", "embedded", short),
                                           ModelConfig("b", "embedded", DecodingParams(max_new_tokens=4))),
                                   bootstrap=10, progress=False)
        result = harness.run(config)
        print(sorted(r.model for r in result.ratings), (Path("run") / "report" / "report.md").is_file())
    """))
    out = subprocess.run([sys.executable, "my_script.py"], cwd=work, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "['a', 'b'] True"


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports")
    assert exe is not None, "import-linter is a test dependency"
    return subprocess.run([exe, str(layout.ROOT / "pyproject.toml")], cwd=tree, capture_output=True,
                          text=True)


def test_layers_contract_holds_and_catches_an_upward_import(tmp_path: Path) -> None:
    tree = layout.link_tree(tmp_path / "layout")
    kept = _lint_imports(tree)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "2 kept, 0 broken" in kept.stdout
    # A core module that reaches up to the app breaks the layers contract.
    (tree / "harness" / "core" / "upward.py").write_text("from harness.app import pipeline\n")
    broken = _lint_imports(tree)
    assert broken.returncode != 0 and "harness.core is not allowed to import harness.app" in broken.stdout


def test_reports_only_format(tmp_path: Path) -> None:
    """A report module that computes (imports the statistics itself) breaks the forbidden contract,
    though the statistics sit below it: the figures come from the read model."""
    tree = layout.link_tree(tmp_path / "layout")
    (tree / "harness" / "reports" / "computes.py").write_text("from harness.stats import ratings\n")
    broken = _lint_imports(tree)
    assert broken.returncode != 0
    assert "harness.reports is not allowed to import harness.stats" in broken.stdout
    assert "floors: app -> web -> reports" in broken.stdout and "1 kept, 1 broken" in broken.stdout


def test_no_import_cycle_between_modules(tmp_path: Path) -> None:
    """Module-level import edges, function-level imports included, form no cycle."""
    tree = layout.link_tree(tmp_path / "layout")
    code = ("import grimp, json\ng = grimp.build_graph('harness', cache_dir=None)\n"
            "print(json.dumps({m: sorted(g.find_modules_directly_imported_by(m)) for m in g.modules}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    edges: dict[str, list[str]] = json.loads(out.stdout)
    assert len(edges) == len(layout.modules()), "grimp should see every module"
    cycles = _cycles(edges)
    assert not cycles, cycles


def _cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a self-import.

    >>> _cycles({"a": ["b"], "b": ["a"], "c": ["a"]})
    [['a', 'b']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, []):
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": []}) == [["a", "b", "c"]]
    assert _cycles({"a": ["b"], "b": []}) == []
