"""The voting app's routes, one small method each, over one :class:`~harness.web.study.Study`.

``GET /`` (nickname form, open sign-up only), ``POST /join``, ``GET /a/TOKEN`` (resume),
``GET /a/TOKEN/POS`` (an item, or the end), ``POST /a/TOKEN/vote``, ``POST /a/TOKEN/undo``,
``GET /owner/TOKEN`` (the results), ``GET /static/NAME`` and ``GET /favicon.ico``. Pages render
(Markdown, the owner's tables) in a worker thread. Not handled here: the Host check and the
security headers every response gets (:mod:`harness.web.app`).
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from harness.core.errors import HarnessError
from harness.core.votes import CHOICES, NonceConflict, VoteStore, annotator_name
from harness.web.forms import COOKIE, read_form
from harness.web.results import results
from harness.web.study import Study
from harness.web.text import GUIDE, STRINGS, language_of, markdown

MAX_REASON = 2000
NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
"""A vote's or undo's nonce (the page makes them with ``secrets.token_urlsafe``)."""
POSITION = re.compile(r"[0-9]{1,9}")
"""An item's position as written in a URL or a form (nine digits: far more items than anyone votes on)."""
TEMPLATES = Path(__file__).parent / "templates"
STATIC = {"human.js": "text/javascript; charset=utf-8", "human.css": "text/css; charset=utf-8"}


class Pages:
    """The route handlers and the helpers they share: sessions, rendering, refusals."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                      undefined=jinja2.StrictUndefined)

    def routes(self) -> list[Route]:
        return [
            Route("/", self.index), Route("/join", self.join, methods=["POST"]),
            Route("/static/{name}", static), Route("/favicon.ico", favicon),
            Route("/a/{token}", self.start),
            Route("/a/{token}/vote", self.vote, methods=["POST"]),
            Route("/a/{token}/undo", self.undo, methods=["POST"]),
            # The position is checked by the handler: no int() of 5,000 digits.
            Route("/a/{token}/{pos}", self.item),
            Route("/owner/{token}", self.owner),
        ]

    # --- helpers ---------------------------------------------------------------------------

    def render(self, name: str, session: str, **context: Any) -> str:
        return self.env.get_template(name).render(csrf=self.study.csrf(session), **context)

    def page(self, name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        session = _session_of(request)
        return _respond(self.render(name, session, **context), request, session, status)

    def forbidden(self, request: Request) -> Response:
        lang = language_of("", request.query_params.get("lang"))
        return self.page("forbidden.html", request, 403, t=STRINGS[lang], lang=lang)

    def annotator(self, request: Request) -> str | None:
        return self.study.annotator(str(request.path_params["token"]))

    async def annotator_form(self, request: Request) -> tuple[str, dict[str, str]] | Response:
        """An annotator's POST: who they are and the checked fields; else the refusal (403 etc.)."""
        name = self.annotator(request)
        if name is None:
            return self.forbidden(request)
        fields = await read_form(request, self.study.csrf)
        return fields if isinstance(fields, Response) else (name, fields)

    # --- sign-up ---------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        if not self.study.options.open_signup:
            return self.forbidden(request)
        lang = language_of("", request.query_params.get("lang"))
        return self.page("nickname.html", request, t=STRINGS[lang], lang=lang, error="")

    async def join(self, request: Request) -> Response:
        if not self.study.options.open_signup:
            return self.forbidden(request)
        fields = await read_form(request, self.study.csrf)
        if isinstance(fields, Response):
            return fields
        lang = language_of("", fields.get("lang"))
        try:
            name = annotator_name(fields.get("nickname", ""))
        except ValueError:
            return self.page("nickname.html", request, 400, t=STRINGS[lang], lang=lang,
                             error="1-40 letters, digits, '.', '_' or '-'")
        token = await run_in_threadpool(self.study.sign_up, name)
        if token is None:
            return self.page("nickname.html", request, 400, t=STRINGS[lang], lang=lang,
                             error=STRINGS[lang]["taken"])
        return RedirectResponse(f"/a/{token}", 303)

    # --- an annotator's items --------------------------------------------------------------

    async def start(self, request: Request) -> Response:
        name = self.annotator(request)
        if name is None:
            return self.forbidden(request)
        with self.study.lock:
            pos = self.study.store.resume(name)
        asked = request.query_params.get("lang")
        lang_q = f"?lang={asked}" if asked in STRINGS else ""
        return RedirectResponse(f"/a/{request.path_params['token']}/{pos}{lang_q}", 303)

    async def item(self, request: Request) -> Response:
        name = self.annotator(request)
        if name is None:
            return self.forbidden(request)
        raw = str(request.path_params["pos"])
        if not POSITION.fullmatch(raw):
            return PlainTextResponse("no such item", 404)
        session = _session_of(request)
        html = await run_in_threadpool(self.item_page, name, str(request.path_params["token"]), int(raw),
                                       request.query_params.get("lang"), session)
        return _respond(html, request, session)

    def item_page(self, name: str, token: str, pos: int, asked: str | None, session: str) -> str:
        """The HTML of an item (or of the end): Markdown and all, so it runs in a worker thread."""
        study = self.study
        with study.lock:
            items = study.store.items(name)
            current = study.store.current(name)
        total, answered = len(items), len(current)
        if pos >= total:
            lang = language_of(study.texts(items[-1])[0] if items else "", asked)
            t = STRINGS[lang]
            return self.render("done.html", session, t=t, lang=lang, token=token, total=total,
                               progress=t["progress"].format(answered=answered, total=total),
                               body=t["done_body"].format(answered=answered, total=total),
                               back=max(total - 1, 0))
        it = items[pos]
        task_lang, question, context, reference, first, second = study.texts(it)
        lang = language_of(task_lang, asked)
        t = STRINGS[lang]
        study.shown_at[(name, pos)] = time.monotonic()

        def md(text: str) -> Markup | None:
            return markdown(text, lang) if text else None

        guide = markdown(study.options.guide, lang) if study.options.guide is not None else None
        vote = current.get(pos)
        first_trace, second_trace = study.reasoning(it, task_lang)
        return self.render("item.html", session, t=t, lang=lang, other="en" if lang == "zh" else "zh",
                           token=token, pos=pos, total=total,
                           progress=t["progress"].format(answered=answered, total=total),
                           question=markdown(question, lang), context=md(context),
                           reference=md(reference) if study.options.reference else None,
                           first=markdown(first, lang), second=markdown(second, lang), guide=guide,
                           guide_points=GUIDE[lang], first_trace=md(first_trace),
                           second_trace=md(second_trace), nonce=secrets.token_urlsafe(16),
                           undo_nonce=secrets.token_urlsafe(16), voted=vote.choice if vote else "",
                           asked=asked if asked in STRINGS else "")

    # --- voting ----------------------------------------------------------------------------

    async def vote(self, request: Request) -> Response:
        checked = await self.annotator_form(request)
        if isinstance(checked, Response):
            return checked
        name, fields = checked
        token = str(request.path_params["token"])
        choice, nonce, raw_seconds = (fields.get(k, "") for k in ("choice", "nonce", "seconds"))
        if (not POSITION.fullmatch(fields.get("position", "")) or choice not in CHOICES
                or not NONCE.fullmatch(nonce)):
            return PlainTextResponse("bad vote", 400)
        try:
            seconds = float(raw_seconds) if raw_seconds else None
        except ValueError:
            return PlainTextResponse("bad vote: seconds is not a number", 400)
        if seconds is not None and seconds != seconds:  # NaN would pass the clamp below unchanged
            return PlainTextResponse("bad vote: seconds is not a number", 400)
        pos = int(fields["position"])
        answered, total, stored = await run_in_threadpool(
            self.study.cast, name, pos, choice, nonce, fields.get("reason", "")[:MAX_REASON], seconds)
        if isinstance(stored, str):
            return PlainTextResponse(stored, 400)
        if isinstance(stored, NonceConflict):
            old = stored.vote
            if old is None or old.annotator != name:  # someone else's: tell nothing about it
                return _conflict(request, f"/a/{token}/{pos}")
            return _conflict(request, f"/a/{token}/{old.position}", position=old.position, choice=old.choice)
        return _moved(request, fields, f"/a/{token}/{stored.position + 1}", position=stored.position,
                      choice=stored.choice, answered=answered, total=total)

    async def undo(self, request: Request) -> Response:
        checked = await self.annotator_form(request)
        if isinstance(checked, Response):
            return checked
        name, fields = checked
        token = str(request.path_params["token"])
        nonce = fields.get("nonce", "")
        if not NONCE.fullmatch(nonce):
            return PlainTextResponse("bad request", 400)
        done = await run_in_threadpool(self.study.take_back, name, nonce)
        if done is None:
            return _conflict(request, f"/a/{token}")
        pos, answered, total = done
        back = f"/a/{token}/{pos if pos is not None else 0}"
        return _moved(request, fields, back, position=pos, answered=answered, total=total)

    # --- the owner's results ---------------------------------------------------------------

    async def owner(self, request: Request) -> Response:
        if not self.study.is_owner(str(request.path_params["token"])):
            return self.forbidden(request)
        session = _session_of(request)
        return _respond(await run_in_threadpool(self.owner_page, session), request, session)

    def owner_page(self, session: str) -> str:
        # Its own read-only connection: the tables can take a while, and votes must not wait.
        store = VoteStore(self.study.store.path, readonly=True)
        try:
            tables, error = results(self.study.run_dir, store, self.study.gold), ""
        except HarnessError as exc:  # a bad run file: the page says which, in one line
            tables, error = [], str(exc)
        finally:
            store.close()
        return self.render("owner.html", session, t=STRINGS["en"], lang="en", tables=tables, error=error)


async def static(request: Request) -> Response:
    name = str(request.path_params["name"])
    if name not in STATIC:
        return PlainTextResponse("not found", 404)
    return Response((TEMPLATES / name).read_bytes(), media_type=STATIC[name])


def favicon(request: Request) -> Response:
    return Response(status_code=204)


def _session_of(request: Request) -> str:
    return request.cookies.get(COOKIE) or secrets.token_urlsafe(24)


def _respond(html: str, request: Request, session: str, status: int = 200) -> HTMLResponse:
    response = HTMLResponse(html, status_code=status)
    if request.cookies.get(COOKIE) != session:
        response.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/")
    return response


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _moved(request: Request, fields: dict[str, str], url: str, **state: object) -> Response:
    """After a vote or an undo: JSON for the page's script, else a redirect keeping the language."""
    if _wants_json(request):
        return JSONResponse({"ok": True, **state, "next": url})
    lang_q = f"?lang={fields['lang']}" if fields.get("lang") in STRINGS else ""
    return RedirectResponse(url + lang_q, 303)


def _conflict(request: Request, url: str, **stored: object) -> Response:
    """A nonce used before for another request: nothing was stored; say what is (to its owner)."""
    message = "this request was already used for another vote; reload the page"
    if _wants_json(request):
        return JSONResponse({"ok": False, "error": message, **stored, "next": url}, 409)
    return PlainTextResponse(message, 409)
