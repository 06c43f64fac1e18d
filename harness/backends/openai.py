"""``openai:MODEL[@BASE_URL]``: any OpenAI-compatible chat endpoint, through the official client.

The key comes from ``OPENAI_API_KEY``. With a ``@BASE_URL`` (vLLM, Ollama, llama.cpp's server)
and no key set, a placeholder key is sent, since local servers ignore it. ``top_k`` is not part of
OpenAI's API; it is sent as an extra field, which vLLM and llama.cpp's server understand.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.backends._transformers import missing_package
from harness.errors import BackendError, SpecError
from harness.types import DecodingParams, Message

HELP = "openai:MODEL[@BASE_URL]  OpenAI-compatible endpoint; key from OPENAI_API_KEY"
LOCAL_PLACEHOLDER_KEY = "sk-local-no-key"


class OpenAIBackend:
    def __init__(self, spec: str, model: str, base_url: str | None, concurrency: int = 4) -> None:
        self.spec = spec
        self.model = model
        self.base_url = base_url
        self.concurrency = concurrency
        self._client: Any = None
        self._lock = threading.Lock()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import openai
                except ImportError as exc:
                    raise missing_package("openai", "pip install openai") from exc
                key = os.environ.get("OPENAI_API_KEY")
                if not key and not self.base_url:
                    raise BackendError(
                        f"{self.spec}: set OPENAI_API_KEY (or give a local endpoint with "
                        "openai:MODEL@http://HOST:PORT/v1)"
                    )
                self._client = openai.OpenAI(api_key=key or LOCAL_PLACEHOLDER_KEY,
                                             base_url=self.base_url, max_retries=2, timeout=120)
            return self._client

    def _one(self, messages: list[Message], params: DecodingParams) -> str:
        import openai

        client = self._get_client()
        extra: dict[str, Any] = {"top_k": params.top_k} if params.top_k else {}
        try:
            resp = client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=params.max_new_tokens,
                temperature=params.temperature, top_p=params.top_p, seed=params.seed,
                extra_body=extra or None,
            )
        except openai.AuthenticationError:
            raise BackendError(f"{self.spec}: the endpoint rejected the API key") from None
        except openai.NotFoundError as exc:
            raise BackendError(f"{self.spec}: model {self.model!r} not found ({exc.message})") from None
        except openai.APIConnectionError:
            where = self.base_url or "the OpenAI API"
            raise BackendError(f"{self.spec}: cannot connect to {where}") from None
        except openai.BadRequestError as exc:
            raise BackendError(f"{self.spec}: request rejected: {exc.message}") from None
        choice = resp.choices[0]
        return (choice.message.content or "").strip()

    def generate(self, conversations: list[list[Message]], params: DecodingParams) -> list[str]:
        if params.num_beams != 1:
            raise BackendError(f"{self.spec}: OpenAI-compatible endpoints do not do beam search "
                               f"(num_beams={params.num_beams})")
        if len(conversations) <= 1 or self.concurrency <= 1:
            return [self._one(c, params) for c in conversations]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda c: self._one(c, params), conversations))


def create(spec: str, arg: str, adapter: str | None) -> OpenAIBackend:
    if adapter is not None:
        raise SpecError(f"model spec {spec!r}: a remote model cannot take a LoRA adapter")
    model, at, base_url = arg.partition("@")
    if not model.strip():
        raise SpecError(f"model spec {spec!r}: expected openai:MODEL[@BASE_URL], e.g. openai:gpt-4o-mini")
    if at and not base_url.startswith(("http://", "https://")):
        raise SpecError(f"model spec {spec!r}: base URL must start with http:// or https://")
    return OpenAIBackend(spec, model, base_url or None)
