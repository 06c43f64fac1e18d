from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import tasks
from harness.app.cli import main
from harness.core.errors import HarnessError
from harness.finetune.contamination import find_overlaps
from harness.finetune.data import load_examples, task_train_file
from harness.finetune.loop import check_contamination

BUILTIN = ["en_law", "en_medical", "en_finance", "zh_law", "zh_medical", "zh_finance"]


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_training_sets_are_large_enough_and_clean(name: str) -> None:
    examples = load_examples(str(task_train_file(name)))
    assert len(examples) >= 40
    assert find_overlaps(examples, [tasks.load_task(name)]) == []


def test_alpaca_chat_and_csv_records_become_the_generation_format(tmp_path: Path) -> None:
    a = load_examples(str(_jsonl(tmp_path / "a.jsonl", [
        {"instruction": "Explain.", "input": "A clause.", "output": "It means X."},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}])))
    assert a[0].messages == ({"role": "user", "content": "Explain.\n\nA clause."},
                             {"role": "assistant", "content": "It means X."})
    assert a[1].messages[-1]["content"] == "Hello"
    (tmp_path / "b.csv").write_text("instruction,input,output\nSay hi,,hi\n", encoding="utf-8")
    assert load_examples(str(tmp_path / "b.csv"))[0].messages[0]["content"] == "Say hi"
    (tmp_path / "c.json").write_text(json.dumps([{"instruction": "Q", "output": "A"}]))
    assert load_examples(str(tmp_path / "c.json"))[0].where == f"{tmp_path / 'c.json'}: item 1"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"instruction": "Q", "output": "A"}, {"instruction": "Q2", "output": "  "}], ":2: field 'output' is empty"),
        ([{"instruction": "Q"}], ":1: missing field 'output'"),
        ([{"messages": [{"role": "user", "content": "Hi"}]}], ":1: field 'messages' must be a list of at least two"),
        ([{"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]}],
         ":1: the last message must be the assistant's"),
        ([{"instruction": 3, "output": "A"}], ":1: field 'instruction' must be text"),
    ],
)
def test_bad_records_are_named(tmp_path: Path, rows: list, message: str) -> None:
    path = _jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(HarnessError) as err:
        load_examples(str(path))
    assert f"{path}{message}" in str(err.value)


def test_wrong_encoding_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(b'{"instruction": "Q", "output": "A"}\n{"instruction": "\xff", "output": "A"}\n')
    with pytest.raises(HarnessError, match=r"e.jsonl:2: not UTF-8"):
        load_examples(str(path))
    with pytest.raises(HarnessError, match="no such file"):
        load_examples(str(tmp_path / "nope.jsonl"))


def test_hub_dataset_offline_is_one_clear_error() -> None:
    with pytest.raises(HarnessError, match="cannot load dataset 'someone/no-such-set' from the Hugging Face hub"):
        load_examples("someone/no-such-set")


def test_guard_catches_a_verbatim_and_a_lightly_paraphrased_test_question(tmp_path: Path) -> None:
    task = tasks.load_task("en_law")
    q = task.questions[4]
    clean = load_examples(str(_jsonl(tmp_path / "clean.jsonl", [
        {"instruction": "What does a notary public do?", "output": "Certifies signatures."},
        {"instruction": "Explain what a deed of trust secures.", "output": "A loan on real property."}])))
    words = q.question.split()
    # A light paraphrase: swap two words for synonyms-ish and drop the final punctuation.
    paraphrase = " ".join(["Please", "tell", "me:"] + words[:-2] + [words[-2], words[-1].rstrip("?.")])
    rows = [{"instruction": q.question, "input": q.input, "output": "copied"},
            {"instruction": paraphrase, "input": q.input, "output": "paraphrased"}]
    mixed = clean + load_examples(str(_jsonl(tmp_path / "leak.jsonl", rows)))
    overlaps = find_overlaps(mixed, [task])
    assert {(o.where.split(":")[-1], o.question_id) for o in overlaps} == {("1", q.id), ("2", q.id)}
    assert max(o.score for o in overlaps) == 1.0
    with pytest.raises(HarnessError, match=r"2 training record\(s\) overlap the test questions"):
        check_contamination(mixed, [task], 0.5, allow=False)
    assert len(check_contamination(mixed, [task], 0.5, allow=True)) == 2


def test_guard_catches_a_copied_later_turn_of_a_multi_turn_question(tmp_path: Path) -> None:
    """The built-in multi-turn task: a record copying only turn 2 is caught (each turn on its own);
    the built-in training data is clean of every turn."""
    task = tasks.load_task("en_finance_mt")
    q = task.questions[0]
    rows = [{"instruction": q.all_turns[1], "output": "copied"},
            {"instruction": "What does a notary public do?", "output": "Certifies signatures."}]
    overlaps = find_overlaps(load_examples(str(_jsonl(tmp_path / "leak.jsonl", rows))), [task])
    assert [(o.where.split(":")[-1], o.question_id, o.score) for o in overlaps] == [("1", q.id, 1.0)]
    assert find_overlaps(load_examples(str(task_train_file("en_finance"))), [task]) == []


def test_cli_refuses_contaminated_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    q = tasks.load_task("zh_medical").questions[0]
    path = _jsonl(tmp_path / "leak.jsonl", [{"instruction": q.question, "input": q.input, "output": "x"}])
    assert main(["finetune", "--base", "embedded", "--data", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "overlap the test questions" in err and "zh_medical/q01" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_over_long_record_is_named(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from harness.finetune.train import base_source, encode

    tok = AutoTokenizer.from_pretrained(base_source("embedded"))
    path = _jsonl(tmp_path / "long.jsonl", [{"instruction": "Q", "output": "short"},
                                           {"instruction": "Q", "output": "word " * 400}])
    short, long = load_examples(str(path))
    encoded = encode(tok, short, 64)
    assert encoded["labels"].count(-100) > 0 and encoded["labels"][-1] == encoded["input_ids"][-1]
    with pytest.raises(HarnessError, match=r"long.jsonl:2: \d+ tokens is over --max-seq-len 64"):
        encode(tok, long, 64)
