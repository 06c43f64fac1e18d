"""Task plugins: each ``*.yaml`` file here (or in a ``--tasks-dir`` folder) is one task.

The file name is the task id. In a ``--tasks-dir`` folder, a question file in one of the field's
common formats (``.jsonl``, ``.json``, ``.csv``: MT-Bench, Arena-Hard, AlpacaEval or harness's
generic rows; see :mod:`harness.tasks.formats`) is a task too; the built-in tasks are YAML only
(``train/`` holds fine-tuning data, not tasks). ``hf:NAME[:CONFIG][@SPLIT]`` names a Hugging Face
dataset as a task (:mod:`harness.tasks.hub`). An installed package adds tasks through the
``harness.tasks`` entry point group; the entry point names a function returning a
:class:`~harness.core.types.Task` or the path of a task file.

A task has any number of questions, at least one; the six built-in tasks have 20 each. A
question in a YAML task file has ``question`` (one user message) or ``turns`` (a list of at least
2, for a multi-turn question) with ``references`` (one per turn) or ``reference`` (turn 1's).

Floor 2 (``harness.tasks``): imports only ``harness.core``; not models or stats (its siblings).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.files import check_fields, read_yaml
from harness.core.plugins import PluginRef, discover, unknown
from harness.core.types import Question, Task
from harness.tasks import formats, hub

BUILTIN_DIR = Path(__file__).parent
SUFFIXES = (".yaml", ".yml")
TASK_KEYS = {"language": str, "domain": str, "description": str, "questions": list}
QUESTION_REQUIRED = ("id", "question", "category", "reference")
QUESTION_OPTIONAL = ("input",)
MULTI_TURN_REQUIRED = ("id", "turns", "category")
MULTI_TURN_OPTIONAL = ("reference", "references", "input")
"""A multi-turn question has ``turns`` (at least 2 user messages) instead of ``question``, and
``references`` (one per turn) or ``reference`` (turn 1's) or neither."""
HUB_PREFIX = hub.PREFIX
"""A task name starting so is a Hugging Face dataset spec, not a file."""


def available(tasks_dirs: Sequence[Path] = ()) -> dict[str, PluginRef]:
    """All task names that can be loaded from files and entry points, built-in first."""
    found = discover([BUILTIN_DIR], SUFFIXES, None)
    for name, ref in discover(tasks_dirs, SUFFIXES + formats.SUFFIXES, "harness.tasks").items():
        if name in found:  # the same rule discover() applies within one call
            raise HarnessError(f"plugin name {name!r} is defined twice: {found[name].source} and "
                               f"{ref.source}")
        found[name] = ref
    return found


def load_task(name: str, tasks_dirs: Sequence[Path] = ()) -> Task:
    """Load one task by name (or ``hf:`` dataset spec); an unknown name is a :class:`HarnessError`."""
    if hub.is_spec(name):
        return hub.load_hub_task(name)
    refs = available(tasks_dirs)
    if name not in refs:
        raise unknown("task", name, refs)
    return _load_ref(refs[name])


def load_tasks(names: Sequence[str] | None, tasks_dirs: Sequence[Path] = ()) -> list[Task]:
    """Load the named tasks (all built-in and user tasks when ``names`` is None)."""
    refs = available(tasks_dirs)
    for name in names or ():
        if name not in refs and not hub.is_spec(name):
            raise unknown("task", name, refs)
    return [hub.load_hub_task(n) if hub.is_spec(n) else _load_ref(refs[n])
            for n in (names if names else sorted(refs))]


def _load_ref(ref: PluginRef) -> Task:
    if ref.path is not None:
        return load_task_file(ref.path)
    obj = ref.load_entry_point()
    task = obj() if callable(obj) else obj
    if isinstance(task, (str, Path)):
        return load_task_file(Path(task), name=ref.name)
    if not isinstance(task, Task):
        raise HarnessError(f"{ref.source}: expected a Task or a task file path, got {type(task).__name__}")
    return task


def load_task_file(path: Path, name: str | None = None) -> Task:
    """Read and validate a task file; any problem is one error naming file, question and field.

    ``.jsonl``, ``.json`` and ``.csv`` files are question files (:mod:`harness.tasks.formats`);
    anything else is read as a YAML task file.
    """
    if path.suffix in formats.SUFFIXES:
        return formats.read_task_file(path, name=name)
    data = read_yaml(path)
    return parse_task(data, name or path.stem, str(path))


def parse_task(data: Any, name: str, source: str) -> Task:
    """Build a Task from parsed YAML, checking every field."""
    if not isinstance(data, dict):
        raise HarnessError(f"{source}: expected a mapping with keys {sorted(TASK_KEYS)}")
    check_fields(data, TASK_KEYS, (), source)
    for key, kind in TASK_KEYS.items():
        if not isinstance(data[key], kind) or (kind is str and not data[key].strip()):
            raise HarnessError(f"{source}: field {key!r} must be a non-empty {kind.__name__}")
    questions = tuple(_parse_question(q, i, source) for i, q in enumerate(data["questions"], 1))
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            raise HarnessError(f"{source}: question {q.id}: duplicate id")
        seen.add(q.id)
    if not questions:
        raise HarnessError(f"{source}: field 'questions' is empty; a task has at least 1 question")
    return Task(id=name, language=data["language"], domain=data["domain"],
                description=data["description"].strip(), questions=questions, source=source)


def _parse_question(raw: Any, index: int, source: str) -> Question:
    where = f"{source}: question #{index}"
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: expected a mapping with fields {', '.join(QUESTION_REQUIRED)}")
    if isinstance(raw.get("id"), (str, int)):
        where = f"{source}: question {raw['id']}"
    if "turns" in raw:
        return _parse_multi_turn(raw, where)
    check_fields(raw, QUESTION_REQUIRED, QUESTION_OPTIONAL, where)
    values = {}
    for key in QUESTION_REQUIRED + QUESTION_OPTIONAL:
        value = raw.get(key, "")
        if key == "id" and isinstance(value, int):
            value = str(value)
        if not isinstance(value, str) or (key in QUESTION_REQUIRED and not value.strip()):
            raise HarnessError(f"{where}: field {key!r} must be a non-empty string")
        values[key] = value.strip()
    return Question(id=values["id"], question=values["question"], category=values["category"],
                    reference=values["reference"], input=values["input"])


def _parse_multi_turn(raw: dict[str, Any], where: str) -> Question:
    if "question" in raw:
        raise HarnessError(f"{where}: give either 'question' or 'turns', not both")
    if "reference" in raw and "references" in raw:
        raise HarnessError(f"{where}: give either 'reference' (turn 1's) or 'references' (one per "
                           "turn), not both")
    check_fields(raw, MULTI_TURN_REQUIRED, MULTI_TURN_OPTIONAL, where)
    turns = _texts(raw["turns"], "turns", where)
    if len(turns) < 2:
        raise HarnessError(f"{where}: field 'turns' must list at least 2 user messages (use "
                           f"'question' for one)")
    if "references" in raw:
        references = _texts(raw["references"], "references", where)
        if len(references) != len(turns):
            raise HarnessError(f"{where}: field 'references' has {len(references)} entries for "
                               f"{len(turns)} turns; give one per turn")
    else:
        references = [_text(raw.get("reference", ""), "reference", where, required=False)]
    qid = str(raw["id"]) if isinstance(raw["id"], int) else raw["id"]
    values = {"id": qid, "category": raw["category"], "input": raw.get("input", "")}
    for key in ("id", "category", "input"):
        values[key] = _text(values[key], key, where, required=key != "input")
    return Question(id=values["id"], question=turns[0], category=values["category"],
                    reference=references[0], input=values["input"], turns=tuple(turns[1:]),
                    turn_references=tuple(references[1:]))


def _text(value: Any, key: str, where: str, *, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        raise HarnessError(f"{where}: field {key!r} must be a non-empty string")
    return value.strip()


def _texts(value: Any, key: str, where: str) -> list[str]:
    """A list of non-empty strings, stripped."""
    if not isinstance(value, list):
        raise HarnessError(f"{where}: field {key!r} must be a list of non-empty strings")
    for i, item in enumerate(value, 1):
        if not isinstance(item, str) or not item.strip():
            raise HarnessError(f"{where}: field {key!r}: entry {i} must be a non-empty string")
    return [item.strip() for item in value]


def answered_tasks(run_dir: Path, tasks_dirs: Sequence[Path]) -> list[Task]:
    """The tasks and questions ``answers.jsonl`` has answers for (a run may have used --limit)."""
    answers = rundir.read_answers(run_dir)
    answered = {(a.task, a.question_id) for a in answers}
    task_list = []
    for task_id in dict.fromkeys(a.task for a in answers):
        task = load_task(task_id, tasks_dirs)
        known = {q.id for q in task.questions}
        stray = next((a for a in answers if a.task == task_id and a.question_id not in known), None)
        if stray is not None:  # judging around it would silently leave the answer out
            raise HarnessError(f"{run_dir / rundir.ANSWERS}: model {stray.model!r} answered question "
                               f"{stray.question_id!r}, which task {task_id!r} ({task.source}) does not have")
        qs = tuple(q for q in task.questions if (task.id, q.id) in answered)
        task_list.append(Task(task.id, task.language, task.domain, task.description, qs, task.source))
    return task_list
