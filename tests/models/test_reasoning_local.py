"""Local models (``hf:DIR`` and ``embedded``) that think aloud: their ``<think>`` block is kept apart
from the answer exactly as an endpoint's is (``harness/models/reasoning.py``).

A local reply goes a longer way than an endpoint's: the decode loop produces token ids, and
``reply_text`` turns them into text. Tokenizers of reasoning models (Qwen3, the DeepSeek-R1
distills) hold ``<think>`` and ``</think>`` as special tokens, so decoding with
``skip_special_tokens=True`` would erase the markers and the trace would run into the answer, where
the judge reads it. These tests run that whole way on a real (tiny) transformers model, built here
offline: a word-level tokenizer whose markers are special tokens, and a one-layer Llama whose
weights are set by hand so that greedy decoding writes a known reply, token by token. Nothing of
the code under test is replaced: the model is saved to a directory and loaded by ``hf:``'s own
loader, decoded by the backend's loop (or ``model.generate``), cached, and split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.core.types import Answer, DecodingParams, ModelConfig, Question, Task
from harness.models import backends
from harness.models.backends import _decode, embedded, load_backend
from harness.models.backends._transformers import TransformersBackend, reply_text
from harness.models.backends.hf import load_model
from harness.models.cache import CallCache
from harness.models.generate import generate_answers, generation_request, question_messages

MARKERS = ["<think>", "</think>"]
ROLES = ["<|system|>", "<|user|>", "<|assistant|>"]
SPECIAL = ["<unk>", "<pad>", "</s>", *MARKERS, *ROLES]
TRACE = ["Adding", "both", "pairs", "makes", "four"]
ANSWER = ["The", "total", "is", "4"]
VOCAB = {word: i for i, word in enumerate([*SPECIAL, *TRACE, *ANSWER, "What", "plus", "two", "apples"])}
# Every token is followed by the next one in this chain (and anything else by the end token), so
# greedy decoding after the prompt's last token writes the rest of the chain. Its tokens are all
# distinct: a token's successor is all the model knows.
CHAIN = ["<|assistant|>", "<think>", *TRACE, "</think>", *ANSWER, "</s>"]

TRACE_TEXT = " ".join(TRACE)
ANSWER_TEXT = " ".join(ANSWER)
RAW = f"<think> {TRACE_TEXT} </think> {ANSWER_TEXT}"
"""The reply as the model writes it (the word-level tokenizer decodes with spaces between tokens)."""

TURNS = "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
OPENED = TURNS + "{% if add_generation_prompt %}<|assistant|>{% endif %}"
"""A chat template that leaves the block to the model: the reply starts with ``<think>``."""
CLOSED = TURNS + "{% if add_generation_prompt %}<|assistant|><think>{% endif %}"
"""DeepSeek-R1's way: the template opens the block, the reply holds only ``</think>``."""

GREEDY = DecodingParams(max_new_tokens=20)
TASK = Task("arith", "en", "math", "Sums.", (
    Question("q1", "What is two plus two?", "sums", "4"),
    # Longer, so that the batch is left-padded (the reply depends only on the last prompt token).
    Question("q2", "What is two apples plus two apples plus two apples?", "sums", "6"),
))


@dataclass(frozen=True)
class Tiny:
    """The tiny model saved twice: with a template that lets it open the block, and with one that
    opens the block itself."""

    opened: Path
    closed: Path


def tiny_tokenizer(order: list[str] | None = None) -> Any:
    """A word-level tokenizer; the markers and role tags are special tokens. ``order`` puts the
    special tokens at other ids (the words follow them)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = VOCAB if order is None else {w: i for i, w in enumerate([*order, *(w for w in VOCAB if w not in order)])}
    words = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=words, unk_token="<unk>", pad_token="<pad>",
                                   eos_token="</s>", additional_special_tokens=[*MARKERS, *ROLES])


def tiny_model() -> Any:
    """A one-layer Llama whose next token depends only on the current one, following :data:`CHAIN`.

    Attention and MLP write nothing (their output projections are zero), so the last hidden state
    is the last token's embedding: a one-hot vector, still one-hot after the final RMSNorm (scaled
    by sqrt(hidden size)). ``lm_head`` maps token ``t``'s direction to its successor's logit.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    size = len(VOCAB)
    config = LlamaConfig(vocab_size=size, hidden_size=32, intermediate_size=8, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128,
                         tie_word_embeddings=False, bos_token_id=None, eos_token_id=VOCAB["</s>"],
                         pad_token_id=VOCAB["<pad>"])
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    successor = {VOCAB[a]: VOCAB[b] for a, b in zip(CHAIN, CHAIN[1:])}
    with torch.no_grad():
        model.model.embed_tokens.weight.zero_()
        model.model.embed_tokens.weight[:, :size] = torch.eye(size)
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.lm_head.weight.zero_()
        for token in range(size):
            model.lm_head.weight[successor.get(token, VOCAB["</s>"]), token] = 1.0
    return model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    root = tmp_path_factory.mktemp("tiny-reasoner")
    model, tok = tiny_model(), tiny_tokenizer()
    for name, template in (("opened", OPENED), ("closed", CLOSED)):
        tok.chat_template = template
        model.save_pretrained(root / name)
        tok.save_pretrained(root / name)
    return Tiny(root / "opened", root / "closed")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh backend registry, so that these specs load this module's model and leave nothing
    behind."""
    monkeypatch.setattr(backends, "_LOADED", {})


def answers(spec: str, cache: CallCache, params: DecodingParams = GREEDY) -> list[Answer]:
    return generate_answers([TASK], [ModelConfig("tiny", spec, params)], cache, batch_size=4)


def cached_raw(cache: CallCache, spec: str, params: DecodingParams, question: Question) -> Any:
    """What the cache holds for ``question``: the reply as the model wrote it."""
    model = ModelConfig("tiny", spec, params)
    return cache.peek("generate", generation_request(model, question_messages(question)))


def assert_split(got: list[Answer], trace: str = TRACE_TEXT, answer: str = ANSWER_TEXT) -> None:
    assert [(a.task, a.question_id) for a in got] == [("arith", "q1"), ("arith", "q2")]
    for a in got:
        assert a.answer == answer
        assert a.reasoning == (trace,)
        assert "<think>" not in a.answer and "</think>" not in a.answer


def test_greedy_decoding_follows_the_chain(tiny: Tiny) -> None:
    """The model writes the markers as tokens, and the backend's text keeps them."""
    import torch

    model, tok = load_model(str(tiny.opened), None)
    assert _decode.supported(model, GREEDY)  # its generation config asks nothing the loop ignores
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is two plus two?"}],
                                     tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|assistant|>")
    enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=GREEDY.max_new_tokens, do_sample=False,
                             pad_token_id=tok.pad_token_id)
    reply = out[0, enc["input_ids"].shape[1]:].tolist()
    assert tok.convert_ids_to_tokens(reply) == CHAIN[1:]
    backend = load_backend(f"hf:{tiny.opened}")
    assert backend.generate([[{"role": "user", "content": q.question}] for q in TASK.questions],
                            GREEDY) == [RAW, RAW]


def test_reply_text_keeps_reasoning_markers(tiny: Tiny) -> None:
    """Why ``reply_text`` exists: ``skip_special_tokens=True`` erases ``<think>`` and ``</think>``."""
    _, tok = load_model(str(tiny.opened), None)
    assert {"<think>", "</think>"} <= set(tok.all_special_tokens)
    ids = tok.convert_tokens_to_ids([*CHAIN[1:], "<pad>", "<pad>"])
    assert reply_text(tok, ids) == RAW  # markers kept, end token and padding dropped
    assert tok.decode(ids, skip_special_tokens=True).split() == [*TRACE, *ANSWER]


@pytest.mark.parametrize("params", [GREEDY, DecodingParams(max_new_tokens=20, num_beams=2)],
                         ids=["decode-loop", "model-generate"])
def test_hf_answers_keep_the_trace_apart(tiny: Tiny, tmp_path: Path, params: DecodingParams) -> None:
    spec = f"hf:{tiny.opened}"
    cache = CallCache(tmp_path / "cache.sqlite")
    got = answers(spec, cache, params)
    assert_split(got)
    assert all(a.spec == spec and not a.only_trace for a in got)
    assert cache.calls["generate"] == 2
    for question in TASK.questions:  # the cache keeps the text as written, markers and all
        assert cached_raw(cache, spec, params, question) == RAW
    # A second run is served from the cache, split the same way.
    assert answers(spec, cache, params) == got
    assert cache.calls["generate"] == 2 and cache.hits["generate"] == 2
    # And so is a later process (a new cache object and a new backend).
    backends._LOADED.clear()
    with CallCache(tmp_path / "cache.sqlite") as again:
        assert answers(spec, again, params) == got
        assert again.calls["generate"] == 0


def test_template_opened_block_is_split(tiny: Tiny, tmp_path: Path) -> None:
    """DeepSeek-R1's template ends the prompt with ``<think>``: the reply holds only ``</think>``, and
    the backend puts the template's marker back in front, so even a reply cut off before
    ``</think>`` reads as reasoning, not as an answer."""
    spec = f"hf:{tiny.closed}"
    cache = CallCache(tmp_path / "cache.sqlite")
    got = answers(spec, cache)
    assert cached_raw(cache, spec, GREEDY, TASK.questions[0]) == f"<think>\n{TRACE_TEXT} </think> {ANSWER_TEXT}"
    assert_split(got)
    short = DecodingParams(max_new_tokens=2)
    cut = answers(spec, cache, short)
    assert cached_raw(cache, spec, short, TASK.questions[0]) == "<think>\nAdding both"
    assert_split(cut, trace="Adding both", answer="")
    assert all(a.only_trace == (1,) for a in cut)


def test_marker_ids_are_not_confused_between_tokenizers(tiny: Tiny) -> None:
    """Two tokenizers with the markers at other ids, one freed before the other exists, each keep
    their own markers (a table keyed by ``id()`` would hand the second the first's ids)."""
    import gc

    for _ in range(20):
        first = tiny_tokenizer(order=SPECIAL)
        assert reply_text(first, first.convert_tokens_to_ids(["<think>", "Adding", "</think>", "4"])) == (
            "<think> Adding </think> 4")
        del first
        gc.collect()
        moved = tiny_tokenizer(order=[*reversed(SPECIAL)])
        ids = moved.convert_tokens_to_ids(["<think>", "Adding", "</think>", "4", "</s>"])
        assert reply_text(moved, ids) == "<think> Adding </think> 4"
        del moved
        gc.collect()


def test_reply_cut_off_inside_the_trace(tiny: Tiny, tmp_path: Path) -> None:
    """Out of tokens before ``</think>``: no answer, and the trace is flagged as all there is."""
    spec = f"hf:{tiny.opened}"
    short = DecodingParams(max_new_tokens=3)
    cache = CallCache(tmp_path / "cache.sqlite")
    got = answers(spec, cache, short)
    assert cached_raw(cache, spec, short, TASK.questions[0]) == "<think> Adding both"
    assert_split(got, trace="Adding both", answer="")
    assert all(a.only_trace == (1,) for a in got)


def test_embedded_answers_keep_the_trace_apart(tiny: Tiny, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``embedded`` goes through the same backend; only its weights (here the tiny model's) differ."""
    loads: list[str | None] = []

    def load(adapter: str | None) -> tuple[Any, Any]:
        loads.append(adapter)
        return load_model(str(tiny.opened), adapter)

    monkeypatch.setattr(embedded, "_load", load)
    backend = load_backend("embedded")
    assert isinstance(backend, TransformersBackend)
    cache = CallCache(tmp_path / "cache.sqlite")
    got = answers("embedded", cache)
    assert loads == [None]
    assert_split(got)
    assert cache.calls["generate"] == 2
    assert cached_raw(cache, "embedded", GREEDY, TASK.questions[1]) == RAW
    assert answers("embedded", cache) == got
    assert cache.calls["generate"] == 2 and loads == [None]


def test_replies_without_markers_decode_exactly_as_before(tiny: Tiny) -> None:
    """A reply with no reasoning marker is decoded by ``skip_special_tokens=True`` itself, so that
    no published answer changes by a byte; with markers, every token the tokenizer flags special is
    still dropped, including one its special-tokens map does not name (SmolLM2 flags 17 such tokens
    and names 3)."""
    from tokenizers import AddedToken

    _, tok = load_model(str(tiny.opened), None)
    tok.add_tokens([AddedToken("<repo_name>", special=True)])
    repo = tok.convert_tokens_to_ids("<repo_name>")
    assert repo not in tok.all_special_ids  # flagged special, yet not in the map
    plain = tok.convert_tokens_to_ids(["The", "<repo_name>", "total", "is", "4", "</s>"])
    assert reply_text(tok, plain) == tok.decode(plain, skip_special_tokens=True).strip() == "The total is 4"
    marked = tok.convert_tokens_to_ids(["<think>", "Adding", "<repo_name>", "</think>", "4", "</s>"])
    assert reply_text(tok, marked) == "<think> Adding </think> 4"


@pytest.mark.slow
def test_the_embedded_tokenizer_decodes_replies_exactly_as_before() -> None:
    """The embedded model's replies (no markers in its vocabulary) decode as they always did, for
    any mix of ordinary and special tokens: the default run's leaderboard stays the README's."""
    import random

    tok = embedded._load(None)[1]
    flagged = [i for i, t in tok.added_tokens_decoder.items() if t.special]
    assert len(flagged) > len(tok.all_special_ids)
    rng = random.Random(0)
    for _ in range(500):
        ids = [rng.randrange(len(tok)) for _ in range(30)] + rng.sample(flagged, 3)
        rng.shuffle(ids)
        assert reply_text(tok, ids) == tok.decode(ids, skip_special_tokens=True).strip()
