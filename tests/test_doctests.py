"""The worked examples in docstrings, run for every module under its one ``harness.*`` name."""

from __future__ import annotations

import doctest
import importlib

import layout
import pytest

# Importing harness.__main__ would run the command line.
MODULES = sorted(m for m in layout.modules() if not m.endswith("__main__"))


def _examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    return [t for t in doctest.DocTestFinder().find(module, name) if t.examples]


def test_every_module_is_listed_and_some_have_examples() -> None:
    with_examples = [m for m in MODULES if _examples(m)]
    assert "harness.stats.bradley_terry" in MODULES and "harness.judges.verdict" in MODULES
    assert len(with_examples) >= 10, with_examples


@pytest.mark.parametrize("name", [m for m in MODULES if _examples(m)])
def test_docstring_examples(name: str) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in _examples(name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
