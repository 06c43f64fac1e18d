"""User mistakes: one clear error line and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.app.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--tasks", "en_lawz"], "unknown task 'en_lawz'; known: en_finance"),
        (["run", "--models", "a=embedded", "b=gpt4"], "unknown model backend 'gpt4'; known: embedded, hf, openai"),
        (["run", "--models", "a=embedded", "b=hf:"], "model spec 'hf:': 'hf:' needs a model path"),
        (["run", "--models", "a=embedded:x", "b=embedded"], "'embedded' takes no argument"),
        (["run", "--models", "a=openai:", "b=embedded"], "expected openai:MODEL[@BASE_URL]"),
        (["run", "--models", "a=openai:m@localhost:8000", "b=embedded"], "base URL must start with http"),
        (["run", "--models", "a=embedded+lora:/no/such/dir", "b=embedded"], "adapter directory '/no/such/dir' does not exist"),
        (["run", "--models", "a=embedded", "a=embedded"], "model name 'a' is used twice"),
        (["run", "--models", "=embedded", "b=embedded"], "expected NAME=SPEC"),
        (["run", "--prompt", "nope"], "unknown judge prompt 'nope'"),
        (["run", "--judge", "nope:x"], "unknown model backend 'nope'"),
        (["run", "--models", "a=embedded", "b=embedded", "--top-p", "1.5"], "top_p must be in (0, 1]"),
        (["run", "--limit", "0"], "limit must be at least 1"),
        (["judge", "/no/such/run"], "/no/such/run/answers.jsonl: no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--out", str(tmp_path / "run")] if argv[0] == "run" else argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("harness: error: ") and message in err, err
    assert not (tmp_path / "run" / "answers.jsonl").exists()


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("modles: []\n", "unknown field 'modles'"),
        ("models:\n  - name: a\n    spec: embedded\n    decoding: {temprature: 0.5}\n", "unknown field 'temprature'"),
        ("models:\n  - name: a\n    spec: embedded\n    decoding: {num_beams: two}\n", "decoding.num_beams must be a whole number"),
        ("models:\n  - name: a\n", "models[0]: field 'spec' must be a non-empty string"),
        ("judge: {spec: embedded, promt: x}\n", "unknown field 'promt'"),
        ("limit: five\n", "field 'limit' must be a whole number"),
        ("models: [\n", "not valid YAML"),
    ],
)
def test_bad_config_is_one_line_naming_the_field(yaml_text: str, message: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and message in err, err


def test_help_is_instant_and_imports_no_torch() -> None:
    code = "import sys; from harness.app.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    help_text = subprocess.run([sys.executable, "-m", "harness", "run", "--help"],
                               capture_output=True, text=True, check=True).stdout
    assert "--judge SPEC" in help_text and "--limit N" in help_text
