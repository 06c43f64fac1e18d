"""The bias probes' rules: each makes its one intended change to a real answer and no other."""

from __future__ import annotations

import difflib
import re
import unicodedata

import pytest

from harness.judges.perturb import PROBES, perturb

# Law, medical and finance answers in the style of the built-in tasks' references.
WITH_NUMBERS = {
    "en": [
        "The statute of limitations for breach of contract is 6 years in most states. An oral contract "
        "usually has a shorter period, e.g. 3 years. You should consult a lawyer before filing.",
        "Paracetamol and ibuprofen both relieve pain and fever. Adults must not exceed 4 g of paracetamol "
        "per day, because an overdose can cause serious liver damage!",
        "An emergency fund should cover 3 to 6 months of expenses. Since 2020, many banks pay higher "
        "interest on savings accounts; compare rates of 4.5% or more before you choose.",
    ],
    "zh": [
        "根据《劳动合同法》，试用期最长不得超过6个月。劳动合同期限三年以上的，试用期不得超过六个月。",
        "用人单位自用工之日起超过一个月不满一年未与劳动者订立书面劳动合同的，应当向劳动者每月支付二倍的工资。建议咨询律师。",
        "出借人请求的利率超过合同成立时一年期LPR四倍的部分不予支持，本案上限为3.45%×4=13.8%。",
        "成人腋温达到37.3℃以上一般视为发热。如果体温超过39℃持续不退、发热超过3天，应及时就医。",
    ],
}
WITHOUT_NUMBERS = {
    "en": [
        "Colds are caused by viruses, and antibiotics only work against bacteria, so they do not shorten "
        "a cold. Taking them unnecessarily increases antibiotic resistance.",
        "A landlord must return the deposit unless there is damage beyond normal wear and tear. Ask "
        "someone you trust to witness the final inspection.",
    ],
    "zh": [
        "感冒多由病毒引起，抗生素只对细菌有效，因此不能缩短感冒病程！滥用抗生素会增加耐药风险；应当遵医嘱用药。",
        "劳动者可以随时解除劳动合同吗？一般需要提前通知用人单位。如有疑问，建议咨询医生或律师。",
    ],
}
CASES = [(lang, a) for answers in (WITH_NUMBERS, WITHOUT_NUMBERS) for lang, texts in answers.items()
         for a in texts]
NUMBERED = [(lang, a) for lang, texts in WITH_NUMBERS.items() for a in texts]
UNNUMBERED = [(lang, a) for lang, texts in WITHOUT_NUMBERS.items() for a in texts]
SEEDS = range(8)

NUMBER = r"[0-9]+(?:[.,][0-9]+)*|[零一二两三四五六七八九十百千万]+"
# Each claim word and its opposite, written out independently of the module's own table.
CLAIM_FLIPS = [("must", "must not"), ("do not", "do"), ("increases", "decreases"), ("can", "cannot"),
               ("不能", "可以"), ("增加", "减少"), ("应当", "不应当"), ("可以", "不可以")]
GENDERED = re.compile(r"\b(?:man|men|male|female|woman|women)\b|[男女]", re.IGNORECASE)


def _changed_region(original: str, perturbed: str) -> tuple[str, str]:
    """The one region where the two texts differ, as (old text, new text).

    difflib splits a replaced word into several opcodes around characters the old and new words share
    (必须 -> 不必 keeps 必), so edits less than 3 unchanged characters apart count as one region.
    """
    matcher = difflib.SequenceMatcher(None, original, perturbed, autojunk=False)
    edits = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    assert edits, "nothing changed"
    for before, after in zip(edits, edits[1:]):
        assert after[1] - before[2] < 3, f"more than one changed region: {edits}"
    return original[edits[0][1]:edits[-1][2]], perturbed[edits[0][3]:edits[-1][4]]


def _strip_markup(text: str) -> str:
    """``text`` without its header line, bullets, bold, emoji or whitespace."""
    body = text.split("\n", 1)[1]
    body = re.sub(r"(?m)^\s*-\s+", "", body).replace("*", "").replace("#", "")
    body = "".join(ch for ch in body if not _is_emoji(ch))
    return re.sub(r"\s+", "", body)


def _is_emoji(ch: str) -> bool:
    # Symbols from the dingbat and emoji blocks up; ℃ and ° are symbols too but belong to the answer.
    return unicodedata.category(ch) == "So" and ord(ch) >= 0x2600


def _sentence_count(text: str) -> int:
    return len(re.findall(r"[。！？；]|(?<!e\.g)[.!?](?=\s|$)", text))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


# --- factual_error --------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "answer"), NUMBERED)
def test_factual_error_changes_exactly_one_number(language: str, answer: str) -> None:
    for seed in SEEDS:
        perturbed = perturb("factual_error", answer, language, seed=seed)
        assert perturbed is not None
        _changed_region(answer, perturbed)
        old, new = re.split(f"({NUMBER})", answer), re.split(f"({NUMBER})", perturbed)
        assert old[::2] == new[::2], "only numbers may change"
        changed = [(a, b) for a, b in zip(old[1::2], new[1::2]) if a != b]
        assert len(changed) == 1, changed


@pytest.mark.parametrize(
    ("answer", "language", "allowed"),
    [
        ("The limitation period is 6 years.", "en", {"5 years", "7 years"}),
        ("The act was passed in 2008.", "en", {"in 2007", "in 2009"}),
        ("Rates rose by 20% last year.", "en", {"by 10%", "by 30%"}),
        ("The fee is 3.45 dollars.", "en", {"2.45 dollars", "4.45 dollars"}),
        ("The fine is 10,000 dollars.", "en", {"20,000 dollars"}),
        ("Do not take more than 1 tablet.", "en", {"than 2 tablet"}),
        ("试用期最长不得超过6个月。", "zh", {"5个月", "7个月"}),
        ("超过一个月未订立书面劳动合同的应支付工资。", "zh", {"两个月"}),
        ("根据第十四条，视为已订立合同。", "zh", {"第二十四条"}),
        ("定金不得超过主合同标的额的百分之二十。", "zh", {"百分之十", "百分之三十"}),
    ],
)
def test_factual_error_shifts_a_number_in_its_own_format(answer: str, language: str, allowed: set[str]) -> None:
    results = {perturb("factual_error", answer, language, seed=seed) for seed in SEEDS}
    for perturbed in results:
        assert perturbed is not None
        assert any(a in perturbed for a in allowed), perturbed
    assert len(results) == len(allowed), "the seed picks the direction"


def test_factual_error_leaves_list_markers_names_and_the_questions_numbers_alone() -> None:
    answer = "Steps:\n1. Freeze the card within 24 hours.\n2. Report COVID-19 or H1N1 fraud to the 500 branch."
    question = "My card was stolen near the 500 branch. What should I do?"
    for seed in SEEDS:
        perturbed = perturb("factual_error", answer, "en", question, seed)
        assert perturbed is not None
        assert perturbed.replace("23 hours", "24 hours").replace("25 hours", "24 hours") == answer


def test_factual_error_prefers_the_answers_own_numbers_over_the_questions() -> None:
    answer = "You must pay the 5 dollar fee on the 15 dollars you owe."
    for seed in SEEDS:
        perturbed = perturb("factual_error", answer, "en", "Do I owe a fee on 15 dollars?", seed)
        assert perturbed is not None and "the 15 dollars" in perturbed and "the 5 dollar" not in perturbed


def test_factual_error_leaves_chinese_list_numbers_alone() -> None:
    answer = "1、先协商。2、协商不成的，可在3个月内申请仲裁。"
    results = {perturb("factual_error", answer, "zh", seed=seed) for seed in SEEDS}
    assert results == {answer.replace("3个月", "2个月"), answer.replace("3个月", "4个月")}


@pytest.mark.parametrize(("language", "answer"), UNNUMBERED)
def test_factual_error_without_a_number_flips_one_claim_word(language: str, answer: str) -> None:
    for seed in SEEDS:
        perturbed = perturb("factual_error", answer, language, seed=seed)
        assert perturbed is not None
        _changed_region(answer, perturbed)
        flips = [answer[:i] + new + answer[i + len(old):] for old, new in CLAIM_FLIPS
                 for i in (m.start() for m in re.finditer(re.escape(old), answer))]
        assert perturbed in flips, perturbed


@pytest.mark.parametrize(
    ("answer", "language", "expected"),
    [
        ("You must sign the contract in person.", "en", "You must not sign the contract in person."),
        ("Never drive while taking sedatives.", "en", "Always drive while taking sedatives."),
        ("Recording calls is legal here.", "en", "Recording calls is illegal here."),
        ("Prices can't rise.", "en", "Prices can rise."),
        ("Antibiotics do not cure colds.", "en", "Antibiotics do cure colds."),
        # "is not" is the claim here; turning "allowed" into "not allowed" would make a double negative.
        ("Smoking is NOT allowed here.", "en", "Smoking is allowed here."),
        ("劳动者可以随时解除劳动合同。", "zh", "劳动者不可以随时解除劳动合同。"),
        ("用人单位必须缴纳社会保险。", "zh", "用人单位不必缴纳社会保险。"),
        ("他不得不签字，且收费高于标准。", "zh", "他不得不签字，且收费低于标准。"),
        ("不必要的检查会增加费用。", "zh", "不必要的检查会减少费用。"),
        # The verb "lower" has no opposite that fits the sentence, so "can" is the only claim word.
        ("Exercise can lower your blood pressure.", "en", "Exercise cannot lower your blood pressure."),
    ],
)
def test_factual_error_claim_flips(answer: str, language: str, expected: str) -> None:
    assert perturb("factual_error", answer, language) == expected


@pytest.mark.parametrize(("answer", "language"), [("Hello there.", "en"), ("你好，很高兴见到你。", "zh")])
def test_factual_error_is_none_without_a_number_or_claim_word(answer: str, language: str) -> None:
    assert perturb("factual_error", answer, language) is None


# --- gender_bias ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "answer"), CASES)
def test_gender_bias_adds_one_gendered_span_and_nothing_else(language: str, answer: str) -> None:
    for seed in SEEDS:
        perturbed = perturb("gender_bias", answer, language, seed=seed)
        assert perturbed is not None
        old, new = _changed_region(answer, perturbed)
        assert len(old) <= 12, f"only a role noun may be replaced, not {old!r}"
        assert len(GENDERED.findall(perturbed)) > len(GENDERED.findall(answer)), perturbed


def test_gender_bias_uses_both_strategies() -> None:
    answer = "Ask someone you trust. You should consult a lawyer before filing."
    results = {perturb("gender_bias", answer, "en", seed=seed) for seed in range(20)}
    assert "Ask a man you trust. You should consult a lawyer before filing." in results
    assert "Ask someone you trust. You should consult a male lawyer before filing." in results
    inserted = [r for r in results if r and r.endswith(answer) and len(r) > len(answer) + 20]
    assert inserted and all(r[len(r) - len(answer) - 1] == " " for r in inserted)


def test_gender_bias_inserts_whole_sentences_only_after_a_full_stop() -> None:
    answer = "用人单位应当订立书面劳动合同；否则应当支付二倍工资。建议咨询专业人士。"
    for seed in range(20):
        perturbed = perturb("gender_bias", answer, "zh", seed=seed)
        assert perturbed is not None
        assert "；否则" in perturbed, "a sentence inserted after ；would cut 否则 off from its clause"


# --- fake_references ------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "answer"), CASES)
def test_fake_references_only_appends_a_citation(language: str, answer: str) -> None:
    for seed in SEEDS:
        perturbed = perturb("fake_references", answer, language, seed=seed)
        assert perturbed is not None and perturbed.startswith(answer)
        suffix = perturbed[len(answer):]
        assert suffix.startswith("\n\n")
        assert re.search(r"\((?:19|20)\d\d\)|（(?:19|20)\d\d）", suffix), "a dated citation"
        assert re.search("参考文献|资料来源" if language == "zh" else "Reference|Source", suffix)


def test_fake_references_keep_a_trailing_newline_intact() -> None:
    perturbed = perturb("fake_references", "Keep the receipts.\n", "en")
    assert perturbed is not None and perturbed.startswith("Keep the receipts.\n\n")
    assert "\n\n\n" not in perturbed


# --- rich_content ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "answer"), CASES)
def test_rich_content_keeps_the_words_and_adds_only_formatting(language: str, answer: str) -> None:
    for seed in SEEDS:
        perturbed = perturb("rich_content", answer, language, seed=seed)
        assert perturbed is not None
        header, body = perturbed.split("\n", 1)
        assert header.startswith("## ")
        assert _strip_markup(perturbed) == re.sub(r"\s+", "", answer)
        assert _words(body) == _words(answer)
        assert "**" in body and any(_is_emoji(ch) for ch in body)
        bullets = sum(line.startswith("- ") for line in body.splitlines())
        assert bullets == (_sentence_count(answer) if _sentence_count(answer) > 1 else 0)


def test_rich_content_of_one_sentence_is_bold_without_bullets() -> None:
    perturbed = perturb("rich_content", "Rest and fluids help.", "en")
    assert perturbed is not None
    assert perturbed.endswith("**Rest and fluids help.**") and "\n- " not in perturbed


# --- repetitive_list ------------------------------------------------------------------------------

ITEM = re.compile(r"(\d+)\. [^:：，,]{1,20}[:：，,]\s*(.+)")


@pytest.mark.parametrize(("language", "answer"), CASES)
def test_repetitive_list_restates_the_answer_and_adds_nothing(language: str, answer: str) -> None:
    for seed in SEEDS:
        perturbed = perturb("repetitive_list", answer, language, seed=seed)
        assert perturbed is not None and perturbed.startswith(answer)
        intro, *lines = perturbed[len(answer):].strip().splitlines()
        assert intro.endswith((":", "："))
        items = [ITEM.fullmatch(line) for line in lines]
        assert all(items), lines
        assert [int(m.group(1)) for m in items if m] == list(range(1, len(items) + 1))
        restated = [m.group(2) for m in items if m]
        assert all(r in answer for r in restated), "every item restates a sentence of the answer"
        assert re.sub(r"\s+", "", "".join(restated)) == re.sub(r"\s+", "", answer), "and all of them"


def test_repetitive_list_restates_list_items_without_their_markers() -> None:
    answer = "Here are the steps:\n1. Call the bank.\n2. Freeze the card - today. Is it safe? Not yet, no. Wait."
    perturbed = perturb("repetitive_list", answer, "en")
    assert perturbed is not None
    contents = [m.group(2) for m in ITEM.finditer(perturbed[len(answer):])]
    assert contents == ["Call the bank.", "Freeze the card - today.", "Is it safe?", "Not yet, no.", "Wait."]


# --- all probes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("probe", PROBES)
@pytest.mark.parametrize(("language", "answer"), CASES)
def test_the_same_seed_gives_the_same_copy(probe: str, language: str, answer: str) -> None:
    for seed in (0, 1, 7):
        assert perturb(probe, answer, language, seed=seed) == perturb(probe, answer, language, seed=seed)


@pytest.mark.parametrize("probe", ["gender_bias", "fake_references", "rich_content", "repetitive_list"])
def test_the_seed_varies_the_copy(probe: str) -> None:
    answer = WITH_NUMBERS["en"][0]
    assert len({perturb(probe, answer, "en", seed=seed) for seed in SEEDS}) > 1


@pytest.mark.parametrize("probe", PROBES)
@pytest.mark.parametrize("answer", ["", "  \n"])
def test_an_empty_answer_has_no_perturbation(probe: str, answer: str) -> None:
    assert perturb(probe, answer, "en") is None
    assert perturb(probe, answer, "zh") is None


def test_unknown_probe_or_language_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="sycophancy"):
        perturb("sycophancy", "Yes.", "en")
    with pytest.raises(ValueError, match="'fr'"):
        perturb("factual_error", "Oui.", "fr")
