"""ROUGE-L near-duplicate detection: the bit-parallel LCS against the textbook dynamic programme,
and the index against the naive Self-Instruct loop on random kept lists built to hold many
near-duplicates (copies, reorderings, one-token edits, pairs exactly on the threshold)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.stats.dedup import (
    Match,
    NearDuplicateIndex,
    lcs_length,
    naive_find,
    rouge_l,
    rouge_tokens,
)


def dp_lcs(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0  # row[j - 1] of the previous row
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], prev + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


WORDS = st.sampled_from("abcdef")
SEQ = st.lists(WORDS, max_size=30)


def test_rouge_tokens_mixed_text() -> None:
    assert rouge_tokens("Write 2 Haiku's about 春天的花, please!") == (
        "write", "2", "haiku", "s", "about", "春", "天", "的", "花", "please")
    assert rouge_tokens("  ...  ") == ()
    assert rouge_tokens("㐀丁﨎 Ünïcode") == ("㐀", "丁", "﨎", "n", "code")


@given(SEQ, SEQ)
def test_lcs_matches_dynamic_programme(a: list[str], b: list[str]) -> None:
    assert lcs_length(a, b) == dp_lcs(a, b) == lcs_length(b, a)


def test_rouge_l_values() -> None:
    assert rouge_l([], []) == 0.0 and rouge_l(["a"], []) == 0.0
    assert rouge_l(list("abc"), list("abc")) == 1.0
    assert rouge_l(list("abcdefghij"), list("abcdefgxyz")) == 0.7


def _variants(draw: st.DrawFn, base: list[str]) -> list[str]:
    kind = draw(st.sampled_from(["copy", "shuffle", "insert", "delete", "replace", "fresh"]))
    out = list(base)
    if kind == "shuffle":
        out = draw(st.permutations(out))
    elif kind == "insert":
        out.insert(draw(st.integers(0, len(out))), draw(WORDS))
    elif kind == "delete" and out:
        del out[draw(st.integers(0, len(out) - 1))]
    elif kind == "replace" and out:
        out[draw(st.integers(0, len(out) - 1))] = draw(WORDS)
    elif kind == "fresh":
        out = draw(SEQ)
    return out


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]]]:
    kept: list[list[str]] = []
    for _ in range(draw(st.integers(0, 25))):
        derived: bool = draw(st.booleans())
        if kept and derived:
            kept.append(_variants(draw, kept[draw(st.integers(0, len(kept) - 1))]))
        else:
            kept.append(draw(SEQ))
    queries = [_variants(draw, draw(st.sampled_from(kept))) if kept else draw(SEQ) for _ in range(10)]
    return kept, queries


@pytest.mark.parametrize("threshold", [0.7, 0.5, 0.9, 1.0])
@settings(max_examples=60, deadline=None)
@given(data=corpora())
def test_index_equals_naive(threshold: float, data: tuple[list[list[str]], list[list[str]]]) -> None:
    kept, queries = data
    index = NearDuplicateIndex(threshold)
    for i, record in enumerate(kept):
        # Querying before each add checks the index while it grows (its posting arrays double).
        assert index.find(record) == naive_find(record, kept[:i], threshold)
        assert index.add(record) == i
    assert len(index) == len(kept)
    for query in queries + kept:
        assert index.find(query) == naive_find(query, kept, threshold)


def _on_threshold(n: int, m: int, lcs: int, tail: str) -> tuple[list[str], list[str]]:
    """Two sequences of n and m tokens with exactly ``lcs`` in common, in order."""
    common = [f"c{i}" for i in range(lcs)]
    return common + [f"x{tail}{i}" for i in range(n - lcs)], [f"y{tail}{i}" for i in range(m - lcs)] + common


@pytest.mark.parametrize("n, m, lcs, threshold", [
    (10, 10, 7, 0.7), (7, 13, 7, 0.7), (20, 20, 14, 0.7), (3, 3, 3, 1.0), (6, 10, 4, 0.5),
    (10, 10, 9, 0.9), (23, 17, 14, 0.7),
])
def test_scores_exactly_on_the_threshold_count(n: int, m: int, lcs: int, threshold: float) -> None:
    a, b = _on_threshold(n, m, lcs, "")
    assert rouge_l(a, b) == threshold
    just_below = _on_threshold(n, m + 1, lcs, "z")
    index = NearDuplicateIndex(threshold)
    for record in [just_below[1], b, *(_on_threshold(n, m, lcs - 1, str(k))[1] for k in range(40))]:
        index.add(record)
    kept = index._records  # the same sequences, in the same order
    assert index.find(a) == naive_find(a, kept, threshold) == Match(1, threshold)
    assert index.find(just_below[0]) == naive_find(just_below[0], kept, threshold)


def test_empty_sequences_are_never_duplicates() -> None:
    index = NearDuplicateIndex()
    index.add([])
    index.add(["a"])
    assert index.find([]) is None and naive_find([], [[], ["a"]]) is None
    assert index.find(["a"]) == Match(1, 1.0)


def test_ties_go_to_the_lowest_index() -> None:
    index = NearDuplicateIndex()
    for record in (["p", "q"], list("abcd"), list("abce"), list("abcd")):
        index.add(record)
    assert index.find(list("abcf")) == naive_find(list("abcf"), index._records) == Match(1, 0.75)


def test_chinese_by_characters() -> None:
    kept = [rouge_tokens(t) for t in (
        "请写一篇关于城市交通拥堵问题的短文，面向中学生。",
        "列出三种常见的家庭节能方法，并说明原理。",
        "Write a short essay about traffic congestion in cities for high-school students.",
    )]
    index = NearDuplicateIndex()
    for record in kept:
        index.add(record)
    near = rouge_tokens("请写一篇关于城市交通堵塞问题的文章，面向初中生。")
    found = index.find(near)
    assert found is not None and found.index == 0 and found.score >= 0.7
    assert found == naive_find(near, kept)
    paraphrase = rouge_tokens("For teenagers, compose a brief piece on why urban roads jam up.")
    assert index.find(paraphrase) is None and naive_find(paraphrase, kept) is None


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5, float("nan")])
def test_threshold_outside_the_unit_interval_is_refused(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        NearDuplicateIndex(threshold)
    with pytest.raises(ValueError, match="threshold"):
        naive_find(["a"], [["a"]], threshold)
