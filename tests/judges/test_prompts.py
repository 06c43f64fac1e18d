from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.judges.pairwise import winner_for
from harness.judges.prompts import available, load_prompt, load_prompt_file, turn_record
from harness.judges.verdict import parse_verdict


@pytest.mark.parametrize("name", sorted(available()))
def test_builtin_prompt_renders_and_its_labels_parse_in_both_orders(name: str) -> None:
    prompt = load_prompt(name)
    if prompt.turns:
        _check_turns_prompt(prompt)
        return
    if not prompt.pairwise:
        user = prompt.render("What is a bond?", answer="THE-ANSWER")[-1]["content"]
        assert "THE-ANSWER" in user and "What is a bond?" in user
        for label, score in prompt.labels.items():
            assert parse_verdict(f"Some reasoning.\n{label}", prompt.labels) == score
        return
    messages = prompt.render("What is a bond?", "ANSWER-ONE", "ANSWER-TWO", reference="REF-ANSWER")
    user = messages[-1]["content"]
    assert user.index("ANSWER-ONE") < user.index("ANSWER-TWO") and "What is a bond?" in user
    assert ("REF-ANSWER" in user) == (prompt.mode == "pairwise_reference")
    assert {*prompt.labels.values()} == {"better", "worse", "equal"}
    for label, meaning in prompt.labels.items():
        assert parse_verdict(f"Some reasoning.\n{label}", prompt.labels) == meaning
        ab, ba = winner_for(meaning, "ab"), winner_for(meaning, "ba")
        assert (ab, ba) in {("model_a", "model_b"), ("model_b", "model_a"), ("tie", "tie")}


def _check_turns_prompt(prompt) -> None:  # type: ignore[no-untyped-def]
    """Both conversations whole and apart (never interleaved), the judged turn named, the judged
    turn's reference shown, and the labels read back."""
    one = [turn_record("What is a bond?", "ONE-FIRST", "R1"), turn_record("An example?", "ONE-SECOND", "R2")]
    two = [turn_record("What is a bond?", "TWO-FIRST", "R1"), turn_record("An example?", "TWO-SECOND", "R2")]
    kw = dict(input="", reference="R2-REFERENCE", turn=2)
    if prompt.pairwise:
        user = prompt.render("An example?", "ONE-SECOND", "TWO-SECOND", conversation_1=one,
                             conversation_2=two, **kw)[-1]["content"]
        order = [user.index(x) for x in ("ONE-FIRST", "ONE-SECOND", "TWO-FIRST", "TWO-SECOND")]
        assert order == sorted(order), user
    else:
        user = prompt.render("An example?", answer="ONE-SECOND", conversation=one, **kw)[-1]["content"]
        assert user.index("ONE-FIRST") < user.index("ONE-SECOND")
    assert user.count("What is a bond?") == (2 if prompt.pairwise else 1) and "2" in user
    assert "R2-REFERENCE" in user
    for label, meaning in prompt.labels.items():
        assert parse_verdict(f"Some reasoning.\n{label}", prompt.labels) == meaning


def test_builtin_prompts_cover_the_modes_and_languages() -> None:
    prompts = [load_prompt(n) for n in available()]
    assert {p.mode for p in prompts} == {"pairwise", "pairwise_reference", "single", "pairwise_turns",
                                         "single_turns"}
    assert {p.language for p in prompts} == {"en", "zh"}
    turns = {(p.mode, p.language) for p in prompts if p.turns}
    assert turns == {(m, lang) for m in ("pairwise_turns", "single_turns") for lang in ("en", "zh")}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("{{ answer_2 }}", "second"), "lacks the placeholder {{ answer_2 }}"),
        (lambda t: t.replace("mode: pairwise", "mode: duel"), "field 'mode' is 'duel'"),
        (lambda t: t.replace(": equal\n", ": same\n"), "maps to 'same'"),
        (lambda t: t.replace("language: en", "language: en\ncolour: red"), "unknown field 'colour'"),
        (lambda t: t.replace("{{ question }}", "{{ questoin }}"), "lacks the placeholder {{ question }}"),
        (lambda t: t.replace("{{ question }}", "{{ question }} {% if %}"), "template error"),
        (lambda t: t.replace("mode: pairwise", "mode: pairwise_reference"), "lacks the placeholder {{ reference }}"),
        (lambda t: t.replace("mode: pairwise", "mode: single"), "maps to 'better'; a single-grading label maps to a number"),
        (lambda t: t.replace("language: en", "name: other\nlanguage: en"), "field 'name' is 'other'"),
        (lambda t: t + "examples:\n  - user: hi\n", "examples[0] must have exactly the fields"),
        (lambda t: t.replace("labels:\n", "labels:\n  Assistant 1 wins: victory\n"), "maps to 'victory'"),
    ],
)
def test_malformed_prompt_is_rejected_naming_the_field(tmp_path: Path, edit, message: str) -> None:
    source = load_prompt("assignment_en").source
    path = tmp_path / "broken.yaml"
    path.write_text(edit(Path(source).read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(HarnessError) as err:
        load_prompt_file(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_user_prompts_dir_is_listed_and_loadable(tmp_path: Path) -> None:
    source = Path(load_prompt("assignment_en").source).read_text(encoding="utf-8")
    (tmp_path / "terse.yaml").write_text(source.replace("careful, impartial", "terse"), encoding="utf-8")
    assert "terse" in available([tmp_path])
    prompt = load_prompt("terse", [tmp_path])
    assert prompt.hash != load_prompt("assignment_en").hash


def test_unknown_prompt_is_one_error() -> None:
    with pytest.raises(HarnessError, match="unknown judge prompt 'nope'; known: assignment_en"):
        load_prompt("nope")
