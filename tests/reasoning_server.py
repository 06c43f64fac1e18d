"""An OpenAI-compatible server on loopback that answers as today's reasoning APIs do, for tests.

Each model name picks a behaviour, with the providers' real error bodies:

- ``o4-mini`` and ``lab-reasoner``: like OpenAI's reasoning models. HTTP 400 (OpenAI's body, with
  ``param`` and ``code``) for ``max_tokens``, a ``temperature`` other than 1, ``top_p``, ``logprobs``
  and ``top_logprobs``; :data:`REASONING` hidden reasoning tokens are spent before any answer, so a
  ``max_completion_tokens`` below that gives empty content with ``finish_reason: length`` (and is
  billed). Usage carries ``completion_tokens_details.reasoning_tokens`` and
  ``prompt_tokens_details.cached_tokens``. As a judge it prefers the longer answer.
- ``claude-thinker``: Anthropic's OpenAI-compatible endpoint with thinking on: Anthropic's error
  body for a ``temperature`` other than 1, and for ``temperature`` with ``top_p``; logprobs ignored.
- ``gemini-thinker``: Gemini's OpenAI-compatible endpoint: errors as a JSON *list*, ``Unknown name``
  for fields it does not know (``top_k``), and logprobs "not enabled" for the model.
- ``thinker``: a candidate that writes a ``<think>...</think>`` trace before its answer (Qwen3 served
  without a reasoning parser); ``rc-thinker``: one whose trace comes in ``reasoning_content``
  (vLLM's, SGLang's and DeepSeek's reasoning parsers). Both take every parameter.

Every trace holds :data:`TRACE`, so a test can tell whether a judge was ever shown one.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scripted_server import Loopback, send_json

REASONING = 600
"""Hidden reasoning tokens an OpenAI-like reasoning model spends before it answers."""
TRACE = "TRACE-7f3a"
"""Written in every reasoning trace."""
OPENAI_REASONERS = ("o4-mini", "lab-reasoner")
LABELS = ("Assistant 1 is better than Assistant 2", "Assistant 1 is worse than Assistant 2")


def openai_error(message: str, param: str, code: str) -> dict[str, Any]:
    """OpenAI's error body, as its API sends it for a refused parameter."""
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def anthropic_error(message: str) -> dict[str, Any]:
    """Anthropic's error body (its OpenAI-compatible endpoint passes it through)."""
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message},
            "request_id": "req_011CTest"}


def gemini_error(message: str) -> list[dict[str, Any]]:
    """Gemini's OpenAI-compatible endpoint: the error object inside a list."""
    return [{"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}]


def openai_refusal(body: dict[str, Any]) -> dict[str, Any] | None:
    """What OpenAI's reasoning models say to this request's parameters, in the order they check."""
    if "max_tokens" in body:
        return openai_error("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                            "'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter")
    if "temperature" in body and body["temperature"] != 1:
        return openai_error(f"Unsupported value: 'temperature' does not support {body['temperature']} "
                            "with this model. Only the default (1) value is supported.", "temperature",
                            "unsupported_value")
    for name in ("top_p", "logprobs", "top_logprobs"):
        if name in body:
            return openai_error(f"Unsupported parameter: '{name}' is not supported with this model.", name,
                                "unsupported_parameter")
    return None


def claude_refusal(body: dict[str, Any]) -> dict[str, Any] | None:
    if "temperature" in body and "top_p" in body:
        return anthropic_error("`temperature` and `top_p` cannot both be specified for this model. Please "
                               "use only one.")
    if body.get("temperature", 1) != 1:
        return anthropic_error("`temperature` may only be set to 1 when thinking is enabled. Please consult "
                               "our documentation at https://docs.claude.com/en/docs/build-with-claude/"
                               "extended-thinking")
    return None


def gemini_refusal(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    for name in ("top_k",):
        if name in body:
            return gemini_error(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
    if body.get("logprobs"):
        return gemini_error(f"Logprobs is not enabled for models/{body['model']}")
    return None


def tokens(text: str) -> int:
    return max(1, len(text.split()))


def judge_answer(body: dict[str, Any]) -> str:
    """A judge that prefers the longer answer (so its verdicts hold in both orders); JSON following
    the schema when the request asks for it (``response_format``)."""
    prompt = body["messages"][-1]["content"]
    first = prompt.split("Assistant 1:", 1)[-1].split("Assistant 2:", 1)[0]
    second = prompt.split("Assistant 2:", 1)[-1]
    label = LABELS[0] if len(first) >= len(second) else LABELS[1]
    if "response_format" in body:
        return json.dumps({"explanation": "The first is more detailed than the second.", "verdict": label})
    return f"The answers differ in detail.\n{label}"


def candidate_answer(body: dict[str, Any]) -> str:
    question = body["messages"][-1]["content"]
    return f"{body['model']} answers: {' '.join(question.split()[:6 + len(question) % 5])}"


class ReasoningServer(Loopback):
    """``delay`` seconds pass before each judge's answer (so that a test can stop a run mid-judging)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.outcomes: Counter[tuple[str, str]] = Counter()
        """(model, 'refused' | 'cut off' | 'answered') per request."""
        self.judge_prompts: list[str] = []
        self.lock = threading.Lock()
        self.answered = threading.Condition(self.lock)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                send_json(self, *server.answer(body))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def count(self, model: str, outcome: str) -> int:
        with self.lock:
            return self.outcomes[(model, outcome)]

    def wait_for(self, model: str, outcome: str, n: int, timeout: float = 120) -> bool:
        """Block until ``n`` requests of ``model`` had ``outcome``."""
        with self.answered:
            return self.answered.wait_for(lambda: self.outcomes[(model, outcome)] >= n, timeout)

    def _note(self, model: str, outcome: str) -> None:
        with self.answered:
            self.outcomes[(model, outcome)] += 1
            self.answered.notify_all()

    def answer(self, body: dict[str, Any]) -> tuple[int, Any]:
        model = body["model"]
        with self.lock:
            self.requests.append(body)
        refusal: Any = None
        if model in OPENAI_REASONERS:
            refusal = openai_refusal(body)
        elif model == "claude-thinker":
            refusal = claude_refusal(body)
        elif model == "gemini-thinker":
            refusal = gemini_refusal(body)
        elif model == "strict-old" and "response_format" in body:
            refusal = {"error": {"message": "Unrecognized request argument supplied: response_format",
                                 "type": "invalid_request_error", "param": None, "code": None}}
        if refusal is not None:
            self._note(model, "refused")
            return 400, refusal
        judging = "Assistant 1:" in body["messages"][-1]["content"]
        if judging:
            with self.lock:
                self.judge_prompts.append(json.dumps(body["messages"], ensure_ascii=False))
        if judging and self.delay:
            time.sleep(self.delay)
        text = judge_answer(body) if judging else candidate_answer(body)
        prompt = sum(tokens(m["content"]) for m in body["messages"])
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": tokens(text),
                                 "total_tokens": prompt + tokens(text)}
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop"
        if model in OPENAI_REASONERS:
            budget = body.get("max_completion_tokens", 10**9)
            cached = 64 if prompt >= 64 else 0
            usage["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
            if budget < REASONING + tokens(text):
                message["content"], finish = "", "length"
                usage.update(completion_tokens=budget, total_tokens=prompt + budget,
                             completion_tokens_details={"reasoning_tokens": budget})
            else:
                usage.update(completion_tokens=REASONING + tokens(text),
                             total_tokens=prompt + REASONING + tokens(text),
                             completion_tokens_details={"reasoning_tokens": REASONING})
        elif model == "thinker":
            message["content"] = f"<think>\n{TRACE}: the user asks about {text[:30]}.\n</think>\n\n{text}"
        elif model == "rc-thinker":
            message["reasoning_content"] = f"{TRACE}: first, recall the rules; then answer."
            usage["completion_tokens_details"] = {"reasoning_tokens": 12}
            usage["completion_tokens"] += 12
            usage["total_tokens"] += 12
        self._note(model, "cut off" if finish == "length" else "answered")
        return 200, {"id": "chatcmpl-reasoning", "object": "chat.completion", "created": 0, "model": model,
                     "choices": [{"index": 0, "finish_reason": finish, "message": message}], "usage": usage}

