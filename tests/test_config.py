from __future__ import annotations

from pathlib import Path

import pytest

from harness.app.args import config_from_args
from harness.app.cli import build_parser, main
from harness.app.config import RunConfig, load_config
from harness.core.types import DecodingParams


def test_yaml_config_round_trips_and_resolves_paths(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "tasks: [en_law]\nlimit: 3\nout: out/exp\n"
        "models:\n"
        "  - {name: base, spec: embedded}\n"
        "  - name: sampled\n    spec: embedded\n    decoding: {temperature: 0.7, top_p: 0.9, max_new_tokens: 32}\n"
        "judge: {spec: 'openai:gpt-4o-mini', prompt: assignment_en, max_attempts: 2}\n",
        encoding="utf-8")
    config = load_config(path)
    assert config.name == "exp" and config.tasks == ("en_law",) and config.limit == 3
    assert config.run_dir == tmp_path / "out" / "exp"
    assert config.models[1].decoding == DecodingParams(max_new_tokens=32, temperature=0.7, top_p=0.9)
    assert config.judges[0].spec == "openai:gpt-4o-mini" and config.judges[0].max_attempts == 2
    from harness.app.config import parse_config

    again = parse_config(config.to_row(), "round-trip")
    assert again.models == config.models and again.judges == config.judges


def test_command_line_overrides_the_config(tmp_path: Path) -> None:
    args = build_parser().parse_args(["run", "--models", "a=embedded", "b=hf:gpt2", "--temperature",
                                      "0.5", "--judge", "openai:x", "--limit", "2"])
    config = config_from_args(args)
    assert [m.spec for m in config.models] == ["embedded", "hf:gpt2"]
    assert config.models[0].decoding.temperature == 0.5 and config.judges[0].spec == "openai:x"
    assert config.judges[0].prompt == RunConfig().judges[0].prompt and config.limit == 2


def test_default_config_is_the_decoding_experiment() -> None:
    config = RunConfig()
    assert config.tasks == () and config.judges[0].spec == "reference:chrf"
    assert len({m.decoding for m in config.models}) == len(config.models) >= 3
    assert {m.spec for m in config.models} == {"embedded"}


def test_a_judge_panel_from_the_command_line_and_yaml(tmp_path: Path) -> None:
    args = build_parser().parse_args(["run", "--judge", "embedded", "openai:x@http://h/v1",
                                      "--prompt", "mtbench_pairwise"])
    config = config_from_args(args)
    assert [j.spec for j in config.judges] == ["embedded", "openai:x@http://h/v1"]
    assert {j.prompt for j in config.judges} == {"mtbench_pairwise"}
    path = tmp_path / "panel.yaml"
    path.write_text("judge:\n  - embedded\n  - {spec: 'openai:y', prompt: single_1to10}\n", encoding="utf-8")
    judges = load_config(path).judges
    assert [(j.spec, j.prompt) for j in judges] == [("embedded", "assignment_en"), ("openai:y", "single_1to10")]


def test_a_duplicate_key_in_a_config_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """PyYAML keeps the last of two keys; the user may have read the first."""
    path = tmp_path / "exp.yaml"
    path.write_text("seed: 1\nmodels:\n  - {name: a, spec: embedded}\nseed: 2\n", encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == f"harness: error: {path}:4: duplicate key 'seed' (a key may appear once in a mapping)\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("key", "value"), [("seed", -5), ("bootstrap", -1), ("elo_rounds", -3), ("limit", 0),
                                            ("batch_size", 0), ("seed", 2**40), ("elo_rounds", 2.5)])
def test_a_run_config_and_a_config_file_are_checked_alike(tmp_path: Path, key: str, value: object) -> None:
    """One range per setting: a --config file and a run's config.yaml give the same complaint."""
    from harness.core import rundir
    from harness.core.errors import HarnessError

    path = tmp_path / "config.yaml"
    path.write_text(f"name: r\n{key}: {value}\n", encoding="utf-8")
    with pytest.raises(HarnessError) as flag_file:
        load_config(path)
    with pytest.raises(HarnessError) as run_file:
        rundir.read_config(tmp_path)
    assert str(run_file.value) == str(flag_file.value).replace(f"{path}:", f"{path}:2:")
