"""A run directory's files, each read at most once, on first use (:class:`RunFiles`).

Every reader is :mod:`harness.core.rundir`'s, so a malformed file is the same one error naming it
whichever screen reads it first. ``questions.jsonl`` is read once and its turn counts handed to
the readers of judgments, battles and grades (each would otherwise read it again to check turns).

Not handled: computing anything from the files (:mod:`harness.analysis.figures`), writing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core import rundir
from harness.core.errors import HarnessError, SpecError
from harness.core.files import json_object
from harness.core.types import Answer, Battle, BiasCheck, Grade, HumanLabel, Judgment, Task, UsageLine
from harness.models.backends import parse_spec
from harness.stats.bradley_terry import parse_prior_sd
from harness.tasks import answered_tasks


@dataclass(frozen=True)
class Finetune:
    """A candidate that is a LoRA adapter, with what its fine-tune wrote (when the folder is found)."""

    model: str
    adapter: Path
    manifest: dict[str, Any]
    log: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class RatingSettings:
    """The run config's rating settings (the defaults for a run without them)."""

    bootstrap: int = 1000
    elo_rounds: int = 100
    seed: int = 0
    prior_sd: float | None = None
    """Bradley-Terry's prior (None: only where the maximum likelihood does not exist)."""


@dataclass(frozen=True)
class RunFiles:
    """The files of one run directory, read lazily (each property reads its file once)."""

    run_dir: Path
    tasks_dirs: tuple[Path, ...] = field(default=())
    """Where to find the task files of a run made before ``questions.jsonl`` existed."""

    def __post_init__(self) -> None:
        if not self.run_dir.is_dir():
            raise HarnessError(f"{self.run_dir}: no such run directory")

    @functools.cached_property
    def config(self) -> dict[str, Any]:
        return rundir.read_config(self.run_dir) or {}

    @functools.cached_property
    def settings(self) -> RatingSettings:
        """Bootstrap rounds, Elo rounds, seed and prior; a config value of the wrong kind is left
        at the default, a bad prior is one error naming the file."""
        found = {k: v for k in ("bootstrap", "elo_rounds", "seed")
                 if isinstance(v := self.config.get(k), int) and not isinstance(v, bool)}
        prior = self.config.get("prior_sd")
        where = f"{self.run_dir / rundir.CONFIG}: field 'prior_sd'"
        return RatingSettings(**found, prior_sd=None if prior is None else parse_prior_sd(prior, where=where))

    @functools.cached_property
    def questions(self) -> tuple[Task, ...] | None:
        """``questions.jsonl``'s tasks; None for a run made before it existed."""
        found = rundir.read_questions(self.run_dir)
        return None if found is None else tuple(found)

    @functools.cached_property
    def tasks(self) -> tuple[Task, ...]:
        """The run's tasks: ``questions.jsonl``, else the task files that have the answered tasks."""
        if self.questions is not None:
            return self.questions
        return tuple(answered_tasks(self.run_dir, self.tasks_dirs))

    @functools.cached_property
    def _turns(self) -> dict[tuple[str, str], int]:
        return rundir.question_turns(self.questions)

    @functools.cached_property
    def leaderboard(self) -> tuple[dict[str, str], ...]:
        """``leaderboard.csv``'s rows, as the CSV spells them."""
        return tuple(rundir.read_leaderboard(self.run_dir))

    @functools.cached_property
    def has_leaderboard(self) -> bool:
        return (self.run_dir / rundir.LEADERBOARD_CSV).is_file()

    @functools.cached_property
    def turn_leaderboards(self) -> dict[int, list[dict[str, str]]]:
        return rundir.read_turn_leaderboards(self.run_dir)

    @functools.cached_property
    def battles(self) -> tuple[Battle, ...]:
        return tuple(rundir.read_battles(self.run_dir, turns=self._turns))

    @functools.cached_property
    def judge_battles(self) -> tuple[Battle, ...] | None:
        """``battles_by_judge.jsonl`` (a panel of judges); None with one judge."""
        found = rundir.read_judge_battles(self.run_dir, turns=self._turns)
        return None if found is None else tuple(found)

    @functools.cached_property
    def judgments(self) -> tuple[Judgment, ...]:
        return tuple(rundir.read_judgments(self.run_dir, turns=self._turns))

    @functools.cached_property
    def grades(self) -> tuple[Grade, ...]:
        return tuple(rundir.read_grades(self.run_dir, turns=self._turns))

    @functools.cached_property
    def answers(self) -> tuple[Answer, ...]:
        return tuple(rundir.read_answers(self.run_dir))

    @functools.cached_property
    def usage(self) -> tuple[UsageLine, ...]:
        return tuple(rundir.read_usage(self.run_dir))

    @functools.cached_property
    def human(self) -> tuple[HumanLabel, ...]:
        """Imported labels and the votes of ``harness human serve`` (:func:`rundir.read_human`)."""
        return tuple(rundir.read_human(self.run_dir))

    @functools.cached_property
    def bias(self) -> tuple[BiasCheck, ...]:
        """``bias.csv``: what ``harness bias`` measured."""
        return tuple(rundir.read_bias(self.run_dir))

    @functools.cached_property
    def finetunes(self) -> tuple[tuple[Finetune, ...], tuple[str, ...]]:
        """The fine-tuned candidates whose adapter folder has its manifest, and the others (named
        with their folder)."""
        found, missing = [], []
        for model, folder in adapter_dirs(self.answers):
            manifest_path = folder / rundir.MANIFEST
            if not manifest_path.is_file():
                missing.append(f"{model} ({folder})")
                continue
            found.append(Finetune(model, folder, json_object(manifest_path),
                                  tuple(rundir.read_train_log(folder))))
        return tuple(found), tuple(missing)


def adapter_dirs(answers: Sequence[Answer]) -> list[tuple[str, Path]]:
    """Each fine-tuned candidate (a ``BASE+lora:DIR`` spec) with its adapter folder."""
    out = []
    for model, spec in dict.fromkeys((a.model, a.spec) for a in answers if a.spec):
        try:
            adapter = parse_spec(spec).adapter
        except SpecError:
            continue
        if adapter is not None:
            out.append((model, Path(adapter).expanduser()))
    return out


