"""The ASGI application of the voting app: its routes (:mod:`harness.web.routes`) behind a Host
check and the security headers (CSP and friends) on every HTTP response.

Only requests whose ``Host`` is one of the server's own names are answered (else a 421), so a page
on another site cannot reach the server through a DNS name it re-points at 127.0.0.1.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse

from harness.web.routes import Pages
from harness.web.study import Options, Study

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Any]],
                    Callable[[MutableMapping[str, Any]], Awaitable[None]]], Awaitable[None]]


def served_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` headers a server bound to ``host``:``port`` answers: ``host`` itself, and the
    loopback names when it is bound to loopback or to every address (then also the machine's own
    name and addresses), each with the port (and without it on port 80).

    >>> sorted(served_hosts("127.0.0.1", 8765))
    ['127.0.0.1:8765', '[::1]:8765', 'localhost:8765']
    """
    names = {host}
    if host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""):
        names |= {"127.0.0.1", "localhost", "::1"}
    if host in ("0.0.0.0", "::", ""):  # other machines reach it by this machine's name or address
        names -= {"0.0.0.0", "::", ""}
        try:
            own = {socket.gethostname(), socket.getfqdn()}
            names |= own | {str(info[4][0]) for name in own for info in socket.getaddrinfo(name, None)}
        except OSError:  # no resolvable name of its own: loopback only
            pass
    out = set()
    for name in names:
        shown = f"[{name}]" if ":" in name else name
        out.add(f"{shown}:{port}".lower())
        if port == 80:
            out.add(shown.lower())
    return frozenset(out)


def create_app(run_dir: Path, *, hosts: Collection[str], options: Options | None = None,
               study: Study | None = None) -> ASGIApp:
    """The ASGI application serving ``run_dir``'s comparisons to requests whose ``Host`` header is
    one of ``hosts`` (:func:`served_hosts`)."""
    study = study or Study(run_dir, options or Options())
    app = Starlette(routes=Pages(study).routes())
    app.state.study = study
    return _secure(app, frozenset(h.lower() for h in hosts))


def _secure(app: ASGIApp, hosts: frozenset[str]) -> ASGIApp:
    """Answer only requests for one of ``hosts``, and add the security headers (CSP and friends)
    to every HTTP response."""

    async def wrapped(scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                      send: Callable[[MutableMapping[str, Any]], Awaitable[None]]) -> None:
        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      *((k.lower().encode(), v.encode()) for k, v in HEADERS.items())]
            await send(message)
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        host = next((v for k, v in scope.get("headers", []) if k == b"host"), b"")
        if host.decode("latin-1").lower() not in hosts:
            # A page elsewhere that re-points its own DNS name at this machine sends that name.
            await PlainTextResponse("unknown host name", 421)(scope, receive, send_with_headers)
            return
        await app(scope, receive, send_with_headers)
    return wrapped
