"""What each way of reaching a verdict measures and cannot see, in words the reports print beside
each judge (``Judgment.method``). The judges that use them live in :mod:`harness.judges`."""

from __future__ import annotations

METHOD_NOTES = {
    "reference": (
        "No model: each answer's chrF (character 1-6-grams) against the task's reference answer; the "
        "higher score wins, within 2 points a tie. It sees whether an answer is readable, on topic, "
        "complete and in the reference's language and wording. It cannot see whether a fluent answer "
        "is correct (a negation or a wrong number barely moves the score), nor credit a correct "
        "answer worded unlike the reference: judge correctness with an API judge."),
    "likelihood": (
        "A local model's most likely verdict label, calibrated against the same prompt with the "
        "answers left empty. A small model's labels follow the slot and the surface of the text "
        "more than the answers' quality: check its swap consistency before trusting it."),
    "generate": (
        "The judge model writes a reply whose last verdict label is read; replies with no label "
        "are asked again, then kept as errors."),
    "logprobs": (
        "The judge model writes its verdict, read from the text as with generate; its probability for "
        "each label where the reply starts (the endpoint's log-probabilities) is kept beside it, and "
        "the probability-weighted ratings count each battle by those probabilities."),
    "json": (
        "The judge model is asked for JSON holding its explanation and one verdict label (the "
        "endpoint's structured output, a JSON schema); where the endpoint refuses that, or a reply is "
        "not that JSON, the last label in the text is read as with generate."),
    "imported": (
        "Verdicts imported from another tool's files (harness import; docs/interop.md): how the "
        "judge reached them is that tool's, and a verdict seen in one order only has no swap "
        "consistency to show."),
}


def method_note(methods: list[str]) -> str:
    """The notes for a judge's methods (one, unless its verdicts were read in several ways).

    >>> method_note(["generate"]).startswith("The judge model writes")
    True
    >>> method_note(["custom"])
    'method custom'
    """
    return " ".join(METHOD_NOTES.get(m, f"method {m}") for m in methods)
