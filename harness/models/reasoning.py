"""A reply's reasoning kept apart from its answer.

Models that think aloud put their reasoning before the answer: a separate ``reasoning_content`` (or
``reasoning``) field on vLLM, SGLang, DeepSeek and OpenRouter, or a leading ``<think>...</think>``
block in the text itself (Qwen3 and the DeepSeek-R1 distills served without a reasoning parser,
Ollama, llama.cpp, or run locally with ``hf:``). Whatever judges or measures an answer must see
the answer alone: a judge shown the trace judges the trace, and is swayed by its length.

:func:`split` takes the text as the model wrote it (the call cache keeps it so, so that other tags
can split it again without a new call) and returns the answer and the trace. Only a *leading*
block counts: tags in the middle of an answer are the answer's own text. A reply whose chat
template opened the block itself (DeepSeek-R1's template ends the prompt with ``<think>``) has
only the closing ``</think>``; everything before it is the trace.

Not handled here: traces in the middle of a reply (interleaved thinking), and providers that
return no trace at all (OpenAI's reasoning models; their reasoning is only counted, in
``reasoning_tokens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Tags = tuple[str, str]
"""An opening and a closing marker, e.g. ``("<think>", "</think>")``."""

DEFAULT_TAGS: tuple[Tags, ...] = (
    ("<think>", "</think>"),  # Qwen3, QwQ, DeepSeek-R1 and its distills, most open reasoners
    ("<thinking>", "</thinking>"),  # prompted chain of thought; some fine-tunes
    ("<seed:think>", "</seed:think>"),  # ByteDance Seed-OSS
    ("[THINK]", "[/THINK]"),  # Mistral's Magistral
    ("\u25c1think\u25b7", "\u25c1/think\u25b7"),  # Moonshot's Kimi (◁think▷)
)
"""The markers split by default; a model's ``reasoning_tags`` setting replaces them."""

OPENED_BY_TEMPLATE = "</think>"
"""The closing marker that may come without its opening one (the chat template wrote it)."""


@dataclass(frozen=True)
class Split:
    """A reply cut into its answer and its reasoning."""

    answer: str
    """What the model answered: what judges, statistics and reports see."""
    reasoning: str
    """The reasoning before it ("" when there was none)."""

    @property
    def only_trace(self) -> bool:
        """The model reasoned and never answered (it ran out of tokens, or stopped after thinking)."""
        return bool(self.reasoning) and not self.answer


def split(text: str, reasoning: str | None = None,
          tags: Sequence[Tags] | None = None) -> Split:
    """The answer and the reasoning of one reply.

    Args:
        text: the reply's text as the model wrote it.
        reasoning: the endpoint's separate reasoning field, when it sent one.
        tags: the markers of a leading reasoning block (default :data:`DEFAULT_TAGS`); empty to
            keep the text whole.

    >>> split("<think>2 + 2 is 4.</think>\\n\\nFour.")
    Split(answer='Four.', reasoning='2 + 2 is 4.')
    >>> split("Hmm, the user asks for a sum.\\n</think>\\nFour.")
    Split(answer='Four.', reasoning='Hmm, the user asks for a sum.')
    >>> split("<think>Still thinking when the tokens ran out").only_trace
    True
    >>> split("Use <think> tags like this: <think>x</think>")
    Split(answer='Use <think> tags like this: <think>x</think>', reasoning='')
    >>> split("Four.", reasoning="2 + 2 is 4.")
    Split(answer='Four.', reasoning='2 + 2 is 4.')
    """
    given = (reasoning or "").strip()
    body = text.strip()
    pairs = DEFAULT_TAGS if tags is None else tags
    lowered = body.lower()
    for opening, closing in pairs:
        if lowered.startswith(opening.lower()):
            end = lowered.find(closing.lower(), len(opening))
            if end < 0:  # never closed: all of it is reasoning, cut off before any answer
                return Split("", _join(given, body[len(opening):]))
            return Split(body[end + len(closing):].strip(), _join(given, body[len(opening):end]))
    if any(closing == OPENED_BY_TEMPLATE for _, closing in pairs):
        end = body.find(OPENED_BY_TEMPLATE)
        if end >= 0 and "<think>" not in body[:end]:
            return Split(body[end + len(OPENED_BY_TEMPLATE):].strip(), _join(given, body[:end]))
    return Split(body, given)


def _join(*parts: str) -> str:
    return "\n\n".join(p.strip() for p in parts if p.strip())


def marker_tokens(tags: Sequence[Tags] = DEFAULT_TAGS) -> set[str]:
    """Every marker of ``tags``: a local tokenizer may hold them as special tokens, which decoding
    must keep for :func:`split` to find them."""
    return {m for pair in tags for m in pair}
