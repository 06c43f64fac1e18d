from __future__ import annotations

import pytest

from harness.core.types import Battle
from harness.stats.ratings import elo_ratings, leaderboard, online_elo, pair_records


def _b(a: str, b: str, winner: str, q: str = "q") -> Battle:
    return Battle(a, b, winner, "t", q)  # type: ignore[arg-type]


def test_online_elo_reproduces_a_hand_computed_sequence() -> None:
    # K=4, base 10, scale 400, start 1000; each step computed by hand:
    # 1) x beats y: E_x = 0.5 -> x 1002, y 998
    # 2) y beats z: E_y = 1/(1+10^(2/400)) = 0.4971218 -> y 1000.0115128, z 997.9884872
    # 3) x ties z: E_x = 1/(1+10^((997.9884872-1002)/400)) = 0.5057728 -> x 1001.9769089,
    #    z 998.0115783
    seq = [_b("x", "y", "model_a"), _b("y", "z", "model_a"), _b("x", "z", "tie")]
    r = online_elo(seq)
    assert r["x"] == pytest.approx(1001.9769089, abs=1e-6)
    assert r["y"] == pytest.approx(1000.0115128, abs=1e-6)
    assert r["z"] == pytest.approx(998.0115783, abs=1e-6)
    assert sum(r.values()) == pytest.approx(3000)


def test_elo_is_averaged_over_seeded_shuffles() -> None:
    battles = [_b("x", "y", "model_a", str(i)) for i in range(6)] + [_b("x", "y", "model_b", "7")]
    assert elo_ratings(battles, rounds=20, seed=1) == elo_ratings(list(reversed(battles)), rounds=20, seed=1)
    assert elo_ratings(battles, rounds=20, seed=1)["x"] > 1000


def test_pair_records_and_leaderboard_count_win_tie_lose() -> None:
    battles = [_b("x", "y", "model_a"), _b("x", "y", "tie"), _b("y", "x", "model_a"),
               _b("x", "z", "model_b")]
    recs = {(r.model, r.opponent): (r.wins, r.ties, r.losses) for r in pair_records(battles, ["x", "y", "z"])}
    assert recs[("x", "y")] == (1, 1, 1)
    assert recs[("y", "x")] == (1, 1, 1)
    assert recs[("z", "x")] == (1, 0, 0)
    rows = {r.model: r for r in leaderboard(battles, ["x", "y", "z"])}
    assert (rows["x"].wins, rows["x"].ties, rows["x"].losses) == (1, 1, 2)
    assert rows["z"].win_rate == 1.0
    assert leaderboard(battles, ["x", "y", "z"])[0].model == "z"
