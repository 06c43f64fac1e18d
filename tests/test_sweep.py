"""`harness finetune --save-every N` and `harness sweep`: picking a checkpoint on half the questions
and judging it on the other half.

The fast tests check the split, the tallies, the choice and the decision line on hand-made battles,
and finding checkpoint folders on disk; the slow one fine-tunes the embedded model for two steps,
keeping both, and sweeps them end to end, then recounts the sweep's figures from battles.jsonl.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.sweep import SweepFigures
from harness.app.cli import main
from harness.app.sweep_command import base_spec, decision
from harness.core.errors import HarnessError
from harness.core.types import Battle, PairRecord
from harness.finetune.checkpoints import Checkpoint, checkpoint_dir, find_checkpoints, save_checkpoint
from harness.finetune.train import FinetuneConfig
from harness.reports.plots import save_sweep_plot
from harness.stats.significance import wilson_interval
from harness.stats.sweep import best, split_halves, sweep, tally

QUESTIONS = [("law", f"q{i:02d}") for i in range(40)]


def battle(model: str, q: tuple[str, str], winner: str, *, first: bool = True, turn: int | None = None) -> Battle:
    """``model`` against base on ``q``; ``winner`` is "model", "base" or a tie, whichever slot it sits in."""
    a, b = (model, "base") if first else ("base", model)
    slot = {"model": "model_a" if first else "model_b", "base": "model_b" if first else "model_a"}
    return Battle(a, b, slot.get(winner, winner), q[0], q[1], "reference:chrf", turn)  # type: ignore[arg-type]


# --- the split ---------------------------------------------------------------------------------

def test_the_halves_are_disjoint_cover_every_question_and_repeat_with_the_seed() -> None:
    pick, held = split_halves(QUESTIONS, seed=7)
    assert len(pick) == 20 and len(held) == 20
    assert not set(pick) & set(held) and set(pick) | set(held) == set(QUESTIONS)
    assert split_halves(QUESTIONS, seed=7) == (pick, held)
    assert list(pick) == sorted(pick) and list(held) == sorted(held)  # each half in the order given
    assert split_halves(QUESTIONS, seed=8) != (pick, held)
    odd_pick, odd_held = split_halves(QUESTIONS[:5], seed=0)
    assert (len(odd_pick), len(odd_held)) == (2, 3)  # the held-out half takes the odd one out


def test_a_split_needs_two_questions() -> None:
    with pytest.raises(HarnessError, match="at least 2 questions"):
        split_halves([("law", "q1"), ("law", "q1")], seed=0)


# --- tallies and the choice ----------------------------------------------------------------------

def test_tally_counts_the_model_in_either_slot_only_on_the_questions_given() -> None:
    qs = QUESTIONS[:4]
    battles = [battle("s1", qs[0], "model"), battle("s1", qs[1], "base", first=False),
               battle("s1", qs[2], "tie (bothbad)"), battle("s1", qs[3], "model", first=False),
               battle("s2", qs[0], "base")]  # another checkpoint: not counted
    r = tally(battles, model="s1", opponent="base", questions=qs[:3])
    assert (r.wins, r.ties, r.losses) == (1, 1, 1)
    assert tally(battles, model="s1", opponent="base", questions=qs).wins == 2


def test_a_multi_turn_question_counts_once_by_its_last_turn() -> None:
    q = QUESTIONS[0]
    r = tally([battle("s1", q, "base", turn=1), battle("s1", q, "model", turn=2)],
              model="s1", opponent="base", questions=[q])
    assert (r.wins, r.losses, r.n) == (1, 0, 1)


def test_the_best_win_rate_wins_ties_count_half_and_equal_rates_go_to_the_earlier_step() -> None:
    def rec(w: int, t: int, lost: int) -> PairRecord:
        return PairRecord("m", "base", w, t, lost)

    # 2 ties of 2 (50%) beats 0 of 2; 1-0-1 is also 50%: the earlier step of the two, whatever the order
    assert best([(5, rec(1, 0, 1)), (3, rec(0, 2, 0)), (1, rec(0, 0, 2))]) == 1
    assert best([(3, rec(0, 2, 0)), (5, rec(1, 0, 1))]) == 0
    assert best([(9, rec(3, 0, 0)), (1, rec(2, 1, 0))]) == 0
    assert best([(1, rec(0, 0, 0)), (2, rec(0, 0, 1))]) == 1  # never judged: passed over
    assert best([(1, rec(0, 0, 0))]) is None


def test_the_chosen_checkpoint_is_measured_on_held_out_questions_only() -> None:
    """A checkpoint that wins every selection question and loses every held-out one: picked, and
    then reported as losing, which is what a sweep measured on one set of questions would hide."""
    pick, held = split_halves(QUESTIONS, seed=3)
    lucky = [battle("step-2", q, "model") for q in pick] + [battle("step-2", q, "base") for q in held]
    steady = [battle("step-1", q, "model" if i % 2 else "base") for i, q in enumerate(QUESTIONS)]
    found = sweep(lucky + steady, checkpoints=[(2, "step-2"), (1, "step-1")], baseline="base",
                  questions=QUESTIONS, seed=3)
    assert [p.step for p in found.points] == [1, 2]
    assert found.pick.model == "step-2" and found.pick.win_rate == 1.0
    assert (found.held_out.wins, found.held_out.losses, found.held_out.n) == (0, 20, 20)
    assert (found.lower, found.upper) == pytest.approx(wilson_interval(0, 20))
    assert found.verdict == "worse" and found.alpha == 0.05
    line = decision(SweepFigures(found, {}, ("reference:chrf",)))
    assert line.startswith("decision: step-2 is worse than base") and "n = 20 held-out" in line
    assert "95% Wilson" in line and "alpha 0.05" in line


def test_the_decision_claims_a_win_only_where_the_interval_lies_above_one_half() -> None:
    pick, held = split_halves(QUESTIONS, seed=0)

    def line(held_wins: int) -> str:
        bs = [battle("step-1", q, "model") for q in pick]
        bs += [battle("step-1", q, "model" if i < held_wins else "base") for i, q in enumerate(held)]
        found = sweep(bs, checkpoints=[(1, "step-1")], baseline="base", questions=QUESTIONS, seed=0)
        return decision(SweepFigures(found, {}, ()))

    assert "beats base" in line(16)  # 16 of 20: Wilson [58.4%, 91.9%]
    assert wilson_interval(14, 20)[0] < 0.5
    assert line(14).startswith("decision: no claim") and "includes 50%" in line(14)  # 70%, but n = 20


def test_no_held_out_battle_is_no_claim() -> None:
    pick, _ = split_halves(QUESTIONS[:4], seed=0)
    found = sweep([battle("step-1", q, "model") for q in pick], checkpoints=[(1, "step-1")],
                  baseline="base", questions=QUESTIONS[:4], seed=0)
    assert found.held_out.n == 0 and math.isnan(found.lower)
    assert decision(SweepFigures(found, {}, ())).startswith("decision: no claim: step-1 has no judged battle")
    assert SweepFigures(found, {}, ()).to_json()["held_out"]["win_rate"] is None


def test_the_plot_is_drawn_from_the_figures(tmp_path: Path) -> None:
    pick, _ = split_halves(QUESTIONS, seed=0)
    bs = [battle(f"step-{s}", q, "model" if i % s == 0 else "base")
          for s in (1, 2, 3) for i, q in enumerate(QUESTIONS)]
    found = sweep(bs, checkpoints=[(1, "step-1"), (2, "step-2"), (3, "step-3")], baseline="base",
                  questions=QUESTIONS, seed=0)
    target = save_sweep_plot(SweepFigures(found, {}, ()), tmp_path / "sweep.png")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- checkpoint folders --------------------------------------------------------------------------

def adapter(folder: Path, manifest: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"")
    if manifest is not None:
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_checkpoint_folders_by_step_harness_s_own_before_the_trainer_s_copy(tmp_path: Path) -> None:
    kept = tmp_path / "checkpoints"
    adapter(kept / "step-0002", {"step": 2, "base": "embedded"})
    adapter(kept / "checkpoint-2")  # the Trainer's resume copy of the same step
    adapter(kept / "checkpoint-10")  # another tool's adapter: step from its name
    adapter(kept / ".step-0003.tmp99", {"step": 3})  # a save cut short
    (kept / "step-0004").mkdir()  # no adapter in it
    (kept / "notes.txt").write_text("x")
    found = find_checkpoints(kept)
    assert [(c.step, c.path.name, c.base) for c in found] == [(2, "step-0002", "embedded"),
                                                             (10, "checkpoint-10", None)]


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: None, "no adapter folders in it"),
    (lambda d: (adapter(d / "a-1"), adapter(d / "b-1")), "a-1 and b-1 are both step 1"),
    (lambda d: adapter(d / "final"), "step cannot be told"),
    (lambda d: adapter(d / "step-0001", {"step": "one"}), "field 'step' must be a whole number"),
    (lambda d: (adapter(d / "step-0001"), (d / "step-0001" / "manifest.json").write_text("{")),
     "not valid JSON"),
])
def test_bad_checkpoint_folders_are_one_error_naming_them(tmp_path: Path, make: Any, message: str) -> None:
    (tmp_path / "c").mkdir()
    make(tmp_path / "c")
    with pytest.raises(HarnessError, match=message):
        find_checkpoints(tmp_path / "c")


def test_save_checkpoint_writes_the_adapter_and_its_manifest_and_replaces_a_redone_step(tmp_path: Path) -> None:
    class Model:
        def __init__(self, weights: bytes) -> None:
            self.weights = weights

        def save_pretrained(self, path: Path) -> None:
            Path(path).mkdir(parents=True, exist_ok=True)
            (Path(path) / "adapter_config.json").write_text("{}")
            (Path(path) / "adapter_model.safetensors").write_bytes(self.weights)

    manifest = {"base": "embedded", "data": "law.jsonl"}
    first = save_checkpoint(Model(b"old"), out=tmp_path, step=3, manifest=manifest)
    assert first == checkpoint_dir(tmp_path, 3) == tmp_path / "checkpoints" / "step-0003"
    again = save_checkpoint(Model(b"new"), out=tmp_path, step=3, manifest=manifest)
    assert (again / "adapter_model.safetensors").read_bytes() == b"new"
    assert json.loads((again / "manifest.json").read_text()) == {**manifest, "step": 3, "steps": 3}
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-0003"]


def test_the_base_comes_from_the_manifests_or_base_spec() -> None:
    cps = [Checkpoint(1, Path("a"), "embedded"), Checkpoint(2, Path("b"), None)]
    assert base_spec(cps, None) == "embedded"
    assert base_spec(cps, "hf:gpt2") == "hf:gpt2"
    with pytest.raises(HarnessError, match="different bases"):
        base_spec([*cps, Checkpoint(3, Path("c"), "hf:gpt2")], None)
    with pytest.raises(HarnessError, match="give --base-spec"):
        base_spec([Checkpoint(1, Path("a"), None)], None)
    with pytest.raises(HarnessError, match="without an adapter"):
        base_spec(cps, "embedded+lora:x")


def test_save_every_must_be_a_positive_whole_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(HarnessError, match="--save-every 0"):
        FinetuneConfig(base="embedded", out=tmp_path, save_every=0)
    assert FinetuneConfig(base="embedded", out=tmp_path, save_every=5).save_every == 5
    assert main(["finetune", "--base", "embedded", "--task", "en_law", "--out", str(tmp_path / "o"),
                 "--save-every", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--save-every 0: out of range" in err


def test_sweep_refuses_a_baseline_named_like_a_checkpoint(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    adapter(tmp_path / "c" / "step-0001", {"step": 1, "base": "embedded"})
    assert main(["sweep", str(tmp_path / "run"), "--checkpoints", str(tmp_path / "c"),
                 "--against", "step-1"]) == 2
    assert "--against 'step-1'" in capsys.readouterr().err and not (tmp_path / "run").exists()
    assert main(["sweep", str(tmp_path / "run"), "--checkpoints", str(tmp_path / "none"),
                 "--against", "base"]) == 2
    assert "no such folder" in capsys.readouterr().err


# --- end to end ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_finetune_keeps_checkpoints_and_the_sweep_picks_on_one_half_and_reports_the_other(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, run = tmp_path / "law", tmp_path / "sweep"
    # the smallest settings tests/finetune uses; a higher learning rate so two steps change answers
    assert main(["finetune", "--base", "embedded", "--task", "en_law", "--max-steps", "2", "--save-every", "1",
                 "--out", str(out), "--batch-size", "2", "--max-seq-len", "384", "--no-4bit",
                 "--lr", "3e-3"]) == 0
    assert "checkpoints: every 1 steps" in capsys.readouterr().out
    assert (out / "adapter_model.safetensors").is_file()  # the final adapter stays where it was
    for step in (1, 2):
        kept = out / "checkpoints" / f"step-000{step}"
        assert (kept / "adapter_config.json").is_file() and (kept / "adapter_model.safetensors").is_file()
        manifest = json.loads((kept / "manifest.json").read_text())
        assert manifest["step"] == step and manifest["base"] == "embedded"
        assert manifest["data"].endswith("en_law.jsonl") and manifest["config"]["save_every"] == 1

    # short answers and no report: the embedded model on a CPU takes a while per token
    assert main(["sweep", str(run), "--checkpoints", str(out / "checkpoints"), "--against", "base",
                 "--tasks", "en_law", "--limit", "4", "--no-progress", "--max-new-tokens", "24",
                 "--report", "none"]) == 0
    said = capsys.readouterr().out
    assert "decision: " in said and "95% Wilson interval" in said and "alpha 0.05" in said

    found = json.loads((run / "sweep.json").read_text())
    assert set(found) >= {"baseline", "seed", "questions", "checkpoints", "chosen", "held_out", "alpha"}
    assert found["baseline"] == {"model": "base", "spec": "embedded"}
    assert [(c["step"], c["model"]) for c in found["checkpoints"]] == [(1, "step-1"), (2, "step-2")]
    assert found["checkpoints"][0]["spec"] == f"embedded+lora:{out / 'checkpoints' / 'step-0001'}"
    pick = {(q["task"], q["question_id"]) for q in found["questions"]["selection"]}
    held = {(q["task"], q["question_id"]) for q in found["questions"]["held_out"]}
    rows = [json.loads(x) for x in (run / "questions.jsonl").read_text().splitlines()]
    asked = {(r["task"], r["id"]) for r in rows}
    assert len(asked) == 4 and len(pick) == len(held) == 2 and pick | held == asked and not pick & held

    # An independent recount from battles.jsonl.
    battles = [json.loads(x) for x in (run / "battles.jsonl").read_text().splitlines()]

    def count(model: str, questions: set[tuple[str, str]]) -> Counter[str]:
        c: Counter[str] = Counter()
        for b in battles:
            if {b["model_a"], b["model_b"]} != {model, "base"} or (b["task"], b["question_id"]) not in questions:
                continue
            won = b["model_a"] if b["winner"] == "model_a" else b["model_b"] if b["winner"] == "model_b" else None
            c["win" if won == model else "tie" if won is None else "loss"] += 1
        return c

    def rate(c: Counter[str]) -> float:
        return (c["win"] + c["tie"] / 2) / sum(c.values())

    selection = {c["model"]: count(c["model"], pick) for c in found["checkpoints"]}
    for c in found["checkpoints"]:
        assert c["selection"]["n"] == sum(selection[c["model"]].values()) == 2
        assert c["selection"]["win_rate"] == pytest.approx(rate(selection[c["model"]]))
    top = max(rate(c) for c in selection.values())
    assert found["chosen"]["model"] == min((m for m, c in selection.items() if rate(c) == top),
                                           key=lambda m: int(m.split("-")[1]))

    held_count = count(found["chosen"]["model"], held)
    h = found["held_out"]
    assert (h["wins"], h["ties"], h["losses"]) == (held_count["win"], held_count["tie"], held_count["loss"])
    assert h["n"] == 2 and h["win_rate"] == pytest.approx(rate(held_count))
    assert (h["lower"], h["upper"]) == pytest.approx(wilson_interval(h["win_rate"] * h["n"], h["n"]), abs=1e-6)
    if h["lower"] <= 0.5:  # two held-out questions never support a claim; the line must not make one
        assert "decision: no claim" in said

    assert (run / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "leaderboard.csv").is_file()  # an ordinary run directory besides
    config = (run / "config.yaml").read_text()
    assert "step-0002" in config and "max_new_tokens: 24" in config
