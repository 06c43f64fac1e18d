"""Local generation and label scoring with transformers, shared by ``embedded`` and ``hf``."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from harness.core.errors import BackendError
from harness.core.notes import say_once
from harness.core.types import Completion, DecodingParams, Message
from harness.models.backends import _decode
from harness.models.reasoning import DEFAULT_TAGS, marker_tokens

# ChatML, the format SmolLM2 and Qwen were trained with; used only when a tokenizer has no template.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class TransformersBackend:
    """A causal LM with its tokenizer, loaded on first use by ``loader``.

    ``loader`` returns ``(model, tokenizer)``; it is where network or file access happens.
    """

    def __init__(self, spec: str, loader: Callable[[], tuple[Any, Any]]):
        self.spec = spec
        self._loader = loader
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()
        self._prefix: tuple[list[int], Any] | None = None
        self._encoded = _decode.EncodedBatches()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                model, tok = self._loader()
                model.eval()
                tok.padding_side = "left"  # batched generation continues every row at the end
                if tok.pad_token is None:
                    tok.pad_token = tok.eos_token
                if not getattr(tok, "chat_template", None):
                    tok.chat_template = CHATML_TEMPLATE
                self._loaded = (model, tok)
            return self._loaded

    def _prompt(self, tok: Any, conversation: list[Message]) -> str:
        text: str = tok.apply_chat_template(conversation, tokenize=False,
                                            add_generation_prompt=True)
        return text

    def generate(self, conversations: list[list[Message]], params: DecodingParams) -> list[str]:
        """Generate for all conversations as one left-padded batch (callers choose its size)."""
        return [c.text for c in self.generate_completions(conversations, params)]

    def generate_completions(self, conversations: list[list[Message]],
                             params: DecodingParams) -> list[Completion]:
        """:meth:`generate` with each reply's prompt and reply token counts.

        The batch is decoded by :func:`._decode.generate` where it decodes as ``model.generate``
        would (see :func:`._decode.supported`), which is much faster on a CPU; else by
        ``model.generate``.
        """
        if not conversations:
            return []
        if params.reasoning_effort:
            say_once(f"{self.spec}: reasoning_effort {params.reasoning_effort!r} has no effect on a local "
                     "model (it is sent to endpoints that take it); the model decodes as it always does")
        model, tok = self._load()
        texts = [self._prompt(tok, c) for c in conversations]
        if not _decode.supported(model, params):
            return self._hf_generate(model, tok, texts, params)
        prompts: list[list[int]] = tok(texts, add_special_tokens=False)["input_ids"]
        replies = _decode.generate(model, prompts, params, _decode.stop_tokens(model, tok),
                                   self._encoded)
        return [Completion(_joined(opened_by_template(text), reply_text(tok, reply)), len(ids), len(reply))
                for text, ids, reply in zip(texts, prompts, replies)]

    def _hf_generate(self, model: Any, tok: Any, texts: list[str],
                     params: DecodingParams) -> list[Completion]:
        """``model.generate`` on one left-padded batch."""
        import torch

        sample = params.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "num_beams": params.num_beams,
            "do_sample": sample,
            "pad_token_id": tok.pad_token_id,
        }
        if sample:
            kwargs.update(temperature=params.temperature, top_k=params.top_k, top_p=params.top_p)
        else:  # silence the defaults a model's generation_config may carry for sampling
            kwargs.update(temperature=None, top_k=None, top_p=None)
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        torch.manual_seed(params.seed)
        with torch.inference_mode():
            gen = model.generate(**enc, **kwargs)
        new = gen[:, enc["input_ids"].shape[1] :].tolist()
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        return [Completion(_joined(opened_by_template(text), reply_text(tok, row)), int(n),
                           _reply_len(row, tok)) for text, row, n in zip(texts, new, prompt_lens)]

    def label_logprobs(self, conversation: list[Message], labels: list[str]) -> list[float]:
        """Sum of token log-probabilities of each label as the whole assistant reply.

        The prompt is encoded once (reusing the keys and values of the part it shares with the
        previous prompt: judge prompts start with the same instructions); each label is then
        scored on top of that cache, all labels in one batch.
        """
        import torch

        model, tok = self._load()
        text = self._prompt(tok, conversation)
        ids: list[int] = tok(text, add_special_tokens=False)["input_ids"]
        end = tok.eos_token or ""
        encoded = [tok(label + end, add_special_tokens=False)["input_ids"] for label in labels]
        width = max(len(e) for e in encoded)
        # Right padding: a causal model's logits at the real positions never see the pad tokens.
        batch = torch.tensor([e + [tok.pad_token_id] * (width - len(e)) for e in encoded],
                             device=model.device)
        with torch.inference_mode():
            cache, last_logits = self._encode_prompt(model, ids)
            cache.batch_repeat_interleave(len(labels))
            out = model(batch, use_cache=True, **{_decode.cache_arg(model): cache})
            # Restore the prompt-only cache for the next call's prefix reuse.
            cache.batch_select_indices(torch.tensor([0], device=model.device))
            cache.crop(-width)
            first = last_logits.expand(len(labels), -1)[:, None, :]
            logp = torch.log_softmax(torch.cat([first, out.logits[:, :-1, :]], 1).float(), dim=-1)
            token_logp = logp.gather(-1, batch[..., None])[..., 0]
        return [float(token_logp[i, : len(e)].sum()) for i, e in enumerate(encoded)]

    def _encode_prompt(self, model: Any, ids: list[int]) -> tuple[Any, Any]:
        """KV cache and last-position logits for ``ids``, extending the previous prompt's cache
        from the longest shared token prefix (at least the last token is always recomputed)."""
        import torch

        prev_ids, cache = self._prefix if self._prefix else ([], None)
        keep = 0
        limit = min(len(prev_ids), len(ids) - 1)
        while keep < limit and prev_ids[keep] == ids[keep]:
            keep += 1
        if cache is None or keep == 0:
            cache, keep = None, 0
        elif keep < len(prev_ids):
            cache.crop(keep - len(prev_ids))
        new = torch.tensor([ids[keep:]], device=model.device)
        arg = _decode.cache_arg(model)
        out = model(new, use_cache=True, **{arg: cache})
        cache = getattr(out, arg)  # the output names the cache as forward does
        self._prefix = (ids, cache)
        return cache, out.logits[:, -1, :]


def reply_text(tok: Any, ids: list[int]) -> str:
    """A reply's text without special tokens (end of sequence, padding), except reasoning markers:
    a tokenizer may hold ``<think>`` and ``</think>`` as special tokens, and the reasoning must stay
    findable (:func:`harness.models.reasoning.split`) rather than run into the answer."""
    keep = _marker_ids(tok)
    if not keep.intersection(ids):
        # Exactly the decoding every reply had before traces were kept (a published leaderboard's
        # answers must not change by a byte).
        plain: str = tok.decode(ids, skip_special_tokens=True)
        return plain.strip()
    # What skip_special_tokens drops: every added token flagged special (a tokenizer may flag more
    # of them than its special-tokens map names), here less the markers.
    flagged = {i for i, t in getattr(tok, "added_tokens_decoder", {}).items() if getattr(t, "special", False)}
    special = (flagged | set(tok.all_special_ids)) - keep
    text: str = tok.decode([i for i in ids if i not in special], skip_special_tokens=False)
    return text.strip()


# Weakly keyed: an id() key could be reused by a later tokenizer once this one is freed.
_MARKER_IDS: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()


def _marker_ids(tok: Any) -> set[int]:
    """The ids of the reasoning markers this tokenizer has as whole tokens (worked out once per
    tokenizer: its vocabulary may be large)."""
    try:
        return _MARKER_IDS[tok]
    except KeyError:
        pass
    vocab = tok.get_vocab()
    found = {vocab[m] for m in marker_tokens() if m in vocab}
    _MARKER_IDS[tok] = found
    return found


def opened_by_template(prompt: str) -> str:
    r"""The reasoning block's opening marker when the chat template ends the prompt with it
    (DeepSeek-R1's does): the reply then holds only the rest of the block, and the marker is put
    back in front of it, so that a reply cut off before ``</think>`` still reads as reasoning.

    >>> opened_by_template("<|Assistant|><think>\n"), opened_by_template("<|assistant|>")
    ('<think>', '')
    """
    end = prompt.rstrip()
    return next((opening for opening, _ in DEFAULT_TAGS if end.endswith(opening)), "")


def _joined(opening: str, reply: str) -> str:
    return f"{opening}\n{reply}" if opening else reply


def _reply_len(row: list[int], tok: Any) -> int:
    """Generated tokens up to and including the first end-of-sequence token (the rest is padding)."""
    stop = {tok.eos_token_id, tok.pad_token_id} - {None}
    return next((i + 1 for i, t in enumerate(row) if t in stop), len(row))


def missing_package(package: str, install: str) -> BackendError:
    return BackendError(f"the {package} package is needed for this backend: {install}")
