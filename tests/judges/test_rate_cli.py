from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.app.cli import main


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def battles(tmp_path: Path) -> Path:
    rows = []
    for i in range(30):  # x beats y 24-6; y and z tie a lot
        rows.append({"model_a": "x", "model_b": "y", "winner": "model_a" if i < 24 else "model_b",
                     "question_id": i, "turn": 1, "judge": "gpt-4"})
        rows.append({"model_a": "z", "model_b": "y", "winner": "tie" if i % 2 else "tie (bothbad)"})
        rows.append({"model_a": "x", "model_b": "z", "winner": "model_a" if i % 3 else "model_b"})
    return _write(tmp_path / "battles.jsonl", rows)


def test_rate_json_has_ratings_intervals_ranks_and_sign_tests(battles: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rate", str(battles), "--format", "json", "--bootstrap", "200", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    ratings = out["ratings"]
    assert [r["model"] for r in ratings][0] == "x" and ratings[0]["rank"] == 1
    assert all(r["lower"] <= r["rating"] <= r["upper"] for r in ratings)
    assert out["win_matrix"]["x"]["y"] > 0.5
    pairs = {(p["model"], p["opponent"]): p for p in out["pairs"]}
    assert pairs[("x", "y")]["wins"] == 24 and pairs[("x", "y")]["separable"] is True
    assert pairs[("y", "z")]["ties"] == 30 and pairs[("y", "z")]["p_value"] == 1.0
    assert pairs[("y", "z")]["separable"] is False


def test_rate_elo_csv_and_anchor(battles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rate", str(battles), "--method", "elo", "--format", "csv", "--anchor", "y=1200",
                 "--bootstrap", "50"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "rank,model,rating,lower,upper"
    y = next(line for line in lines if ",y," in line).split(",")
    assert float(y[2]) == 1200.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"model_a": "x", "model_b": "y", "winner": "x"}, ":3: winner 'x' is not one of"),
        ({"model_a": "x", "winner": "tie"}, ":3: missing field 'model_b'"),
        ("not json", ":3: Expecting value"),
    ],
)
def test_malformed_battle_line_is_named(tmp_path: Path, line, message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    good = {"model_a": "x", "model_b": "y", "winner": "tie"}
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x for x in [good, good, line]) + "\n")
    assert main(["rate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}{message}" in err, err


def test_bad_anchor_is_one_error(battles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rate", str(battles), "--anchor", "x"]) == 2
    assert "expected MODEL=RATING" in capsys.readouterr().err
    assert main(["rate", str(battles), "--anchor", "w=1000", "--bootstrap", "0"]) == 2
    assert "anchor model 'w'" in capsys.readouterr().err
