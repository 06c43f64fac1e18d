from __future__ import annotations

import pytest

from harness.judges.prompts import load_prompt
from harness.judges.verdict import parse_verdict

LABELS = load_prompt("assignment_en").labels


@pytest.mark.parametrize(
    ("reply", "meaning"),
    [
        ("Assistant 1 is better than Assistant 2", "better"),
        ("Long analysis...\n\nAssistant 1 is worse than Assistant 2.", "worse"),
        ("Therefore, the judgment is: **Assistant 1 is equal to Assistant 2.**", "equal"),
        ("'assistant 1 is BETTER than assistant 2'", "better"),
        # The final label decides, even when an earlier one is quoted in the analysis.
        ("Is Assistant 1 is worse than Assistant 2? No.\nAssistant 1 is better than Assistant 2", "better"),
        ("Assistant1 is equal to Assistant2", "equal"),
    ],
)
def test_reads_the_final_label(reply: str, meaning: str) -> None:
    assert parse_verdict(reply, LABELS) == meaning


@pytest.mark.parametrize("reply", ["", "Both answers are fine.", "Assistant 1 is better.",
                                   "Assistant 2 is better than Assistant 1"])
def test_no_label_is_none_not_a_tie(reply: str) -> None:
    assert parse_verdict(reply, LABELS) is None
