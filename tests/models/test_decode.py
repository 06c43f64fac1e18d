"""The decode loop of local backends (``harness/models/backends/_decode.py``) against
transformers' own ``model.generate`` and logits warpers."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from harness.core.types import DecodingParams, Message
from harness.models.backends import _decode, load_backend

CONVERSATIONS: list[list[Message]] = [
    [{"role": "user", "content": "Answer with one word, yes or no: is the sea salty?"}],
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Write two sentences about a lighthouse keeper who finds a "
                                 "message in a bottle, and say what the message asks for."}],
    [{"role": "system", "content": "You answer in French."},
     {"role": "user", "content": "Say hello."}],
]
NUCLEUS = DecodingParams(max_new_tokens=12, temperature=0.7, top_k=50, top_p=0.9, seed=3)


@pytest.fixture(scope="module")
def embedded() -> tuple[Any, Any, Any]:
    backend = load_backend("embedded")
    model, tok = backend._load()  # type: ignore[attr-defined]
    return backend, model, tok


def reference_greedy(model: Any, tok: Any, texts: list[str], max_new_tokens: int) -> list[list[int]]:
    """``model.generate`` on one left-padded batch, each reply cut after its end token."""
    import torch

    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             temperature=None, top_k=None, top_p=None, pad_token_id=tok.pad_token_id)
    rows = out[:, enc["input_ids"].shape[1]:].tolist()
    return [row[: row.index(tok.eos_token_id) + 1] if tok.eos_token_id in row else row for row in rows]


@pytest.mark.slow
def test_greedy_replies_match_model_generate(embedded: tuple[Any, Any, Any]) -> None:
    backend, model, tok = embedded
    params = DecodingParams(max_new_tokens=24)
    texts = [backend._prompt(tok, c) for c in CONVERSATIONS]
    prompts = tok(texts, add_special_tokens=False)["input_ids"]
    assert _decode.supported(model, params)
    stop = _decode.stop_tokens(model, tok)
    replies = _decode.generate(model, prompts, params, stop)
    assert replies == reference_greedy(model, tok, texts, params.max_new_tokens)
    store = _decode.EncodedBatches()
    _decode.generate(model, prompts, NUCLEUS, stop, store)
    assert _decode.generate(model, prompts, params, stop, store) == replies  # reusing the encoding
    # Rows of different lengths, and one that ends early (so it leaves the batch mid-way).
    assert len({len(p) for p in prompts}) == len(prompts)
    assert any(len(r) < params.max_new_tokens for r in replies)
    assert any(len(r) == params.max_new_tokens for r in replies)


@pytest.mark.slow
def test_completions_count_tokens_and_sampling_is_seeded(embedded: tuple[Any, Any, Any]) -> None:
    backend, model, tok = embedded
    done = backend.generate_completions(CONVERSATIONS, NUCLEUS)
    assert done == backend.generate_completions(CONVERSATIONS, NUCLEUS)
    other = backend.generate_completions(CONVERSATIONS, DecodingParams(**{**NUCLEUS.__dict__, "seed": 4}))
    assert [c.text for c in other] != [c.text for c in done]
    for conv, completion in zip(CONVERSATIONS, done):
        prompt = tok(backend._prompt(tok, conv), add_special_tokens=False)["input_ids"]
        assert completion.prompt_tokens == len(prompt)
        assert 1 <= (completion.completion_tokens or 0) <= NUCLEUS.max_new_tokens


@pytest.mark.slow
def test_unsupported_settings_fall_back_to_model_generate(embedded: tuple[Any, Any, Any]) -> None:
    backend, model, _ = embedded
    assert _decode.supported(model, NUCLEUS)
    beams = DecodingParams(max_new_tokens=4, num_beams=2)
    assert not _decode.supported(model, beams)
    [done] = backend.generate_completions(CONVERSATIONS[1:2], beams)
    assert done.text and 1 <= (done.completion_tokens or 0) <= 4
    before = model.generation_config.repetition_penalty
    model.generation_config.repetition_penalty = 1.3  # a warper the loop does not apply
    try:
        assert not _decode.supported(model, NUCLEUS)
    finally:
        model.generation_config.repetition_penalty = before
    assert _decode.supported(model, NUCLEUS)


@pytest.mark.slow
def test_generation_and_label_scoring_use_no_deprecated_api(embedded: tuple[Any, Any, Any]) -> None:
    """No DeprecationWarning or FutureWarning from a generation through any path (the decode
    loop, ``model.generate``) or from scoring labels (issue 15: transformers' ``past_key_values``
    is to be removed in 5.40). Recorded here, not left to the suite's ``filterwarnings``, so that
    it also holds where a warning was already shown once and so filtered out."""
    backend, _, _ = embedded
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend.generate_completions(CONVERSATIONS[:2], DecodingParams(max_new_tokens=3))
        backend.generate_completions(CONVERSATIONS[1:2], DecodingParams(max_new_tokens=2, num_beams=2))
        for _ in range(2):  # the second call reuses the first prompt's cache
            backend.label_logprobs(CONVERSATIONS[1], ["A", "B"])
    deprecated = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
                  if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert deprecated == []


@pytest.mark.parametrize(("top_k", "top_p"), [(0, 1.0), (5, 1.0), (0, 0.8), (6, 0.7)])
def test_sampling_follows_transformers_warpers(top_k: int, top_p: float) -> None:
    """Temperature, top-k and top-p keep the tokens transformers' warpers keep, and draw them
    with the probabilities those warpers leave."""
    import torch
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    torch.manual_seed(0)
    logits = torch.randn(1, 12) * 2
    params = DecodingParams(temperature=0.8, top_k=top_k, top_p=top_p)
    scores = TemperatureLogitsWarper(0.8)(None, logits.clone())  # type: ignore[arg-type]
    if top_k:
        scores = TopKLogitsWarper(top_k)(None, scores)  # type: ignore[arg-type]
    if top_p < 1:
        scores = TopPLogitsWarper(top_p)(None, scores)  # type: ignore[arg-type]
    expected = scores.softmax(dim=-1)[0]
    draws = 40_000
    generator = torch.Generator().manual_seed(0)
    picked = _decode._next_tokens(logits.expand(draws, -1).contiguous(), params, generator)
    freq = torch.bincount(picked, minlength=12).double() / draws
    assert set(picked.tolist()) == set(expected.nonzero()[:, 0].tolist())
    assert torch.allclose(freq, expected.double(), atol=0.01)


def test_sampling_over_blocks_draws_each_token_with_its_probability() -> None:
    """The two-level draw (blocks of tokens, then a token) on a vocabulary of several blocks,
    the last one partial, with zero-probability tokens at block edges and at the end."""
    import torch

    torch.manual_seed(1)
    probs = (torch.randn(300) * 1.5).softmax(dim=-1)
    zero = [0, 63, 64, 127, 299]
    probs[zero] = 0.0
    probs /= probs.sum()
    draws = 100_000
    weights = probs * 7  # any scale: the draw normalizes
    picked = _decode._sample(weights.expand(draws, -1), torch.Generator().manual_seed(0), block=64)
    freq = torch.bincount(picked, minlength=300).double() / draws
    assert freq[zero].sum() == 0
    assert torch.allclose(freq, probs.double(), atol=0.005)
    # The chi-square statistic of the common tokens is within reach of its degrees of freedom.
    common = probs * draws >= 20
    chi2 = float(((freq[common] - probs[common]) ** 2 / probs[common]).sum() * draws)
    assert chi2 < 2 * int(common.sum())


def test_encoded_batches_keep_the_newest_within_their_byte_limit() -> None:
    import torch

    def batch(rows: int) -> list[_decode._Encoded]:  # 5 float32 numbers a row: 20 bytes
        return [_decode._Encoded([torch.zeros(2)], [torch.zeros(2)], torch.zeros(1))] * rows

    store = _decode.EncodedBatches(limit=100)
    a, b, c = ((1,), (2,)), ((3,),), ((4,), (5,))
    store.put(a, batch(2))
    store.put(b, batch(2))
    assert store.get(a) is not None  # a is now newer than b
    store.put(c, batch(2))  # 120 bytes: the oldest, b, goes
    assert store.get(b) is None
    assert store.get(a) is not None and store.get(c) is not None
    store.put(((6,),), batch(6))  # larger than the limit alone: nothing is kept
    assert store.get(a) is None and store.get(c) is None and store.get(((6,),)) is None
