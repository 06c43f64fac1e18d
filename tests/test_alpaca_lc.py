"""AlpacaEval 2.0's length-controlled win rate against AlpacaEval's own code.

The oracle is ``alpaca_eval/metrics/glm_winrate.py`` as the published package (0.6.6) ships it,
loaded without its package's start-up (which reads API clients and needs ``pkg_resources``): its
package-level helpers are stood in for by the few lines it calls (``convert_to_dataframe``,
``validate_alpacaeval_preference``, three constants), and its download of ``df_gamed.csv`` from the
Hugging Face hub returns a file written here. The annotations are made up for this test, in
AlpacaEval's shape.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.app.cli import main
from harness.stats.alpaca_lc import Variant, length_controlled, read_gamed


@pytest.fixture
def glm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    spec = importlib.util.find_spec("alpaca_eval")
    assert spec is not None and spec.submodule_search_locations
    package = types.ModuleType("alpaca_eval")
    package.__path__ = list(spec.submodule_search_locations)
    utils = types.ModuleType("alpaca_eval.utils")
    utils.convert_to_dataframe = lambda data: data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(data)  # type: ignore[attr-defined]
    utils.load_or_convert_to_dataframe = utils.convert_to_dataframe  # type: ignore[attr-defined]
    utils.validate_alpacaeval_preference = (  # type: ignore[attr-defined]
        lambda x, is_allow_nan=True: (1 <= x <= 2) or (is_allow_nan and np.isnan(x)))
    constants = types.ModuleType("alpaca_eval.constants")
    constants.DATASETS_TOKEN, constants.DATASETS_FORCE_DOWNLOAD, constants.DEFAULT_CACHE_DIR = None, False, None  # type: ignore[attr-defined]
    typing = types.ModuleType("alpaca_eval.types")
    typing.AnyLoadableDF = Any  # type: ignore[attr-defined]
    for name in [n for n in sys.modules if n == "alpaca_eval" or n.startswith("alpaca_eval.")]:
        monkeypatch.delitem(sys.modules, name)
    for name, module in (("alpaca_eval", package), ("alpaca_eval.utils", utils),
                         ("alpaca_eval.constants", constants), ("alpaca_eval.types", typing)):
        monkeypatch.setitem(sys.modules, name, module)
    module = importlib.import_module("alpaca_eval.metrics.glm_winrate")
    monkeypatch.setattr(module, "hf_hub_download", lambda **_: str(tmp_path / "df_gamed.csv"))
    return module


def _annotations(n: int, seed: int) -> pd.DataFrame:
    """A model's annotations against the baseline: longer answers win more often, as with a judge
    that likes length, and some preferences are fractional (a weighted annotator's). The baseline's
    answers are the same whatever the seed, as one baseline's are for every model."""
    rng = np.random.default_rng(seed)
    baseline = np.random.default_rng(n).integers(40, 600, n)
    rows = []
    for i in range(n):
        base, mine = int(baseline[i]), int(rng.integers(40, 1200))
        p = float(np.clip(0.5 + 0.0012 * (mine - base) + rng.normal(0, 0.25), 0, 1))
        rows.append({"instruction": f"instruction {i}", "output_1": "b" * base, "output_2": "m" * mine,
                     "generator_1": "base", "generator_2": "mine", "annotator": "judge",
                     "preference": 1 + (round(p) if i % 3 else p)})
    return pd.DataFrame(rows)


def _gamed(path: Path, n: int, seed: int) -> None:
    """Two gamed baselines' annotations of the same ``n`` instructions, featurised as AlpacaEval's
    ``df_gamed.csv``; each instruction's difficulty is the same in both."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 1, n)
    rows = [{"index": i, "instruction_difficulty": difficulty[i], "preference": float(rng.uniform()),
             "std_delta_len": float(rng.normal(sign, 0.5)), "not_gamed_baseline": False, "model": name}
            for name, sign in (("concise", 1.0), ("verbose", -1.0)) for i in range(n)]
    pd.DataFrame(rows).to_csv(path, index=False)


def _ours(df: pd.DataFrame, gamed: Path | None) -> Any:
    return length_controlled(preference=df["preference"].to_numpy(float) - 1,
                             len_baseline=df["output_1"].str.len().to_numpy(),
                             len_model=df["output_2"].str.len().to_numpy(), index=np.arange(len(df)),
                             gamed=None if gamed is None else read_gamed(gamed))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_leaderboards_glm_as_alpaca_eval_computes_it(glm: Any, tmp_path: Path, seed: int) -> None:
    df = _annotations(80, seed)
    _gamed(tmp_path / "df_gamed.csv", 80, seed + 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = glm.get_length_controlled_winrate(df, save_weights_dir=None)
    ours = _ours(df, tmp_path / "df_gamed.csv")
    assert ours.variant is Variant.V1
    assert ours.win_rate == pytest.approx(theirs["length_controlled_winrate"], abs=1e-9)
    assert ours.standard_error == pytest.approx(theirs["lc_standard_error"], abs=1e-9)
    assert abs(ours.win_rate - theirs["win_rate"]) > 0.1  # the length term moved it


@pytest.mark.parametrize("seed", [3, 4])
def test_the_minimal_glm_as_alpaca_eval_computes_it(glm: Any, tmp_path: Path, seed: int) -> None:
    df = _annotations(60, seed)
    _gamed(tmp_path / "df_gamed.csv", 60, seed)  # AlpacaEval reads it even for this GLM; it is not used
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = glm.get_length_controlled_winrate(df, glm_name="length_controlled_minimal",
                                                   save_weights_dir=None)
    ours = _ours(df, None)
    assert ours.variant is Variant.MINIMAL
    assert ours.win_rate == pytest.approx(theirs["length_controlled_winrate"], abs=1e-9)
    assert ours.standard_error == pytest.approx(theirs["lc_standard_error"], abs=1e-9)


def test_bad_gamed_files_name_the_column(tmp_path: Path) -> None:
    from harness.core.errors import HarnessError

    path = tmp_path / "g.csv"
    path.write_text("index,instruction_difficulty,preference\n0,0.1,0.5\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="no column 'std_delta_len'"):
        read_gamed(path)
    path.write_text("index,instruction_difficulty,preference,std_delta_len,not_gamed_baseline\n"
                    "0,hard,0.5,0.1,False\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="row 2: column 'instruction_difficulty': 'hard' is not a number"):
        read_gamed(path)


def _alpaca_files(tmp_path: Path, df: pd.DataFrame) -> tuple[Path, Path, Path]:
    """The annotations, and each generator's outputs, as AlpacaEval writes them."""
    annotations = tmp_path / "annotations.json"
    annotations.write_text(json.dumps(df.to_dict(orient="records")), encoding="utf-8")
    outputs = []
    for side, name in (("output_1", "base"), ("output_2", "mine")):
        path = tmp_path / f"{name}_outputs.json"
        path.write_text(json.dumps([{"instruction": r["instruction"], "output": r[side], "generator": name}
                                    for r in df.to_dict(orient="records")]), encoding="utf-8")
        outputs.append(path)
    return annotations, outputs[0], outputs[1]


def test_rate_prints_it_for_a_run(glm: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = _annotations(40, 7)
    annotations, base, mine = _alpaca_files(tmp_path, df)
    run = tmp_path / "run"
    for path in (base, mine):
        assert main(["import", "answers", str(path), "--format", "alpaca_eval", "--run", str(run)]) == 0
    assert main(["import", "judgments", str(annotations), "--format", "alpaca_eval", "--run", str(run)]) == 0
    capsys.readouterr()
    assert main(["rate", str(run / "battles.jsonl"), "--baseline", "base", "--bootstrap", "0",
                 "--format", "json"]) == 0
    out = capsys.readouterr()
    row = next(r for r in json.loads(out.out)["ratings"] if r["model"] == "mine")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _gamed(tmp_path / "df_gamed.csv", 40, 1)
        theirs = glm.get_length_controlled_winrate(df, glm_name="length_controlled_minimal",
                                                   save_weights_dir=None)
    assert row["length_controlled_win_rate"] == pytest.approx(theirs["length_controlled_winrate"], abs=1e-9)
    assert json.loads(out.out)["lc_variant"] == "length_controlled_minimal"
    assert "length_controlled_minimal" in out.err and "--alpaca-gamed" in out.err
    minimal = row["length_controlled_win_rate"]
    # with the gamed baselines' file: the leaderboard's GLM
    assert main(["rate", str(run / "battles.jsonl"), "--baseline", "base", "--bootstrap", "0", "--format",
                 "json", "--alpaca-gamed", str(tmp_path / "df_gamed.csv")]) == 0
    out = capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = glm.get_length_controlled_winrate(df, save_weights_dir=None)
    row = next(r for r in json.loads(out.out)["ratings"] if r["model"] == "mine")
    assert row["length_controlled_win_rate"] == pytest.approx(theirs["length_controlled_winrate"], abs=1e-9)
    assert json.loads(out.out)["lc_variant"] == "length_controlled_v1"
    # the table shows it to one decimal
    assert main(["rate", str(run / "battles.jsonl"), "--baseline", "base", "--bootstrap", "0"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "LC win rate (%)" in table[0]
    assert next(line for line in table if line.split()[1:2] == ["mine"]).endswith(f"{minimal:.1f}")


def test_a_bare_battle_file_says_why_there_is_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    battles = tmp_path / "battles.jsonl"
    battles.write_text("".join(json.dumps({"model_a": "base", "model_b": "m", "winner": w}) + "\n"
                               for w in ("model_a", "model_b", "tie", "model_b")), encoding="utf-8")
    assert main(["rate", str(battles), "--baseline", "base", "--bootstrap", "0", "--format", "json"]) == 0
    out = capsys.readouterr()
    assert "length-controlled win rate not computed" in out.err
    row = next(r for r in json.loads(out.out)["ratings"] if r["model"] == "m")
    assert row["length_controlled_win_rate"] is None
    assert main(["rate", str(battles), "--alpaca-gamed", str(battles)]) == 2
    assert "--alpaca-gamed goes with --baseline" in capsys.readouterr().err
    # a file that is not there is an error even where no fit would read it
    assert main(["rate", str(battles), "--baseline", "base", "--alpaca-gamed", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_report_shows_it_in_every_format(glm: Any, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A run whose every battle has the baseline (AlpacaEval's design) gets a table against it, with
    the LC win rate to one decimal, in report.json, report.md, report.html and the LaTeX report."""
    run = tmp_path / "run"
    lcs = {}
    for name, seed in (("mine", 11), ("other", 12)):
        df = _annotations(30, seed).assign(generator_2=name)
        folder = tmp_path / name
        folder.mkdir()
        annotations, base, mine = _alpaca_files(folder, df)
        for path in (annotations, base, mine):
            text = path.read_text(encoding="utf-8").replace('"generator": "mine"', f'"generator": "{name}"')
            path.write_text(text, encoding="utf-8")
        for path in (base, mine):
            assert main(["import", "answers", str(path), "--format", "alpaca_eval", "--run", str(run)]) == 0
        assert main(["import", "judgments", str(annotations), "--format", "alpaca_eval", "--run", str(run)]) == 0
        _gamed(tmp_path / "df_gamed.csv", 30, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lcs[name] = glm.get_length_controlled_winrate(df, glm_name="length_controlled_minimal",
                                                          save_weights_dir=None)["length_controlled_winrate"]
    capsys.readouterr()
    assert main(["report", str(run), "--format", "html,latex,md"]) == 0
    report = json.loads((run / "report" / "report.json").read_text(encoding="utf-8"))
    table = next(t for t in report["tables"] if t["key"] == "baseline")
    cells = {row[0]: row for row in table["rows"]}
    assert set(cells) == {"mine", "other"}
    for name, value in lcs.items():
        assert cells[name][4] == f"{value:.1f}"
    md = (run / "report" / "report.md").read_text(encoding="utf-8")
    html = (run / "report" / "report.html").read_text(encoding="utf-8")
    tex = "".join(p.read_text(encoding="utf-8") for p in (run / "report" / "latex").rglob("*.tex"))
    for text in (md, html, tex):
        assert "LC win rate" in text and f"{lcs['mine']:.1f}" in text and f"{lcs['other']:.1f}" in text
        assert "length_controlled_minimal" in text.replace("\\_", "_")


def test_models_without_a_fit_are_named_not_failed() -> None:
    """A model whose answers all differ from the baseline's by the same length has no length term
    to fit, and one with fewer than five instructions no five folds: both are left out and named."""
    from harness.core.types import Answer, Battle, Question, Task
    from harness.stats.alpaca_lc import rates

    questions = tuple(Question(f"q{i}", f"instruction {i}", "", "") for i in range(8))
    answers = [Answer("base", "t", q.id, "b" * (10 + 7 * i)) for i, q in enumerate(questions)]
    answers += [Answer("flat", "t", q.id, "f" * (15 + 7 * i)) for i, q in enumerate(questions)]
    answers += [Answer("few", "t", q.id, "x" * (3 + i * i)) for i, q in enumerate(questions[:3])]
    answers += [Answer("fine", "t", q.id, "y" * (5 + (i * 37) % 50)) for i, q in enumerate(questions)]
    battles = [Battle("base", m, "model_b" if i % 2 else "model_a", "t", q.id)
               for m, n in (("flat", 8), ("few", 3), ("fine", 8)) for i, q in enumerate(questions[:n])]
    got = rates(battles, "base", answers=answers, tasks=[Task("t", "en", "", "", questions)])
    assert set(got.rates) == {"fine"} and got.skipped == ("few", "flat")
    assert got.skipped_note().startswith("; not computed for few, flat (") and "5 instructions" in got.skipped_note()
    assert got.variant is Variant.MINIMAL
