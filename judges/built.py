"""Building judges once: settings and prompt folders in, :class:`BuiltJudge` objects out.

One place loads what a judge needs before it judges anything: its prompt, the turns prompt for
multi-turn questions (:func:`harness.judges.conversation.turn_prompt_for`) and its backend
(:func:`harness.judges.asking.load_judge`, which checks the spec and loads no model yet). Not
handled here: which method a judge uses (:func:`harness.judges.asking.resolve_method`, asked when
judging, or by the caller to fail early), and checking a config before a run
(``harness.app.pipeline.check``, which reports a bad spec before a bad prompt name). A recheck
builds its judge from the prompts the run recorded, not from settings, so it makes its
:class:`BuiltJudge` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.core.types import Task
from harness.judges.asking import BuiltJudge, JudgeSettings, load_judge
from harness.judges.conversation import turn_prompt_for
from harness.judges.prompts import load_prompt


def build_judges(judges: Sequence[JudgeSettings], *, prompts_dirs: Sequence[Path] = (),
                 tasks: Sequence[Task] = ()) -> list[BuiltJudge]:
    """One :class:`BuiltJudge` per settings, in order. ``tasks``: the questions to judge (a turns
    prompt is loaded when one is multi-turn, or when the settings name one).

    Each step runs for every judge before the next (all prompts, then all turns prompts, then all
    backends), so a panel with a misspelt prompt name fails on it before any backend is made.
    """
    prompts = [load_prompt(s.prompt, prompts_dirs) for s in judges]
    turn_prompts = [turn_prompt_for(s, p, tasks, prompts_dirs) for s, p in zip(judges, prompts)]
    backends = [load_judge(s.spec) for s in judges]
    return [BuiltJudge(s, b, p, t) for s, b, p, t in zip(judges, backends, prompts, turn_prompts)]


def build_judge(settings: JudgeSettings, *, prompts_dirs: Sequence[Path] = (),
                tasks: Sequence[Task] = ()) -> BuiltJudge:
    """:func:`build_judges` for one judge."""
    return build_judges([settings], prompts_dirs=prompts_dirs, tasks=tasks)[0]
