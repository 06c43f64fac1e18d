"""Hostile run configs and flags (issue 15): a value that would go wrong later, or a name or URL
that would write somewhere it should not, is one error line when the config is read, and nothing
is written.

The YAML tests run in a folder four levels below ``tmp_path``, so that even a name that escapes
``runs/`` lands inside ``tmp_path``, where the test can see that nothing was written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.app.cli import main
from harness.app.config import (
    BOUNDS,
    DECODING_BOUNDS,
    JUDGE_BOUNDS,
    RUN_BOUNDS,
    RunConfig,
    check_value,
    load_config,
)
from harness.core.errors import HarnessError
from harness.models.endpoints import API_BOUNDS, ENDPOINT_BOUNDS

Case = tuple[str, str, str]
"""(YAML text, the field as the message names it, the value as the message shows it)."""

NAMES: list[Case] = [
    ('name: "../../../../outside"\n', "field 'name'", "'../../../../outside'"),
    ('name: "a/b"\n', "field 'name'", "'a/b'"),
    ('name: "a\\\\b"\n', "field 'name'", "'a\\\\b'"),
    ('name: ".."\n', "field 'name'", "'..'"),
    ('name: ""\n', "field 'name'", "''"),
    ('name: ".hidden"\n', "field 'name'", "'.hidden'"),
    ('name: "a\\0b"\n', "field 'name'", "'a\\x00b'"),
    ('name: "a\\tb"\n', "field 'name'", "'a\\tb'"),
    ("name: [a]\n", "field 'name'", "['a']"),
]

VALUES: list[Case] = [
    ("judge: {max_attempts: 0}\n", "judge[0].max_attempts", "0"),
    ("elo_rounds: 0\n", "field 'elo_rounds'", "0"),
    ("seed: -5\n", "field 'seed'", "-5"),
    ("seed: 4294967296\n", "field 'seed'", "4294967296"),
    ("models:\n  - {name: a, spec: embedded, decoding: {temperature: .nan}}\n",
     "models[0]: decoding.temperature", "nan"),
    ("models:\n  - {name: a, spec: embedded, decoding: {temperature: .inf}}\n",
     "models[0]: decoding.temperature", "inf"),
    ("models:\n  - {name: a, spec: embedded, decoding: {seed: -5}}\n", "models[0]: decoding.seed", "-5"),
    ("judge: {decoding: {temperature: .nan}}\n", "judge[0]: decoding.temperature", "nan"),
    ("api: {max_tokens: -1}\n", "api: max_tokens", "-1"),
    ("api: {max_cost: .nan}\n", "api: max_cost", "nan"),
    ("api: {max_cost: .inf}\n", "api: max_cost", "inf"),
    ("api: {max_cost: -1}\n", "api: max_cost", "-1"),
    ("api: {rpm: .inf}\n", "api: rpm", "inf"),
    ("api: {tpm: .inf}\n", "api: tpm", "inf"),
    ("api: {timeout: .inf}\n", "api: timeout", "inf"),
    ("api: {timeout: .nan}\n", "api: timeout", "nan"),
    ("api: {concurrency: 0}\n", "api: concurrency", "0"),
    ("api: {max_retries: -1}\n", "api: max_retries", "-1"),
    ("api:\n  endpoints:\n    'http://h:1/v1': {rpm: .inf}\n", "endpoints['http://h:1/v1']: rpm", "inf"),
    ("batch_size: 0\n", "field 'batch_size'", "0"),
    ("bootstrap: -1\n", "field 'bootstrap'", "-1"),
    ("limit: 0\n", "field 'limit'", "0"),
    # Bools are not numbers, though Python counts True as 1.
    ("seed: true\n", "field 'seed'", "True"),
    ("api: {rpm: true}\n", "api: rpm", "True"),
    ("judge: {max_attempts: true}\n", "judge[0].max_attempts", "True"),
]


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _one_error_line(err: str) -> None:
    assert err.count("\n") == 1 and err.startswith("harness: error: "), err


@pytest.mark.parametrize(("yaml_text", "field", "value"), NAMES + VALUES)
def test_bad_config_value_is_one_line_naming_file_field_and_value(
        yaml_text: str, field: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "a" / "b" / "c" / "d"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    config = work / "run.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    assert main(["run", str(config), "--dry-run"]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert str(config) in err and field in err and value in err, err
    assert _files(tmp_path) == [config]


FLAGS: list[tuple[list[str], str, str]] = [
    (["--max-cost", "nan"], "--max-cost", "nan"),
    (["--max-cost", "inf"], "--max-cost", "inf"),
    (["--max-cost", "-1"], "--max-cost", "-1"),
    (["--max-tokens", "-1"], "--max-tokens", "-1"),
    (["--temperature", "nan"], "--temperature", "nan"),
    (["--temperature", "inf"], "--temperature", "inf"),
    (["--top-p", "nan"], "--top-p", "nan"),
    (["--seed", "-5"], "--seed", "-5"),
    (["--max-new-tokens", "0"], "--max-new-tokens", "0"),
    (["--top-k", "-1"], "--top-k", "-1"),
    (["--num-beams", "0"], "--num-beams", "0"),
    (["--concurrency", "0"], "--concurrency", "0"),
    (["--rpm", "inf"], "--rpm", "inf"),
    (["--tpm", "nan"], "--tpm", "nan"),
    (["--timeout", "inf"], "--timeout", "inf"),
    (["--timeout", "nan"], "--timeout", "nan"),
    (["--max-retries", "-1"], "--max-retries", "-1"),
    (["--batch-size", "0"], "--batch-size", "0"),
    (["--limit", "0"], "--limit", "0"),
]


@pytest.mark.parametrize(("flags", "flag", "value"), FLAGS)
def test_bad_flag_value_is_one_line_naming_the_flag(flags: list[str], flag: str, value: str,
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--models", "a=embedded", "b=embedded", *flags, "--out", str(tmp_path / "run"),
            "--dry-run"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert f"{flag}: {value}" in err, err
    assert _files(tmp_path) == []


@pytest.mark.parametrize("flags", [["--temperature", "nan"], ["--max-cost", "nan"]])
def test_bad_flag_value_is_refused_without_models_too(flags: list[str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", *flags, "--out", str(tmp_path / "run"), "--dry-run"]) == 2
    _one_error_line(capsys.readouterr().err)


BAD_URLS = ["openai:m@http://127.0.0.1:abc/v1", "openai:m@http://[::1", "openai:m@http://[::1/v1",
            "openai:m@http://127.0.0.1:99999/v1", "openai:m@http:///v1", "openai:m@http://exa mple/v1"]
# Never contacted: the bad spec must stop the run first. Port 1 refuses at once if it were.
GOOD_URL = "openai:n@http://127.0.0.1:1/v1"


@pytest.mark.parametrize("spec", BAD_URLS)
def test_malformed_url_in_a_model_spec_writes_nothing(spec: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", "--models", f"a={spec}", f"b={GOOD_URL}", "--max-retries", "0",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert repr(spec) in err, err
    assert not out.exists() or _files(out) == []


def test_malformed_url_in_a_judge_spec_writes_nothing(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    spec = BAD_URLS[0]
    assert main(["run", "--models", f"a={GOOD_URL}", "b=openai:o@http://127.0.0.1:1/v1",
                 "--judge", spec, "--max-retries", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert repr(spec) in err, err
    assert not out.exists() or _files(out) == []


def test_malformed_url_in_a_yaml_spec_writes_nothing(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(f"out: run\napi: {{max_retries: 0}}\nmodels:\n"
                      f"  - {{name: a, spec: '{BAD_URLS[1]}'}}\n  - {{name: b, spec: '{GOOD_URL}'}}\n",
                      encoding="utf-8")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert repr(BAD_URLS[1]) in err, err
    assert _files(tmp_path) == [config]


EDGES = """\
name: my-run_1.v2
limit: 1
batch_size: 1
elo_rounds: 1
bootstrap: 0
seed: 4294967295
models:
  - name: a
    spec: embedded
    decoding: {max_new_tokens: 1, temperature: 0, top_k: 0, top_p: 1, num_beams: 1, seed: 0}
  - name: b
    spec: embedded
    decoding: {temperature: 0.5, top_p: 0.001, seed: 4294967295}
judge: {max_attempts: 1}
api:
  concurrency: 1
  rpm: 0.001
  tpm: 1
  timeout: 0.001
  max_retries: 0
  max_cost: 0
  max_tokens: 0
"""


def test_values_at_the_edges_of_their_ranges_load(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "edges.yaml"
    path.write_text(EDGES, encoding="utf-8")
    config = load_config(path)
    assert (config.name, config.limit, config.batch_size, config.elo_rounds, config.bootstrap,
            config.seed) == ("my-run_1.v2", 1, 1, 1, 0, 4294967295)
    assert config.judges[0].max_attempts == 1
    assert config.models[1].decoding.top_p == 0.001
    api = config.api
    assert (api.default.concurrency, api.default.rpm, api.default.max_retries, api.max_cost,
            api.max_tokens) == (1, 0.001, 0, 0.0, 0)
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "--dry-run"]) == 0
    flags = ["--max-cost", "0", "--max-tokens", "0", "--seed", "4294967295", "--temperature", "0",
             "--top-p", "1", "--top-k", "0", "--num-beams", "1", "--max-new-tokens", "1",
             "--concurrency", "1", "--rpm", "0.5", "--tpm", "1", "--timeout", "0.5",
             "--max-retries", "0", "--limit", "1", "--batch-size", "1"]
    assert main(["run", "--models", "a=embedded", "b=embedded", *flags, "--out",
                 str(tmp_path / "run"), "--dry-run"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".", "..", ".x", "a\\b", "a\nb"])
def test_a_run_config_built_in_python_refuses_a_name_that_is_not_plain(name: str) -> None:
    with pytest.raises(HarnessError, match="plain name"):
        RunConfig(name=name)


def test_one_check_for_yaml_and_flags() -> None:
    """The same check, and the same words, whatever named the value."""
    for where in ("run.yaml: field 'seed'", "--seed"):
        with pytest.raises(HarnessError) as info:
            check_value(-5, field="seed", where=where)
        assert str(info.value) == f"{where}: -5 is out of range; seed must be in [0, 4294967295]"
    with pytest.raises(HarnessError, match="must be a whole number, got True"):
        check_value(True, field="elo_rounds", where="--x")
    assert check_value(3, field="timeout", where="x") == 3.0
    assert isinstance(check_value(3, field="timeout", where="x"), float)


def test_a_setting_in_two_sections_has_one_range() -> None:
    sections = (RUN_BOUNDS, DECODING_BOUNDS, JUDGE_BOUNDS, ENDPOINT_BOUNDS, API_BOUNDS)
    assert all(BOUNDS[k] == b for section in sections for k, b in section.items())
