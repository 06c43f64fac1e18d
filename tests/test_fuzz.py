"""Property-based fuzzing of every file a user hands harness (issue 15): run configs, task files,
prompt files, battles, human labels and hand-edited run files.

Each example starts from a valid file, damages it the way a careless or hostile person would (a
field's value swapped for an odd one, a field dropped or added, a row duplicated or cut short,
a byte-order mark, deep nesting, control characters), and runs the real command on it. Whatever
the input, the command exits 0, or exits 2 with exactly one ``harness: error:`` line; it never
shows a traceback, writes outside its folder, or changes a file that was already there (other than
the outputs it exists to write).

Bounded: ``HARNESS_FUZZ_EXAMPLES`` examples per target (default 40); in CI the examples are
derandomised, so a failure there reproduces locally with ``CI=true``.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import itertools
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from judged_run import make_run

from harness.app.cli import main
from harness.core import rundir

pytestmark = pytest.mark.slow

FUZZ = settings(max_examples=int(os.environ.get("HARNESS_FUZZ_EXAMPLES", "40")), deadline=None,
                derandomize=bool(os.environ.get("CI")), database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# --- hostile values -------------------------------------------------------------------------

ODD_TEXT = st.sampled_from([
    "", " ", "\n", "../../outside", "/etc/passwd", "a/b", "..", ".", "~", "\x00", "\x07\r", "\t=1+1",
    '=HYPERLINK("http://x","click")', "<img src=x onerror=alert(1)>", "a|b", "{{ 1/0 }}",
    "{{ ''.__class__.__mro__ }}", "{% include 'x' %}", "模型A", "\ufeffmodel_a", "model_a", "model_b", "tie",
    "tie (bothbad)", "error", "bogus", "embedded", "openai:m@http://127.0.0.1:abc/v1", "openai:m@http://[::1",
    "nope:x", "hf:", "reference:chrf", "reference:bleu", "1e308", "nan", "-1", "0", "12345",
    # Characters str.splitlines breaks at (JSON may hold them raw), and the markers below.
    "x\u2028y", "\u2029", "a\x85b", "\x1c\x1d", "__SURROGATE__", "__HUGE__", "__BIGFLOAT__",
])
ODD_NUMBER = st.sampled_from([0, -1, -5, 1, 2, 10**12, 2**63, 1e308, -1e308, float("nan"), float("inf"),
                              float("-inf"), 0.5, -0.0, 1.5, True, False, "__HUGE__", "__BIGFLOAT__"])
SCALAR = st.one_of(ODD_TEXT, ODD_NUMBER, st.none(), st.text(max_size=20), st.integers(-10**6, 10**6),
                   st.floats(allow_nan=True, allow_infinity=True))
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                     max_leaves=6)


DEEP = ("__DEEP_50__", "__DEEP_2000__")
"""Placeholders the writers below expand into brackets nested that deep (hypothesis could not even
print a value nested 2,000 deep when it reports an example)."""
MARKERS = {
    "__HUGE__": "7" * 5000,  # an integer Python will not convert (over 4,300 digits)
    "__BIGFLOAT__": "1e400",  # a float that parses as infinity
    "__SURROGATE__": '"a\\ud800b"',  # half of a UTF-16 pair: valid JSON and YAML, not encodable as UTF-8
}
"""Placeholders for what json.dumps and yaml.safe_dump will not write themselves."""


def _expand_deep(text: str) -> str:
    for marker in DEEP:
        depth = int(marker.strip("_").split("_")[1])
        nested = "[" * depth + "]" * depth
        text = text.replace(f'"{marker}"', nested).replace(f"'{marker}'", nested).replace(marker, nested)
    for marker, value in MARKERS.items():
        text = text.replace(f'"{marker}"', value).replace(f"'{marker}'", value).replace(marker, value)
    return text


# --- mutations of a parsed document (a mapping or a list of rows) ---------------------------

def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in ``doc`` a value sits (keys of mappings, indexes of lists)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def mutated(draw: st.DrawFn, valid: Any) -> Any:
    """``valid`` with one to three damages."""
    doc = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        action = draw(st.sampled_from(["set", "set", "set", "drop", "add", "dup", "deep"]))
        if action == "set":
            parent[path[-1]] = draw(VALUE)
        elif action == "drop":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "id", "winner", "spec", "name", "turns"]))] = draw(VALUE)
        elif action == "dup" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
        elif action == "deep":
            parent[path[-1]] = draw(st.sampled_from(DEEP))
    return doc


@st.composite
def raw_damage(draw: st.DrawFn, text: str) -> str:
    """Damage to the bytes themselves: a BOM, a cut, a stray character, control characters."""
    action = draw(st.sampled_from(["none", "none", "bom", "cut", "insert", "crlf", "empty"]))
    if action == "bom":
        return "\ufeff" + text
    if action == "cut" and text:
        return text[: draw(st.integers(0, len(text) - 1))]
    if action == "insert":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.sampled_from(["[", "{", "\x00", ":", "\"", "\n-", "\x07", "\ud7ff"])) + text[at:]
    if action == "crlf":
        return text.replace("\n", "\r\n")
    if action == "empty":
        return ""
    return text


def _yaml(doc: Any) -> str:
    return _expand_deep(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


def _jsonl(rows: Any) -> str:
    if not isinstance(rows, list):
        rows = [rows]
    return "".join(_expand_deep(json.dumps(row, ensure_ascii=False, allow_nan=True)) + "\n" for row in rows)


def _csv(rows: Any, header: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows if isinstance(rows, list) else [rows]:
        if isinstance(row, dict):
            writer.writerow([row.get(h, "") for h in header][: len(header) - (1 if "cut" in row else 0)])
        else:
            writer.writerow([str(row)])
    return buf.getvalue()


# --- the check --------------------------------------------------------------------------------

@contextlib.contextmanager
def _sandbox() -> Iterator[Path]:
    """A fresh folder as the working directory, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="harness-fuzz-"))
    old = Path.cwd()
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(old)
        shutil.rmtree(root, ignore_errors=True)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def check(argv: list[str], capsys: pytest.CaptureFixture[str], root: Path, *,
          outputs: Callable[[str], bool] = lambda name: False) -> int:
    """Run ``harness argv`` and check the promises; returns the exit status. ``outputs`` says which
    files (relative to ``root``) the command exists to write."""
    capsys.readouterr()
    parent = root.parent
    outside = {p.name for p in parent.iterdir()}
    before = _tree(root)
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, f"{argv}\n{err}"
    assert code in (0, 2), f"exit {code} for {argv}\n{err}"
    if code == 2:  # one error line; notes (said once, on what was read) may come before it
        said = [line for line in err.splitlines() if not line.startswith("note: ")]
        assert len(said) == 1 and said[0].startswith("harness: error: "), f"{argv}\n{err}"
    new_outside = {p.name for p in parent.iterdir()} - outside
    assert not [n for n in new_outside if not n.startswith("harness-fuzz-")], new_outside
    after = _tree(root)
    # A command that succeeded may rewrite its outputs; one that failed leaves every file as it was.
    changed = [name for name, data in before.items()
               if after.get(name) != data and not (code == 0 and outputs(name))]
    assert not changed, f"{argv} changed {changed}"
    return code


# --- targets ----------------------------------------------------------------------------------

VALID_CONFIG = {
    "name": "fuzz", "tasks": ["en_law"], "limit": 2, "seed": 0, "bootstrap": 20, "elo_rounds": 5,
    "models": [{"name": "a", "spec": "embedded", "decoding": {"temperature": 0.7, "top_p": 0.9,
                                                              "max_new_tokens": 32}},
               {"name": "b", "spec": "openai:m@http://127.0.0.1:9/v1"}],
    "judge": {"spec": "reference:chrf", "prompt": "assignment_en"},
    "api": {"concurrency": 2, "max_cost": 1.0, "max_tokens": 1000, "timeout": 5},
    "report": ["md"],
}


@FUZZ
@given(doc=mutated(VALID_CONFIG), data=st.data())
def test_fuzz_run_configs(doc: Any, data: st.DataObject, capsys: pytest.CaptureFixture[str]) -> None:
    with _sandbox() as root:
        path = root / "run.yaml"
        path.write_text(data.draw(raw_damage(_yaml(doc))), encoding="utf-8", errors="surrogatepass")
        check(["run", str(path), "--dry-run"], capsys, root)
        assert not (root / "runs").exists() or not any((root / "runs").iterdir())


VALID_TASK = {"language": "en", "domain": "law", "description": "A fuzzed task.",
              "questions": [{"id": f"q{i}", "category": "c", "question": f"Question {i}?",
                             "reference": f"Answer {i}.", "input": ""} for i in range(1, 21)]}


@FUZZ
@given(doc=mutated(VALID_TASK), data=st.data())
def test_fuzz_task_files(doc: Any, data: st.DataObject, capsys: pytest.CaptureFixture[str]) -> None:
    with _sandbox() as root:
        path = root / "tasks" / "my_task.yaml"
        path.parent.mkdir()
        path.write_text(data.draw(raw_damage(_yaml(doc))), encoding="utf-8", errors="surrogatepass")
        check(["tasks", "validate", str(path)], capsys, root)
        check(["tasks", "show", "my_task", "--tasks-dir", str(path.parent)], capsys, root)


VALID_PROMPT = {"description": "A fuzzed prompt.", "language": "en", "mode": "pairwise",
                "system": "You are a judge.",
                "user": "Q: {{ question }}\n{% if input %}{{ input }}{% endif %}\n1: {{ answer_1 }}\n2: {{ answer_2 }}",
                "retry": "Reply with one of {{ labels }}.",
                "labels": {"[[A]]": "better", "[[B]]": "worse", "[[C]]": "equal"},
                "examples": [{"user": "Q", "assistant": "[[C]]"}]}
TEMPLATE_BITS = st.sampled_from([
    "{{ question }}", "{{ 1/0 }}", "{{ question.__class__.__mro__[1].__subclasses__() }}", "{% include 'x' %}",
    "{{ 'x' * 100000000 }}", "{{ 10 ** 100000 }}", "{{ question|int + 'x' }}", "{% for i in range(10) %}x{% endfor %}",
    "{{ cycler }}", "{{ question.upper() }}", "{% set x = [] %}{{ x.append(1) }}", "{{ answer_1|e }}", "{%",
])


@FUZZ
@given(doc=mutated(VALID_PROMPT), bit=TEMPLATE_BITS, field=st.sampled_from(["system", "user", "retry"]),
       data=st.data())
def test_fuzz_prompt_files(doc: Any, bit: str, field: str, data: st.DataObject,
                           capsys: pytest.CaptureFixture[str]) -> None:
    if isinstance(doc, dict) and isinstance(doc.get(field), str) and data.draw(st.booleans()):
        doc[field] += bit
    with _sandbox() as root:
        folder = root / "prompts"
        folder.mkdir()
        (folder / "fuzzed.yaml").write_text(data.draw(raw_damage(_yaml(doc))), encoding="utf-8",
                                            errors="surrogatepass")
        check(["prompts", "show", "fuzzed", "--prompts-dir", str(folder)], capsys, root)
        check(["prompts", "list", "--prompts-dir", str(folder)], capsys, root)


VALID_BATTLES = [{"model_a": a, "model_b": b, "winner": w, "task": "t", "question_id": str(i)}
                 for i, (a, b, w) in enumerate([("x", "y", "model_a"), ("y", "z", "tie"), ("x", "z", "model_b"),
                                                ("z", "y", "tie (bothbad)"), ("y", "x", "model_a")])]
RATE_OPTIONS = st.lists(st.sampled_from([
    ["--method", "elo"], ["--seed", "-1"], ["--base", "0"], ["--base", "-10"], ["--scale", "0"], ["--scale", "nan"],
    ["--k", "1e308"], ["--initial", "inf"], ["--anchor", "x=nan"], ["--anchor", "x=1200"], ["--anchor", "nobody=1"],
    ["--format", "json"], ["--format", "csv"], ["--bootstrap", "0"], ["--bootstrap", "-3"],
]), max_size=3)


@FUZZ
@given(rows=mutated(VALID_BATTLES), options=RATE_OPTIONS, data=st.data())
def test_fuzz_battles(rows: Any, options: list[list[str]], data: st.DataObject,
                      capsys: pytest.CaptureFixture[str]) -> None:
    with _sandbox() as root:
        path = root / "battles.jsonl"
        path.write_text(data.draw(raw_damage(_jsonl(rows))), encoding="utf-8", errors="surrogatepass")
        check(["rate", str(path), "--bootstrap", "10", *[o for opt in options for o in opt]], capsys, root)


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A judged run directory (real ``harness judge`` over a scripted HTTP judge), made once."""
    return make_run(tmp_path_factory.mktemp("fuzz"))


def _copy_run(judged: Path, root: Path) -> Path:
    run = root / "run"
    shutil.copytree(judged, run, ignore=shutil.ignore_patterns("report", "*.lock"))
    return run


VALID_LABELS = [{"task": "en_law", "question_id": "q01", "model_a": "base", "model_b": "chatgpt",
                 "winner": "model_a", "annotator": "ann"},
                {"task": "en_medical", "question_id": "q02", "model_a": "chatgpt", "model_b": "ft_v2&co",
                 "winner": "tie", "annotator": "ann"}]


@FUZZ
@given(rows=mutated(VALID_LABELS), as_csv=st.booleans(), data=st.data())
def test_fuzz_human_labels(rows: Any, as_csv: bool, data: st.DataObject, judged: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    with _sandbox() as root:
        run = _copy_run(judged, root)
        text = _csv(rows, list(VALID_LABELS[0])) if as_csv else _jsonl(rows)
        path = root / ("labels.csv" if as_csv else "labels.jsonl")
        path.write_text(data.draw(raw_damage(text)), encoding="utf-8", errors="surrogatepass")
        check(["human", "import", str(path), "--run", str(run)], capsys, root,
              outputs=lambda name: name == f"run/{rundir.HUMAN}")


RUN_FILES = (rundir.ANSWERS, rundir.JUDGMENTS, rundir.BATTLES, rundir.LEADERBOARD_CSV, rundir.USAGE_CSV,
             rundir.CONFIG, rundir.FORMAT)


def _damage_run_file(path: Path, data: st.DataObject) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        text = _jsonl(data.draw(mutated(rows)))
    elif path.suffix == ".csv":
        table = list(csv.reader(io.StringIO(text)))
        header, body = table[0], [dict(zip(table[0], r)) for r in table[1:]]
        choice = data.draw(st.sampled_from(["mutate", "header-only", "short-row"]))
        if choice == "header-only":
            text = ",".join(header) + "\n"
        elif choice == "short-row":
            text = _csv([*body, {"cut": 1, **body[0]}], header) if body else text
        else:
            text = _csv(data.draw(mutated(body)), header)
    elif path.suffix in (".yaml", ".json"):
        doc = yaml.safe_load(text) if text else {}
        text = _yaml(data.draw(mutated(doc))) if doc else _yaml(data.draw(VALUE))
    path.write_text(data.draw(raw_damage(text)), encoding="utf-8", errors="surrogatepass")


@FUZZ
@given(name=st.sampled_from(RUN_FILES), data=st.data())
def test_fuzz_hand_edited_run_files(name: str, data: st.DataObject, judged: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    with _sandbox() as root:
        run = _copy_run(judged, root)
        _damage_run_file(run / name, data)
        check(["report", str(run), "--format", "md"], capsys, root,
              outputs=lambda n: n.startswith("run/report/"))
        check(["rate", str(run / rundir.BATTLES), "--bootstrap", "10"], capsys, root)
        check(["judge", str(run), "--judge", "reference:chrf", "--no-progress", "--report", "md"], capsys, root,
              outputs=lambda n: n != f"run/{rundir.ANSWERS}")


QUESTION_FILES = {
    "generic.jsonl": [{"id": f"q{i}", "question": f"Question {i}?", "category": "c", "reference": "r"}
                      for i in range(3)],
    "mt_bench.jsonl": [{"question_id": 81 + i, "category": "writing", "turns": [f"Write {i}."],
                        "reference": ["ref"]} for i in range(3)],
    "arena.jsonl": [{"uid": f"u{i}", "category": "hard", "prompt": f"Prompt {i}"} for i in range(3)],
    "alpaca.json": [{"instruction": f"Do {i}", "output": "o", "generator": "g", "dataset": "d"}
                    for i in range(3)],
}


@FUZZ
@given(name=st.sampled_from(sorted(QUESTION_FILES)), data=st.data())
def test_fuzz_question_files(name: str, data: st.DataObject, capsys: pytest.CaptureFixture[str]) -> None:
    rows = data.draw(mutated(QUESTION_FILES[name]))
    text = json.dumps(rows, allow_nan=True) if name.endswith(".json") else _jsonl(rows)
    with _sandbox() as root:
        folder = root / "questions"
        folder.mkdir()
        path = folder / name
        path.write_text(data.draw(raw_damage(_expand_deep(text))), encoding="utf-8", errors="surrogatepass")
        check(["tasks", "validate", str(path)], capsys, root)
        check(["import", "questions", str(path), "--run", str(root / "run")], capsys, root,
              outputs=lambda n: n.startswith("run/"))


IMPORTS = {
    ("judgments", "generic"): [{"task": "t", "question_id": "q1", "model_a": "x", "model_b": "y", "judge": "j",
                                "winner": w, "order": o} for o, w in (("ab", "model_a"), ("ba", "tie"))],
    ("judgments", "fastchat"): [{"question_id": 81, "model_1": "x", "model_2": "y", "g1_winner": "model_1",
                                 "g2_winner": "tie", "judge": ["gpt-4", "pair-v2"], "turn": 1}],
    ("judgments", "arena-hard"): [{"question_id": "a1", "model": "x", "judge": "j",
                                   "games": [{"score": "A>>B"}, {"score": "B>A"}]}],
    ("judgments", "alpaca_eval"): [{"instruction": "Do", "output_1": "a", "output_2": "b", "generator_1": "x",
                                    "generator_2": "y", "preference": 1.5}],
    ("battles", "generic"): [{"model_a": "x", "model_b": "y", "winner": "model_a"},
                             {"model_a": "y", "model_b": "y", "winner": "tie"}],
    ("answers", "generic"): [{"model": "x", "task": "t", "question_id": "q1", "answer": "a"}],
}


@FUZZ
@given(which=st.sampled_from(sorted(IMPORTS)), data=st.data())
def test_fuzz_imports(which: tuple[str, str], data: st.DataObject, capsys: pytest.CaptureFixture[str]) -> None:
    kind, fmt = which
    rows = data.draw(mutated(IMPORTS[which]))
    with _sandbox() as root:
        path = root / f"{kind}.jsonl"
        path.write_text(data.draw(raw_damage(_jsonl(rows))), encoding="utf-8", errors="surrogatepass")
        check(["import", kind, str(path), "--run", str(root / "run"), "--format", fmt], capsys, root,
              outputs=lambda n: n.startswith("run/"))


# --- what sits at a path argument -------------------------------------------------------------------

PATH_COMMANDS: dict[str, tuple[list[str], str, str]] = {
    # name: (argv with {path} and {run}, the file's name, a valid content for it)
    "tasks validate": (["tasks", "validate", "{path}"], "task.yaml", _yaml(VALID_TASK)),
    "tasks list": (["tasks", "list", "--tasks-dir", "{dir}"], "task.yaml", _yaml(VALID_TASK)),
    "import questions": (["import", "questions", "{path}", "--run", "{run}"], "questions.jsonl",
                         _jsonl(QUESTION_FILES["generic.jsonl"])),
    "import answers": (["import", "answers", "{path}", "--run", "{run}"], "answers.jsonl",
                       _jsonl(IMPORTS[("answers", "generic")])),
    "import judgments": (["import", "judgments", "{path}", "--run", "{run}"], "judgments.jsonl",
                         _jsonl(IMPORTS[("judgments", "generic")])),
    "rate": (["rate", "{path}", "--bootstrap", "10"], "battles.jsonl", _jsonl(VALID_BATTLES)),
    "human import": (["human", "import", "{path}", "--run", "{judged}"], "labels.jsonl", _jsonl(VALID_LABELS)),
    "run --config": (["run", "{path}", "--dry-run"], "run.yaml", _yaml(VALID_CONFIG)),
    "synth --seed-file": (["synth", "--seed-file", "{path}", "--out", "{run}/synth.jsonl", "--dry-run"],
                          "seeds.jsonl", _jsonl([{"instruction": "Define tort.", "input": "", "output": "A wrong."}])),
    "synth --instructions": (["synth", "--instructions", "{path}", "--answers-from", "embedded", "--out",
                              "{run}/synth.jsonl", "--dry-run"], "instructions.jsonl",
                             _jsonl([{"instruction": "Define tort."}])),
    "prompts show": (["prompts", "show", "fuzzed", "--prompts-dir", "{dir}"], "fuzzed.yaml", _yaml(VALID_PROMPT)),
    "human serve --guide": (["human", "serve", "--run", "{judged}", "--guide", "{path}", "--port", "1"],
                            "guide.md", ""),  # only what must be refused: a valid guide would start serving
}
HOSTILE_PATHS = ("fifo", "dangling link", "link loop", "link to a folder", "folder", "/dev/zero", "link to valid")


@FUZZ
@given(name=st.sampled_from(sorted(PATH_COMMANDS)), kind=st.sampled_from(HOSTILE_PATHS))
def test_fuzz_path_arguments(name: str, kind: str, judged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A FIFO (opened, it blocks for ever), a link to nothing, to itself, to a folder, a device that
    never ends, or a link to a good file, at every path a command reads. A hang fails the example
    (SIGALRM), instead of hanging the suite."""
    argv, file_name, valid = PATH_COMMANDS[name]
    if kind == "link to valid" and not valid:
        kind = "fifo"
    with _sandbox() as root:
        run = _copy_run(judged, root)
        folder = root / "in"
        folder.mkdir()
        path = folder / file_name
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "dangling link":
            path.symlink_to(root / "nothing-here")
        elif kind == "link loop":
            path.symlink_to(path)
        elif kind == "link to a folder":
            path.symlink_to(root)
        elif kind == "folder":
            path.mkdir()
        elif kind == "/dev/zero":
            path.symlink_to("/dev/zero")
        else:
            (root / file_name).write_text(valid, encoding="utf-8")
            path.symlink_to(root / file_name)
        args = [a.format(path=path, dir=folder, run=root / "out", judged=run) for a in argv]
        old = signal.signal(signal.SIGALRM, _hang)
        signal.alarm(120)
        try:
            code = check(args, capsys, root, outputs=lambda n: n.startswith(("out/", "run/")))
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        if kind != "link to valid":
            assert code == 2, f"{args}: a {kind} was accepted"


def _hang(signum: int, frame: object) -> None:
    raise AssertionError("the command hung (2 minutes) reading what sits at its path argument")


# --- what an endpoint sends back ---------------------------------------------------------------------

REPLY_TEXT = st.one_of(st.sampled_from(["1", "2", "3", "[[A]]", "", "1 \ud800", "\udfff", "x\u2028y",
                                        "\u2029", "a\x85b", "\x00\x1b[31m"]), st.text(max_size=12))
LOGPROB = st.one_of(ODD_NUMBER.filter(lambda v: not isinstance(v, str)), st.floats(allow_nan=True),
                    st.sampled_from(["high", None, [], {}, -(10 ** 400), 10 ** 400]))


@FUZZ
@given(answers=st.lists(REPLY_TEXT, min_size=1, max_size=4), verdicts=st.lists(REPLY_TEXT, min_size=1, max_size=4),
       logprobs=st.lists(LOGPROB, min_size=1, max_size=4))
def test_fuzz_replies(answers: list[str], verdicts: list[str], logprobs: list[Any],
                      capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Model answers and judge verdicts holding lone surrogates, line separators and control
    characters, and log-probabilities out of range, non-finite or not numbers at all, from a real
    HTTP endpoint: the run ends 0 (or 2 with one line), and no run file holds NaN, Infinity or a
    character UTF-8 cannot encode."""
    from test_hostile_replies import HostileServer, strict_rows

    count = itertools.count()

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        k = next(count)
        if body["model"] != "judge":
            return {"message": {"role": "assistant", "content": answers[k % len(answers)]}}
        bad = logprobs[k % len(logprobs)]
        alts = [{"token": "1", "logprob": bad, "bytes": None}, {"token": "2", "logprob": -1.0, "bytes": None}]
        return {"message": {"role": "assistant", "content": verdicts[k % len(verdicts)]},
                "logprobs": {"content": [{"token": "1", "logprob": bad, "bytes": None, "top_logprobs": alts}]}}

    with _sandbox() as root, HostileServer(reply) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-fuzz")
        url = server.url
        argv = ["run", "--tasks", "en_law", "--limit", "2", "--out", str(root / "run"), "--no-progress",
                "--models", f"a=openai:a@{url}", f"b=openai:b@{url}", "--judge", f"openai:judge@{url}",
                "--prompt", "verdict_token_en", "--judge-method", "logprobs", "--report", "md"]
        check(argv, capsys, root, outputs=lambda n: n.startswith("run/"))
        for path in (root / "run").rglob("*"):
            if path.suffix == ".jsonl":
                strict_rows(path)
            if path.suffix in (".jsonl", ".json", ".csv", ".md"):
                text = path.read_text(encoding="utf-8")
                assert not re.search(r"\bNaN\b|\bInfinity\b|[\ud800-\udfff]", text), path
