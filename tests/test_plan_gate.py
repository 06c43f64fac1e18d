"""``harness plan`` (power of the sign test), the dry run's power line, and ``harness gate`` (issue 32,
parts 1 and 2), through the CLI.

The plan is checked against an oracle written here from the model's definition alone: every
(wins, ties, losses) outcome of N battles with its multinomial probability (math.comb), the
two-sided sign test's p-value summed directly, and a bisection on the decisive win share. The gate
runs on run directories written here with :func:`harness.core.rundir.write_battles`.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest

from harness.app.cli import main
from harness.core import rundir
from harness.core.types import Battle
from harness.stats.power import gate_test, plan, rejection_thresholds
from harness.stats.significance import sign_test

# --- the oracle -------------------------------------------------------------------------------


def oracle_p(wins: int, losses: int) -> float:
    """Two-sided exact sign test: twice the chance, at p = 1/2, of a split at least as uneven."""
    d = wins + losses
    if d == 0:
        return 1.0
    extreme = max(wins, losses)
    tail = sum(math.comb(d, j) for j in range(extreme, d + 1))
    return min(1.0, float(Fraction(2 * tail, 2**d)))


def oracle_power(q: float, n: int, t: float, detected: list[tuple[int, int]]) -> float:
    """P(the outcome is one of ``detected``), each (wins, losses) with ties = n - wins - losses."""
    total = 0.0
    for w, lo in detected:
        ties = n - w - lo
        total += (math.comb(n, w) * math.comb(n - w, lo) * t**ties * ((1 - t) * q) ** w
                  * ((1 - t) * (1 - q)) ** lo)
    return total


def oracle_min_win_rate(n: int, t: float, alpha: float = 0.05, power: float = 0.8
                        ) -> tuple[float | None, float]:
    """(the smallest detectable win rate or None, the power at q = 1), by enumeration and bisection."""
    detected = [(w, lo) for w in range(n + 1) for lo in range(n + 1 - w)
                if w > lo and oracle_p(w, lo) <= alpha]
    at_one = oracle_power(1.0, n, t, detected)
    if at_one < power:
        return None, at_one
    low, high = 0.5, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (low, mid) if oracle_power(mid, n, t, detected) >= power else (mid, high)
    return (1 - t) * high + t / 2, at_one


# --- harness plan ------------------------------------------------------------------------------


def test_the_oracle_p_value_is_the_sign_test_and_the_region_agrees() -> None:
    for d in range(0, 61):
        for w in range(d + 1):
            assert oracle_p(w, d - w) == pytest.approx(sign_test(w, d - w), rel=1e-12)
    for alpha in (0.05, 0.01, 0.1, 0.0625, 0.5):  # 0.0625 and 0.5: p-values that equal alpha exactly
        found = rejection_thresholds(200, alpha=alpha)
        for d in range(201):
            first = next((w for w in range(d + 1) if w > d - w and sign_test(w, d - w) <= alpha), None)
            assert found[d] == first, (alpha, d)


@pytest.mark.parametrize("n", [10, 20, 40, 100])
@pytest.mark.parametrize("tie_rate", [0.0, 0.2, 0.5])
def test_plan_equals_the_exact_enumeration(n: int, tie_rate: float, capsys: pytest.CaptureFixture[str]) -> None:
    expected, at_one = oracle_min_win_rate(n, tie_rate)
    assert main(["plan", "--questions", str(n), "--tie-rate", str(tie_rate), "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["n"], got["tie_rate"], got["alpha"], got["power"]) == (n, tie_rate, 0.05, 0.8)
    assert got["test"] == "exact two-sided sign test on the decisive battles (ties left out)"
    assert got["power_at_sweep"] == pytest.approx(at_one, abs=1e-4)
    if expected is None:
        assert got["min_detectable_win_rate"] is None
        return
    assert got["min_detectable_win_rate"] == pytest.approx(expected, abs=0.0005 + 1e-9)
    assert plan(n=n, tie_rate=tie_rate).win_rate == pytest.approx(expected, abs=1e-6)


def test_a_small_run_says_no_win_rate_is_detectable(capsys: pytest.CaptureFixture[str]) -> None:
    # 10 battles, half of them ties: at most 10 decisive, and 6 of 6 is the least that rejects.
    expected, at_one = oracle_min_win_rate(10, 0.5)
    assert expected is None and 0.3 < at_one < 0.8
    assert main(["plan", "--questions", "10", "--tie-rate", "0.5"]) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line
    assert line.startswith("power: n=10 battles per pair, tie rate 0.50, exact two-sided sign test")
    assert "at alpha 0.05: no true win rate is detected with power 0.8" in line
    assert f"probability {at_one:.2f}" in line


def test_the_table_line_states_test_n_alpha_and_the_figure(capsys: pytest.CaptureFixture[str]) -> None:
    expected, _ = oracle_min_win_rate(40, 0.3, alpha=0.01, power=0.9)
    assert expected is not None
    argv = ["plan", "--questions", "40", "--tie-rate", "0.3", "--alpha", "0.01", "--power", "0.9"]
    assert main(argv) == 0
    line = capsys.readouterr().out.strip()
    assert "n=40 battles per pair" in line and "at alpha 0.01" in line and "sign test" in line
    assert f"a true win rate of {expected:.3f} or more" in line and "probability 0.9" in line


@pytest.mark.parametrize("argv, message", [
    (["--questions", "0", "--tie-rate", "0.3"], "--questions: 0 is out of range"),
    (["--questions", "20", "--tie-rate", "1"], "--tie-rate: 1.0 is out of range; it must be in [0, 1)"),
    (["--questions", "20", "--tie-rate", "-0.1"], "--tie-rate: -0.1 is out of range"),
    (["--questions", "20", "--tie-rate", "nan"], "--tie-rate: nan is out of range"),
    (["--questions", "20", "--tie-rate", "0.3", "--alpha", "0"], "--alpha: 0.0 is out of range"),
    (["--questions", "20", "--tie-rate", "0.3", "--power", "1"], "--power: 1.0 is out of range"),
    (["--questions", "twenty", "--tie-rate", "0.3"], "invalid int value: 'twenty'"),
])
def test_plan_refuses_bad_values_in_one_line(argv: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status(["plan", *argv]) == 2
    out = capsys.readouterr()
    assert out.out == "" and message in out.err and len(out.err.strip().splitlines()) == 1


def exit_status(argv: list[str]) -> int:
    """``main``'s status, or the parser's own for a value it cannot parse (it exits, 2, in one line)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


# --- harness run --dry-run ---------------------------------------------------------------------


def test_the_dry_run_prints_the_plan_with_an_assumed_then_a_measured_tie_rate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["run", "--tasks", "en_law", "--limit", "20", "--out", str(out), "--dry-run"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assumed = plan(n=20, tie_rate=0.3)
    assert assumed.win_rate is not None
    assert (f"power: n=20 battles per pair, tie rate 0.30 (assumed; no battles measured yet), exact two-sided "
            f"sign test on the decisive battles (ties left out) at alpha 0.05: a true win rate of "
            f"{assumed.win_rate:.3f} or more") in text
    # The run's own battles: 40 of them, 10 ties, so a measured tie rate of 0.25.
    battles = [Battle("greedy", "hot", "tie" if k < 10 else "model_a", "en_law", f"q{k % 20}") for k in range(20)]
    battles += [Battle("greedy", "nucleus", "tie" if k < 20 else "model_b", "en_law", f"q{k % 20}")
                for k in range(20, 40)]
    rundir.write_battles(out, battles)
    assert main(argv) == 0
    measured = plan(n=20, tie_rate=0.25)
    assert measured.win_rate is not None
    assert (f"power: n=20 battles per pair, tie rate 0.25 (measured on 40 battles), exact two-sided sign test "
            f"on the decisive battles (ties left out) at alpha 0.05: a true win rate of "
            f"{measured.win_rate:.3f} or more") in capsys.readouterr().out
    rundir.write_battles(out, [Battle("greedy", "hot", "tie", "en_law", f"q{k}") for k in range(5)])
    assert main(argv) == 0
    assert ("power: n=20 battles per pair, exact two-sided sign test on the decisive battles (ties left out) at "
            "alpha 0.05: the judge called all 5 measured battles a tie") in capsys.readouterr().out


# --- harness gate ------------------------------------------------------------------------------


def write_run(root: Path, wins: int, ties: int, losses: int, *, name: str = "run") -> Path:
    """A run whose battles between ft and base are ``wins`` / ``ties`` / ``losses`` for ft (ft on
    either side, as a real run's alternating orders put it), plus a third model for the listing."""
    outcomes = ["win"] * wins + ["tie"] * ties + ["loss"] * losses
    battles = []
    for k, outcome in enumerate(outcomes):
        ft_first = k % 2 == 0
        a, b = ("ft", "base") if ft_first else ("base", "ft")
        winner = "tie" if outcome == "tie" else ("model_a" if (outcome == "win") == ft_first else "model_b")
        battles.append(Battle(a, b, winner, "t", f"q{k}"))  # type: ignore[arg-type]
    battles.append(Battle("ft", "other", "model_a", "t", "q0"))
    run = root / name
    rundir.write_battles(run, battles)
    return run


def gate(run: Path, *extra: str) -> list[str]:
    return ["gate", str(run), "--model", "ft", "--over", "base", *extra]


def test_a_clear_win_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path, 28, 8, 4)
    assert main(gate(run)) == 0
    out = capsys.readouterr()
    line = out.out.strip()
    p = oracle_p(28, 4)
    assert "\n" not in line and out.err == ""
    assert line.startswith("gate: ft over base: win rate 0.800 [")
    assert ("n=40 battles (32 decisive: 28 wins, 4 losses; 8 ties), exact two-sided sign test on the decisive "
            f"battles (ties left out): p={p:.3g} <= alpha 0.05: PASS") in line


def test_a_loss_fails_though_it_is_significant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path, 4, 8, 28)
    assert main(gate(run)) == 1
    line = capsys.readouterr().out.strip()
    assert "win rate 0.200" in line and line.endswith("FAIL (significant, but below 0.5)")


def test_a_dead_heat_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path, 15, 10, 15)
    assert main(gate(run)) == 1
    line = capsys.readouterr().out.strip()
    assert "win rate 0.500" in line and "p=1 > alpha 0.05: FAIL" in line


def test_a_narrow_win_fails_at_a_stricter_alpha(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path, 15, 0, 5)  # p = 0.0414
    assert main(gate(run)) == 0
    assert main(gate(run, "--alpha", "0.01")) == 1
    assert "p=0.0414 > alpha 0.01: FAIL" in capsys.readouterr().out


def test_a_higher_threshold_tests_the_decisive_share_it_implies(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 30 wins, 10 ties, 10 losses: win rate 0.7, tie share 0.2; a threshold of 0.6 means a decisive
    # win share of (0.6 - 0.1) / 0.8 = 0.625, and p is twice the chance of 30 or more wins of 40 at it.
    run = write_run(tmp_path, 30, 10, 10)
    q0 = Fraction(5, 8)
    tail = sum(math.comb(40, j) * q0**j * (1 - q0) ** (40 - j) for j in range(30, 41))
    p = min(1.0, float(2 * tail))
    assert main(gate(run, "--min-win-rate", "0.6")) == (0 if p <= 0.05 else 1)
    line = capsys.readouterr().out.strip()
    assert f"against q0=0.625 (win rate 0.6 at the observed tie share): p={p:.3g}" in line
    assert gate_test(wins=30, ties=10, losses=10, min_win_rate=0.6).p_value == pytest.approx(p, rel=1e-9)
    assert main(gate(run, "--min-win-rate", "0.75")) == 1  # above the observed 0.7: never passes


def test_one_judge_of_a_panel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path, 15, 10, 15)  # the panel's majority: a dead heat
    strong = [Battle("ft", "base", "model_a", "t", f"q{k}", judge="j1") for k in range(20)]
    weak = [Battle("ft", "base", "tie", "t", f"q{k}", judge="j2") for k in range(20)]
    rundir.write_judge_battles(run, {"j1": strong, "j2": weak})
    assert main(gate(run, "--judge", "j1")) == 0
    assert main(gate(run, "--judge", "j2")) == 1
    assert main(gate(run)) == 1
    capsys.readouterr()
    assert main(gate(run, "--judge", "j3")) == 2
    assert "--judge 'j3': no battles from it" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--model", "ft", "--over", "bas"], "--over 'bas': no such model in the battles (models there: ft, base, other)"),
    (["--model", "ft", "--over", "ft"], "name the same model"),
    (["--model", "base", "--over", "other"], "'base' and 'other' never met"),
    (["--model", "ft", "--over", "base", "--alpha", "1.5"], "--alpha: 1.5 is out of range"),
    (["--model", "ft", "--over", "base", "--min-win-rate", "1"], "--min-win-rate: 1.0 is out of range"),
])
def test_gate_refuses_bad_input_with_exit_2(tmp_path: Path, argv: list[str], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path, 20, 0, 0)
    assert main(["gate", str(run), *argv]) == 2
    out = capsys.readouterr()
    assert out.out == "" and message in out.err and len(out.err.strip().splitlines()) == 1


def test_gate_on_a_missing_or_unjudged_run_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", str(tmp_path / "nope"), "--model", "ft", "--over", "base"]) == 2
    assert "no such run directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["gate", str(tmp_path / "empty"), "--model", "ft", "--over", "base"]) == 2
    assert "no battles.jsonl; judge the run first" in capsys.readouterr().err


def test_gate_on_a_judged_run_agrees_with_the_pair_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run judged by ``harness judge`` over a scripted HTTP judge (tests/judged_run.py): the gate's
    counts and p-value are the ones the run's own pair sign tests print."""
    from judged_run import make_run

    from harness.analysis.figures import Figures
    from harness.analysis.files import RunFiles

    run = make_run(tmp_path)
    capsys.readouterr()
    pair = next(t for t in Figures(RunFiles(run)).sign_tests if (t.model, t.opponent) == ("ft_v2&co", "base"))
    status = main(["gate", str(run), "--model", "ft_v2&co", "--over", "base"])
    line = capsys.readouterr().out.strip()
    assert status == (0 if pair.p_value <= 0.05 and pair.wins > pair.losses else 1)
    assert (f"n={pair.wins + pair.ties + pair.losses} battles ({pair.wins + pair.losses} decisive: {pair.wins} "
            f"wins, {pair.losses} losses; {pair.ties} ties)") in line
    assert f"p={pair.p_value:.3g}" in line and f"win rate {pair.win_rate:.3f} [{pair.ci_low:.3f}" in line
