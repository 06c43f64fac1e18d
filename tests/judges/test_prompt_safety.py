"""Judge prompt files are shared between people: loading or rendering one must not run code, and a
broken one is refused when it is loaded, in one line naming the file (issue 15, items 1-3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.app.cli import main
from harness.core.errors import HarnessError
from harness.judges.prompts import load_prompt, load_prompt_file

ESCAPE = ("{{ question.__class__.__mro__[1].__subclasses__() }}",
          "{{ ''.__class__.__mro__[1].__subclasses__() }}",
          "{{ cycler.__init__.__globals__.os.system('touch PWNED') }}",
          "{{ question.__class__.__base__.__subclasses__()[0].__init__.__globals__ }}",
          "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{{ c }}{% endfor %}")


def _prompt_file(tmp_path: Path, name: str = "custom", **fields: object) -> Path:
    base = {"language": "en", "mode": "pairwise",
            "user": "Q: {{ question }}\n1: {{ answer_1 }}\n2: {{ answer_2 }}",
            "labels": {"A": "better", "B": "worse", "C": "equal"}}
    base.update(fields)
    folder = tmp_path / "prompts"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(base), encoding="utf-8")  # JSON is YAML
    return path


@pytest.mark.parametrize("template", ESCAPE)
def test_a_template_cannot_reach_python_internals(tmp_path: Path, template: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _prompt_file(tmp_path, system=template)
    with pytest.raises(HarnessError) as err:
        load_prompt_file(path).render("q", "a", "b")
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "PWNED").exists()


def test_the_rce_prompt_is_refused_by_harness_judge_before_any_call(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _prompt_file(tmp_path, name="rce", system=(
        "{% for c in question.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'catch_warnings' %}"
        "{{ c()._module.__builtins__['__import__']('os').system('touch " + str(tmp_path / "PWNED") + "') }}"
        "{% endif %}{% endfor %}"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "answers.jsonl").write_text("".join(json.dumps(
        {"model": m, "task": "en_law", "question_id": "q01", "answer": f"answer {m}"}) + "\n"
        for m in ("a", "b")), encoding="utf-8")
    code = main(["judge", str(run), "--judge", "embedded", "--prompt", "rce", "--prompts-dir",
                 str(path.parent), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("harness: error: ") and err.count("\n") == 1, err
    assert str(path) in err
    assert not (tmp_path / "PWNED").exists()
    assert not (run / "judgments.jsonl").exists()


@pytest.mark.parametrize(("template", "message"), [
    ("{{ 1/0 }}", "division by zero"),
    ("{% include 'x' %}", "include"),
    ("{% import 'x' as y %}", "import"),
    ("{% extends 'x' %}", "extends"),
    ("{{ question|int + 'x' }}", "unsupported operand"),
    ("{{ 'x' * 100000000 }}", "too large"),
    ("{{ 10 ** 100000 }}", "too large"),
    ("{{ question.nope() }}", "undefined"),
])
@pytest.mark.parametrize("field", ["system", "user"])
def test_a_template_that_fails_to_render_is_refused_when_loaded(
        tmp_path: Path, template: str, message: str, field: str) -> None:
    user = "Q: {{ question }} 1: {{ answer_1 }} 2: {{ answer_2 }}"
    path = _prompt_file(tmp_path, **{field: f"{user} {template}" if field == "user" else template})
    with pytest.raises(HarnessError) as err:
        load_prompt_file(path)
    text = str(err.value)
    assert str(path) in text and f"field {field!r}" in text and message in text.lower(), text
    assert "\n" not in text


def test_prompts_show_refuses_a_template_that_cannot_render(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _prompt_file(tmp_path, system="{{ 1/0 }}")
    assert main(["prompts", "show", "custom", "--prompts-dir", str(path.parent)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error: ") and err.count("\n") == 1 and str(path) in err


@pytest.mark.parametrize("label", ["", " ", "\t", "\n"])
def test_an_empty_or_blank_label_is_refused(tmp_path: Path, label: str) -> None:
    path = _prompt_file(tmp_path, labels={label: "better", "B": "worse", "C": "equal"})
    with pytest.raises(HarnessError) as err:
        load_prompt_file(path)
    assert str(path) in str(err.value) and "empty" in str(err.value)


def test_two_labels_that_read_the_same_are_refused(tmp_path: Path) -> None:
    """Case, markup and spacing are ignored when reading a reply, so '**A**' and 'a' are one label."""
    path = _prompt_file(tmp_path, labels={"**A**": "better", "a": "worse", "C": "equal"})
    with pytest.raises(HarnessError) as err:
        load_prompt_file(path)
    assert "read the same" in str(err.value)


def test_builtin_prompts_still_load_and_render() -> None:
    for name in ("assignment_en", "assignment_zh", "mtbench_pairwise", "reference_pairwise"):
        messages = load_prompt(name).render("What?", "one", "two", reference="ref")
        assert "one" in messages[-1]["content"]
