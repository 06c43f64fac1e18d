"""Judged runs shared by the report tests (one English, one Chinese), and the external tools."""

from __future__ import annotations

from pathlib import Path

import pytest
from judged_run import make_run


@pytest.fixture(scope="session")
def en_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("report"), "en")


@pytest.fixture(scope="session")
def zh_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("report"), "zh")
