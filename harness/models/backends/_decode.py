"""Batched generation for transformers causal LMs: a decode loop that is faster than
``model.generate`` on a CPU (issue 14; ``benchmarks/bench_generation.py`` measures it).

It skips these costs of ``generate`` on a left-padded batch:

- pad tokens: ``generate`` runs every prompt padded to the longest one of the batch (a batch of
  40- to 240-token prompts is mostly padding). Here the prefix all prompts of the batch share
  (the chat template's system turn) is encoded once, and the rest of each prompt in a group of
  prompts of about its length; their keys and values are then laid out left-padded, as
  ``generate`` lays them out, with the pads masked;
- encoding a batch again: the default run sends the same batches of questions three times (one
  model, three decodings); an encoded batch is kept (:class:`EncodedBatches`) and reused;
- finished rows: ``generate`` computes a row until the whole batch is done; here a row that has
  ended leaves the batch (at once, unless copying the cache costs more than the steps it saves);
- cache copies: ``DynamicCache`` concatenates each layer's keys and values at every step, a copy
  of the whole cache per token; here they are written into a buffer sized for the whole reply;
- sampling: ``torch.multinomial`` draws a random number per vocabulary token; here one a row
  (:func:`_sample`).

The replies mean the same: the same prompt tokens at the same positions, greedy decoding or
temperature, then top-k, then top-p (``generate``'s order of its warpers), stopping at the same
end-of-sequence tokens, and a generator seeded with ``params.seed``, so a batch is reproducible.
Greedy replies match ``model.generate``'s (``tests/models/test_decode.py``). Models or settings
the loop does not cover (beam search, sliding-window or recurrent caches, generation-config
options such as a repetition penalty) are left to ``model.generate``: see :func:`supported`.

torch and transformers are imported inside the functions: loading a backend must not import them
(a fully cached run never does).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

from harness.core.types import DecodingParams

# Generation-config fields the loop honours or that do not change the tokens; any other field a
# model's generation config sets (a repetition penalty, min_p, bad words...) means model.generate.
HONOURED = {"bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "do_sample",
            "temperature", "top_k", "top_p", "num_beams", "max_length", "max_new_tokens",
            "use_cache", "output_attentions", "output_hidden_states", "output_scores",
            "output_logits", "return_dict_in_generate", "cache_implementation",
            "_from_model_config", "transformers_version"}


def supported(model: Any, params: DecodingParams) -> bool:
    """Whether :func:`generate` decodes ``params`` on ``model`` as ``model.generate`` would."""
    if params.num_beams != 1 or getattr(model.config, "is_encoder_decoder", False):
        return False
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:  # transformers before per-layer caches
        return False
    forward = inspect.signature(_base(model).forward).parameters
    if "logits_to_keep" not in forward or not ({"cache", "past_key_values"} & set(forward)):
        return False
    # Every layer a plain growing cache: no sliding windows, no recurrent state.
    if any(type(layer) is not DynamicLayer for layer in DynamicCache(config=model.config).layers):
        return False
    config = getattr(model, "generation_config", None)
    return config is None or not set(config.to_diff_dict()) - HONOURED


def stop_tokens(model: Any, tok: Any) -> set[int]:
    """The token ids that end a reply: the generation config's end-of-sequence ids (what
    ``generate`` stops at) and the tokenizer's."""
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    found = set(ids if isinstance(ids, list) else [ids]) | {tok.eos_token_id}
    return {int(i) for i in found if i is not None}


class EncodedBatches:
    """The encoded prompts of recent batches, so that a batch sent again (the same questions
    with another decoding: ``harness run``'s default models are one model decoded three ways)
    is not encoded again. Whole batches are kept, not single prompts: a prompt's keys and values
    depend, in their last bits, on the group it was encoded in, so only a whole batch comes back
    exactly as it would be encoded anew. The oldest batches go first beyond ``limit`` bytes.
    """

    def __init__(self, limit: int = 1 << 30) -> None:
        self.limit = limit
        self._batches: dict[tuple[tuple[int, ...], ...], list[_Encoded]] = {}

    def get(self, key: tuple[tuple[int, ...], ...]) -> list[_Encoded] | None:
        found = self._batches.pop(key, None)
        if found is not None:
            self._batches[key] = found  # now the newest
        return found

    def put(self, key: tuple[tuple[int, ...], ...], rows: list[_Encoded]) -> None:
        self._batches[key] = rows
        while sum(_size(b) for b in self._batches.values()) > self.limit:
            del self._batches[next(iter(self._batches))]


def generate(model: Any, prompts: list[list[int]], params: DecodingParams, stop: set[int],
             store: EncodedBatches | None = None) -> list[list[int]]:
    """The reply tokens to each prompt, each up to and including its first stop token.

    Args:
        model: a causal LM for which :func:`supported` holds.
        prompts: token ids of each prompt, not padded.
        params: the decoding (greedy when ``temperature`` is 0).
        stop: token ids that end a reply (:func:`stop_tokens`).
        store: where this model's encoded batches are kept for reuse (none: encode anew).
    """
    import torch

    with torch.inference_mode():
        key = tuple(tuple(p) for p in prompts)
        rows = store.get(key) if store is not None else None
        if rows is None:
            rows = _encode(model, prompts)
            if store is not None:
                store.put(key, rows)
        return _loop(model, prompts, rows, params, stop)


def _loop(model: Any, prompts: list[list[int]], rows: list[_Encoded], params: DecodingParams,
          stop: set[int]) -> list[list[int]]:
    import torch

    device = model.device
    width = max(len(p) for p in prompts)
    cache = _batch_cache(model, rows, width, width + params.max_new_tokens)
    logits = torch.stack([row.logits for row in rows])  # a copy: sampling overwrites it
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    positions = torch.tensor([[len(p)] for p in prompts], device=device)
    generator = torch.Generator(device=device).manual_seed(params.seed)
    replies: list[list[int]] = [[] for _ in prompts]
    live: list[int | None] = list(range(len(prompts)))  # each batch row's prompt, None once ended
    for step in range(params.max_new_tokens):
        tokens = _next_tokens(logits, params, generator)
        for r, token in enumerate(tokens.tolist()):
            i = live[r]
            if i is not None:
                replies[i].append(token)
                if token in stop:
                    live[r] = None
        left = params.max_new_tokens - step - 1
        running = [r for r, i in enumerate(live) if i is not None]
        if not left or not running:
            break
        ended = len(live) - len(running)
        # Dropping rows copies the cache of those that stay (about the cost of two decoding steps
        # of one row), so it waits until the steps it saves outweigh that.
        if ended and ended * left * 2 >= len(running):
            keep = torch.tensor(running, device=device)
            cache.batch_select_indices(keep)
            tokens, mask, positions = tokens[keep], mask[keep], positions[keep]
            live = [live[r] for r in running]
        mask = torch.cat([mask, mask.new_ones(len(live), 1)], dim=1)
        out = model(input_ids=tokens[:, None], attention_mask=mask, position_ids=positions,
                    use_cache=True, **{cache_arg(model): cache})
        logits = out.logits[:, -1]
        positions = positions + 1
    return replies


def _next_tokens(logits: Any, params: DecodingParams, generator: Any) -> Any:
    """One token per row: the argmax, or a sample after temperature, top-k and top-p.

    Top-p keeps the smallest set of most likely tokens whose probabilities add up to ``top_p``
    (a token stays while the tokens ranked above it add up to less), as ``generate`` does.
    ``logits`` is overwritten (a batch's logits are 12 MB; fresh copies cost page faults).
    """
    if params.temperature <= 0:
        return logits.argmax(dim=-1)
    scores, ids = logits.float(), None
    if params.top_k > 0:  # the same tokens before or after the temperature
        scores, ids = scores.topk(min(params.top_k, scores.shape[-1]))
    elif params.top_p < 1:
        scores, ids = scores.sort(descending=True)
    # Softmax numerators of scores / temperature; the draw needs no normalized probabilities.
    weights = scores.sub_(scores.amax(dim=-1, keepdim=True)).div_(params.temperature).exp_()
    if params.top_p < 1:
        probs = weights / weights.sum(dim=-1, keepdim=True)
        weights = weights.masked_fill(probs.cumsum(dim=-1) - probs >= params.top_p, 0.0)
    picked = _sample(weights, generator)
    return picked if ids is None else ids.gather(-1, picked[:, None])[:, 0]


def _sample(weights: Any, generator: Any, block: int = 256) -> Any:
    """One index per row, drawn with probabilities proportional to the row's ``weights``, by
    inverting their running sum: first over blocks of ``block`` tokens, then inside the block.

    ``torch.multinomial`` draws a random number per token (49,152 for SmolLM2), and one running
    sum over the whole vocabulary needs float64 not to move probability between tokens; either
    took a sixth of a decoding step at batch 64 on a CPU. Here a row draws one number, and the
    running sums are short enough for float64 to cost nothing.
    """
    import torch

    rows, size = weights.shape
    block = min(block, size)
    blocks = -(-size // block)
    if blocks * block != size:
        weights = torch.nn.functional.pad(weights, (0, blocks * block - size))
    weights = weights.view(rows, blocks, block)
    u = torch.rand(rows, 1, dtype=torch.float64, device=weights.device, generator=generator)
    chosen, u = _invert(weights.sum(dim=-1).double(), u)  # 256-token sums are exact enough
    inside, _ = _invert(weights[torch.arange(rows, device=weights.device), chosen].double(), u)
    return chosen * block + inside


def _invert(weights: Any, u: Any) -> tuple[Any, Any]:
    """For each row, the index ``i`` where ``u`` (uniform in [0, 1), shape ``(rows, 1)``) falls
    once scaled to the row's total weight, and where in weight ``i`` it fell (again uniform in
    [0, 1)). A weight of zero is never chosen, even when rounding puts ``u`` past the end.

    >>> import torch
    >>> _invert(torch.tensor([[1.0, 0.0, 3.0, 0.0]]), torch.tensor([[0.5]]))
    (tensor([2]), tensor([[0.3333]]))
    """
    import torch

    cdf = weights.cumsum(dim=-1)
    u = u * cdf[:, -1:]
    i = torch.searchsorted(cdf, u, right=True)
    i = torch.minimum(i, torch.searchsorted(cdf, cdf[:, -1:].contiguous()))  # the last non-zero weight
    weight = weights.gather(1, i)
    return i[:, 0], (u - cdf.gather(1, i) + weight) / weight


@dataclass(frozen=True)
class _Encoded:
    """One encoded prompt: each layer's keys and values (batch of 1), and its last logits."""

    keys: list[Any]
    values: list[Any]
    logits: Any


def _size(rows: list[_Encoded]) -> int:
    return sum(t.nelement() * t.element_size() for r in rows for t in (*r.keys, *r.values, r.logits))


def _encode(model: Any, prompts: list[list[int]]) -> list[_Encoded]:
    """Each prompt's keys, values and last logits.

    The prefix all prompts share is encoded once. The rest of each prompt is encoded in a group
    of prompts of about its length (:func:`_groups`), right-padded: a causal model's real tokens
    never see the pads after them, so the pads' keys and values are simply cut off.
    """
    import torch
    from transformers.cache_utils import Cache, DynamicLayer

    device = model.device
    shared = _shared_prefix(prompts)
    arg = cache_arg(model)
    layers = model.config.num_hidden_layers
    starts: list[Any] = [DynamicLayer() for _ in range(layers)]  # the shared prefix's
    pad = prompts[0][0]  # any token: nothing real attends to the pads
    rows: list[Any] = [None] * len(prompts)
    if shared:
        model(input_ids=torch.tensor([prompts[0][:shared]], device=device), use_cache=True,
              **{arg: Cache(layers=starts)})
    for group in _groups([len(p) - shared for p in prompts]):
        rests = [prompts[i][shared:] for i in group]
        longest, shortest = max(map(len, rests)), min(map(len, rests))
        ids = torch.tensor([r + [pad] * (longest - len(r)) for r in rests], device=device)
        group_layers: list[Any] = [DynamicLayer() for _ in range(layers)]
        if shared:
            for layer, start in zip(group_layers, starts):
                layer.update(start.keys.expand(len(group), -1, -1, -1),
                             start.values.expand(len(group), -1, -1, -1))
        keep = longest - shortest + 1  # the logits of every row's last real token are in these
        out = model(input_ids=ids,
                    position_ids=torch.arange(shared, shared + longest, device=device)[None],
                    use_cache=True, logits_to_keep=keep, **{arg: Cache(layers=group_layers)})
        for g, (i, rest) in enumerate(zip(group, rests)):
            n = shared + len(rest)
            rows[i] = _Encoded([layer.keys[g : g + 1, :, :n].clone() for layer in group_layers],
                               [layer.values[g : g + 1, :, :n].clone() for layer in group_layers],
                               out.logits[g, len(rest) - longest - 1].clone())
    return rows


def _batch_cache(model: Any, rows: list[_Encoded], width: int, capacity: int) -> Any:
    """A cache of the encoded prompts left-padded to ``width``, with room for ``capacity``
    tokens a row."""
    from transformers.cache_utils import Cache

    layers: list[Any] = [_reserved_layer()(len(rows), capacity)
                         for _ in range(model.config.num_hidden_layers)]
    for i, row in enumerate(rows):
        for layer, keys, values in zip(layers, row.keys, row.values):
            layer.place(i, width - keys.shape[-2], keys, values)
    for layer in layers:
        layer.set_width(width)
    return Cache(layers=layers)


def _groups(lengths: list[int], slack: float = 0.25, most: int = 4096) -> list[list[int]]:
    """Indices of ``lengths`` in groups of similar length to encode together: padded to its
    longest, a group computes at most ``slack`` more tokens than it holds, and ``most`` in all.

    >>> _groups([5, 40, 6, 42, 100, 7])
    [[0, 2, 5], [1, 3], [4]]
    """
    groups: list[list[int]] = []
    total = 0
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        n = lengths[i]  # the longest so far of its group: they come shortest first
        if groups and n * (len(groups[-1]) + 1) <= min((1 + slack) * (total + n), most):
            groups[-1].append(i)
            total += n
        else:
            groups.append([i])
            total = n
    return groups


def _shared_prefix(prompts: list[list[int]]) -> int:
    """How many leading tokens all prompts share, leaving each at least one of its own.

    >>> _shared_prefix([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]])
    2
    >>> _shared_prefix([[1, 2], [1, 2]])
    1
    """
    first, shortest = prompts[0], min(len(p) for p in prompts)
    n = 0
    while n < shortest - 1 and all(p[n] == first[n] for p in prompts):
        n += 1
    return n


def _base(model: Any) -> Any:
    """The transformers model under a peft wrapper (whose ``forward`` takes ``**kwargs``)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def cache_arg(model: Any) -> str:
    """The name ``forward`` takes the cache by, and its output returns it by: ``cache``, or
    ``past_key_values`` in transformers before the rename. The old name still works after it
    but warns (a ``FutureWarning``: it goes in 5.40), so it is used only where it is the only one.
    """
    forward = inspect.signature(_base(model).forward).parameters
    return "cache" if "cache" in forward else "past_key_values"


@functools.cache
def _reserved_layer() -> type:
    """A cache layer whose keys and values are views of a buffer sized for the whole reply."""
    from transformers.cache_utils import DynamicLayer

    class ReservedLayer(DynamicLayer):  # type: ignore[misc, valid-type]
        def __init__(self, rows: int, capacity: int) -> None:
            super().__init__()
            self.rows, self.capacity, self.width = rows, capacity, 0

        def place(self, row: int, start: int, keys: Any, values: Any) -> None:
            """Copy one prompt's keys and values (batch of 1) into ``row`` from column ``start``."""
            if not self.is_initialized:
                # Zeros, not garbage, in the pad columns: masked scores still multiply them.
                shape = (self.rows, keys.shape[1], self.capacity, keys.shape[3])
                self.buffers = (keys.new_zeros(shape), values.new_zeros(shape))
                self.device, self.is_initialized = keys.device, True
            end = start + keys.shape[-2]
            self.buffers[0][row, :, start:end] = keys[0]
            self.buffers[1][row, :, start:end] = values[0]

        def set_width(self, width: int) -> None:
            self.width = width
            self.keys = self.buffers[0][:, :, :width]
            self.values = self.buffers[1][:, :, :width]

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any
                   ) -> tuple[Any, Any]:
            start, end = self.width, self.width + key_states.shape[-2]
            self.buffers[0][:, :, start:end] = key_states
            self.buffers[1][:, :, start:end] = value_states
            self.set_width(end)
            return self.keys, self.values

        def batch_select_indices(self, indices: Any) -> None:
            self.buffers = (self.buffers[0][indices], self.buffers[1][indices])
            self.set_width(self.width)

    return ReservedLayer
