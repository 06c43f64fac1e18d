"""What ``vllm run-batch`` does, against any OpenAI-compatible server: read an OpenAI Batch request
file, send each line's body to ``URL/chat/completions``, write vLLM's result lines.

For trying ``harness batch export`` -> an engine -> ``harness batch import`` without a GPU (the
slow test runs it against llama.cpp's real server), and as a template for a cluster job. Result
lines have ``vllm run-batch``'s shape: ``{"id", "custom_id", "response": {"status_code",
"request_id", "body"}, "error"}``, in input order; a request the server refuses is a line with its
status code and error, as vLLM writes it.

    python benchmarks/run_batch.py -i requests.jsonl -o results.jsonl --url http://127.0.0.1:8080/v1
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def answer(url: str, line: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One result line for one request line."""
    request_id = f"vllm-batch-{uuid.uuid4().hex}"
    row: dict[str, Any] = {"id": f"vllm-{uuid.uuid4().hex}", "custom_id": line["custom_id"]}
    post = urllib.request.Request(f"{url.rstrip('/')}/chat/completions", method="POST",
                                  data=json.dumps(line["body"]).encode("utf-8"),
                                  headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(post, timeout=timeout) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return {**row, "response": {"status_code": exc.code, "request_id": request_id, "body": None},
                "error": json.loads(exc.read() or b"null")}
    except OSError as exc:
        return {**row, "response": {"status_code": 400, "request_id": request_id, "body": None},
                "error": str(exc)}
    return {**row, "response": {"status_code": 200, "request_id": request_id, "body": body}, "error": None}


def run_batch(inp: Path, out: Path, *, url: str, concurrency: int = 4, timeout: float = 600.0) -> int:
    """Answer every line of ``inp`` into ``out``; returns the number of lines written."""
    lines = [json.loads(t) for t in inp.read_text(encoding="utf-8").splitlines() if t.strip()]
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda line: answer(url, line, timeout), lines))
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results), encoding="utf-8")
    return len(results)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-i", "--input-file", type=Path, required=True)
    p.add_argument("-o", "--output-file", type=Path, required=True)
    p.add_argument("--url", required=True, help="the server's base URL, e.g. http://127.0.0.1:8080/v1")
    p.add_argument("--concurrency", type=int, default=4)
    args = p.parse_args()
    n = run_batch(args.input_file, args.output_file, url=args.url, concurrency=args.concurrency)
    print(f"wrote {args.output_file} ({n} lines)")


if __name__ == "__main__":
    main()
