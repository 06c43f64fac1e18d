"""A POST's fields, once the request passes the checks every form of the voting app needs: its
size (``MAX_BODY``; else a 413), its origin (another host's is a 403), its shape (a flat form or a
JSON object of strings; else a 400) and its CSRF token (an HMAC of the session cookie; else a 403).

Not handled here: what a route does with the fields (:mod:`harness.web.routes`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from harness.core.files import parse_json

MAX_BODY = 16 * 1024
"""The largest request body accepted (a vote with a long reason is well under 4 KiB)."""
COOKIE = "harness_session"
"""The session cookie whose HMAC is every form's CSRF token."""


async def read_form(request: Request, csrf: Callable[[str], str]) -> dict[str, str] | Response:
    """The POST's fields once its size, origin and CSRF token (``csrf`` of the session cookie)
    check out; else the refusal."""
    length = request.headers.get("content-length")
    # Ten digits are over the limit already, and int() of thousands of them is an error.
    if length is not None and (not (length.isascii() and length.isdigit()) or len(length) > 9
                               or int(length) > MAX_BODY):
        return PlainTextResponse("request too large", 413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return PlainTextResponse("request too large", 413)
    origin = request.headers.get("origin")
    if origin and _netloc(origin) != request.headers.get("host", "").lower():
        return PlainTextResponse("cross-site request refused", 403)
    fields = _fields(body, request.headers.get("content-type", ""))
    if isinstance(fields, str):
        return PlainTextResponse(fields, 400)
    session = request.cookies.get(COOKIE, "")
    if not session or not hmac.compare_digest(fields.get("csrf", "").encode(), csrf(session).encode()):
        return PlainTextResponse("missing or wrong CSRF token; reload the page", 403)
    return fields


def _netloc(url: str) -> str:
    """The host:port of a URL, lower case ("" when it has none or cannot be parsed)."""
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return ""


def _fields(body: bytes, content_type: str) -> dict[str, str] | str:
    """A POST body's fields (a form, or a JSON object of strings); else why not, for a 400."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            raw = parse_json(text)
            if not isinstance(raw, dict):
                return "unreadable request: expected a JSON object"
            if not all(isinstance(v, str) for v in raw.values()):
                return "unreadable request: every field must be a string"
            fields: dict[str, str] = raw
        else:
            fields = dict(parse_qsl(text, keep_blank_values=True))
    except (UnicodeError, ValueError):  # NestedTooDeeply is a ValueError too
        return "unreadable request"
    # Every field can be stored: the body decoded as UTF-8, and parse_json makes a JSON "\ud800"
    # (half of a UTF-16 pair) U+FFFD.
    return fields
