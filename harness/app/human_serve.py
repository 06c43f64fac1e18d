"""The web application of ``harness human serve``: blind pairwise voting in the browser.

A Starlette app (served by uvicorn) rendering Jinja2 pages with autoescaping and one small script
of its own (``templates/human.js``); it asks no other host for anything, so it works offline.

Who may do what:

- An annotator's link ``/a/TOKEN`` carries a random secret; only its sha256 is stored
  (``harness.core.votes``). An unknown token is a 403. Without named annotators, ``/`` asks for a
  nickname and hands out such a link.
- The owner's link ``/owner/TOKEN`` shows the results; annotator links cannot reach it.
- Every form carries a CSRF token: an HMAC (with a secret kept in the vote store, so it survives a
  restart) of a random session cookie (``SameSite=Strict``, ``HttpOnly``); a POST whose token does
  not match its cookie, or whose ``Origin`` is another host, is a 403. Bodies over ``MAX_BODY``
  bytes are a 413.
- Annotator pages and replies name no model: items are addressed by position, answers are shown
  as "Answer 1"/"Answer 2" in an order drawn per annotator and recorded.

Not handled: TLS (bind to loopback, or put a proxy in front), and rate limiting.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from harness.app import human_items
from harness.app.human_text import GUIDE, STRINGS, by_turn, language_of, markdown
from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.votes import CHOICES, Item, VoteStore, winner
from harness.judges.calibration import GoldItem
from harness.tasks import answered_tasks

MAX_BODY = 16 * 1024
"""The largest request body accepted (a vote with a long reason is well under 4 KiB)."""
MAX_REASON = 2000
COOKIE = "harness_session"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = {"human.js": "text/javascript; charset=utf-8", "human.css": "text/css; charset=utf-8"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Any]],
                    Callable[[MutableMapping[str, Any]], Awaitable[None]]], Awaitable[None]]


@dataclass(frozen=True)
class Options:
    order: str = "disagreement"
    per_annotator: int | None = None
    guide: str | None = None
    """Markdown replacing the default guide (``--guide FILE``)."""
    reference: bool = False
    gold: tuple[GoldItem, ...] = ()
    open_signup: bool = True
    """No named annotators: ``/`` asks for a nickname."""
    tasks_dirs: tuple[Path, ...] = ()
    """Where to find task files besides the built-in ones (runs without ``questions.jsonl``)."""


class Study:
    """The run's comparisons, the vote store and the settings, shared by every request."""

    def __init__(self, run_dir: Path, options: Options) -> None:
        self.run_dir = run_dir
        self.options = options
        self.store = VoteStore(run_dir / rundir.VOTES)
        self.lock = threading.Lock()
        answers = rundir.read_answers(run_dir)
        self.answers = {(a.model, a.task, a.question_id): a.all_turns for a in answers}
        # A reasoning model's trace, per turn, shown only behind a toggle: people judge the answer.
        self.traces = {(a.model, a.task, a.question_id): a.reasoning for a in answers if any(a.reasoning)}
        tasks = rundir.read_questions(run_dir)
        if tasks is None:  # a run without questions.jsonl: its task files say what was asked
            tasks = answered_tasks(run_dir, options.tasks_dirs)
        self.questions = {(t.id, q.id): (t.language, q) for t in tasks for q in t.questions}
        self.models = sorted({a.model for a in answers})
        battles = rundir.read_judge_battles(run_dir) or []
        self.pairs = human_items.run_pairs(answers, rundir.read_judgments(run_dir), battles)
        if not self.pairs:
            raise HarnessError(f"{run_dir / rundir.ANSWERS}: no question has answers from two models; "
                               "nothing to compare")
        self.gold = {g.id: g for g in options.gold}
        self.secret = self.store.setting("csrf_secret", secrets.token_hex(32)).encode()
        self.shown_at: dict[tuple[str, int], float] = {}

    def join(self, annotator: str) -> str:
        """A new link token for ``annotator`` (their assignment is drawn on first joining)."""
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.store.add_token(token, annotator)
            self.store.assign(annotator, human_items.assignment(
                self.pairs, random.Random(secrets.randbits(64)), order=self.options.order,
                per_annotator=self.options.per_annotator, gold=self.options.gold))
        return token

    def owner_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.store.add_token(token, "", role="owner")
        return token

    def csrf(self, session: str) -> str:
        return hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()

    def texts(self, item: Item) -> tuple[str, str, str, str, str, str]:
        """Language, question, context, reference, Answer 1 and Answer 2 of an item."""
        if item.kind == "gold":
            g = self.gold.get(item.ref)
            if g is None:
                return "en", "", "", "", "", ""
            first, second = g.answer_1, g.answer_2
            if item.shown_first != "answer_1":
                first, second = second, first
            lang = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in g.question) else "en"
            return lang, g.question, g.input, g.reference, first, second
        language, q = self.questions.get((item.task, item.question_id), ("", None))
        lang = language or ("zh" if item.task.startswith("zh") else "en")
        # A multi-turn question shows its every turn, and each answer the model's whole conversation.
        first = by_turn(self.answers.get((item.shown_first, item.task, item.question_id), ("",)), lang)
        second = by_turn(self.answers.get((item.shown_second, item.task, item.question_id), ("",)), lang)
        if q is None:
            return lang, item.question_id, "", "", first, second
        references = q.all_references if any(q.all_references[1:]) else (q.reference,)
        return lang, by_turn(q.all_turns, lang), q.input, by_turn(references, lang), first, second


    def reasoning(self, item: Item, lang: str) -> tuple[str, str]:
        """The reasoning behind Answer 1 and Answer 2 of an item ("" where a model showed none)."""
        if item.kind == "gold":
            return "", ""
        return tuple(  # type: ignore[return-value]
            by_turn(trace, lang) if any(trace) else ""
            for trace in (self.traces.get((m, item.task, item.question_id), ())
                          for m in (item.shown_first, item.shown_second)))


def create_app(run_dir: Path, *, options: Options | None = None, study: Study | None = None) -> ASGIApp:
    """The ASGI application serving ``run_dir``'s comparisons."""
    study = study or Study(run_dir, options or Options())
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)

    def page(name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        session = request.cookies.get(COOKIE) or secrets.token_urlsafe(24)
        html = env.get_template(name).render(csrf=study.csrf(session), **context)
        response = HTMLResponse(html, status_code=status)
        if request.cookies.get(COOKIE) != session:
            response.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/")
        return response

    def forbidden(request: Request) -> Response:
        lang = language_of("", request.query_params.get("lang"))
        return page("forbidden.html", request, 403, t=STRINGS[lang], lang=lang)

    def annotator(request: Request) -> str | None:
        who = study.store.who(str(request.path_params["token"]))
        return who[0] if who and who[1] == "annotator" else None

    async def form(request: Request) -> dict[str, str] | Response:
        """The POST's fields once its size, origin and CSRF token check out; else the refusal."""
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return PlainTextResponse("request too large", 413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("request too large", 413)
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            return PlainTextResponse("cross-site request refused", 403)
        try:
            text = body.decode("utf-8")
            if request.headers.get("content-type", "").startswith("application/json"):
                raw = json.loads(text)
                fields = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
            else:
                fields = dict(parse_qsl(text, keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            return PlainTextResponse("unreadable request", 400)
        session = request.cookies.get(COOKIE, "")
        if not session or not hmac.compare_digest(fields.get("csrf", ""), study.csrf(session)):
            return PlainTextResponse("missing or wrong CSRF token; reload the page", 403)
        return fields

    def wants_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    async def annotator_form(request: Request) -> tuple[str, dict[str, str]] | Response:
        """An annotator's POST: who they are and the checked fields; else the refusal (403 etc.)."""
        name = annotator(request)
        if name is None:
            return forbidden(request)
        fields = await form(request)
        return fields if isinstance(fields, Response) else (name, fields)

    def moved(request: Request, fields: dict[str, str], url: str, **state: object) -> Response:
        """After a vote or an undo: JSON for the page's script, else a redirect keeping the language."""
        if wants_json(request):
            return JSONResponse({"ok": True, **state, "next": url})
        lang_q = f"?lang={fields['lang']}" if fields.get("lang") in STRINGS else ""
        return RedirectResponse(url + lang_q, 303)

    async def index(request: Request) -> Response:
        if not study.options.open_signup:
            return forbidden(request)
        lang = language_of("", request.query_params.get("lang"))
        return page("nickname.html", request, t=STRINGS[lang], lang=lang, error="")

    async def join(request: Request) -> Response:
        if not study.options.open_signup:
            return forbidden(request)
        fields = await form(request)
        if isinstance(fields, Response):
            return fields
        name = fields.get("nickname", "").strip()
        lang = language_of("", fields.get("lang"))
        if not name or len(name) > 40 or not all(ch.isalnum() or ch in "._-" for ch in name):
            return page("nickname.html", request, 400, t=STRINGS[lang], lang=lang,
                        error="1-40 letters, digits, '.', '_' or '-'")
        with study.lock:
            taken = name in study.store.annotators()
        if taken:  # else anyone typing a name would get that person's votes
            return page("nickname.html", request, 400, t=STRINGS[lang], lang=lang,
                        error=STRINGS[lang]["taken"])
        return RedirectResponse(f"/a/{study.join(name)}", 303)

    async def start(request: Request) -> Response:
        name = annotator(request)
        if name is None:
            return forbidden(request)
        with study.lock:
            pos = study.store.resume(name)
        asked = request.query_params.get("lang")
        lang_q = f"?lang={asked}" if asked in STRINGS else ""
        return RedirectResponse(f"/a/{request.path_params['token']}/{pos}{lang_q}", 303)

    async def item(request: Request) -> Response:
        name = annotator(request)
        if name is None:
            return forbidden(request)
        token, pos = str(request.path_params["token"]), int(request.path_params["pos"])
        with study.lock:
            items = study.store.items(name)
            current = study.store.current(name)
        asked = request.query_params.get("lang")
        total, answered = len(items), len(current)
        if pos >= total:
            lang = language_of(study.texts(items[-1])[0] if items else "", asked)
            t = STRINGS[lang]
            return page("done.html", request, t=t, lang=lang, token=token, total=total,
                        progress=t["progress"].format(answered=answered, total=total),
                        body=t["done_body"].format(answered=answered, total=total), back=max(total - 1, 0))
        it = items[pos]
        task_lang, question, context, reference, first, second = study.texts(it)
        lang = language_of(task_lang, asked)
        t = STRINGS[lang]
        study.shown_at[(name, pos)] = time.monotonic()
        guide = markdown(study.options.guide) if study.options.guide is not None else None
        vote = current.get(pos)
        first_trace, second_trace = study.reasoning(it, task_lang)
        return page("item.html", request, t=t, lang=lang, other="en" if lang == "zh" else "zh", token=token,
                    pos=pos, total=total, progress=t["progress"].format(answered=answered, total=total),
                    question=markdown(question), context=markdown(context) if context else None,
                    reference=markdown(reference) if study.options.reference and reference else None,
                    first=markdown(first), second=markdown(second), guide=guide, guide_points=GUIDE[lang],
                    first_trace=markdown(first_trace) if first_trace else None,
                    second_trace=markdown(second_trace) if second_trace else None,
                    nonce=secrets.token_urlsafe(16), undo_nonce=secrets.token_urlsafe(16),
                    voted=vote.choice if vote else "", asked=asked if asked in STRINGS else "")

    async def vote(request: Request) -> Response:
        checked = await annotator_form(request)
        if isinstance(checked, Response):
            return checked
        name, fields = checked
        token = str(request.path_params["token"])
        try:
            pos = int(fields.get("position", ""))
            choice = fields.get("choice", "")
            nonce = fields.get("nonce", "")
            if choice not in CHOICES or not 8 <= len(nonce) <= 64:
                raise ValueError
            seconds = float(fields["seconds"]) if fields.get("seconds") else None
        except ValueError:
            return PlainTextResponse("bad vote", 400)
        with study.lock:
            total = len(study.store.items(name))
            if not 0 <= pos < total:
                return PlainTextResponse("no such item", 400)
            if seconds is None and (name, pos) in study.shown_at:
                seconds = time.monotonic() - study.shown_at[(name, pos)]
            if seconds is not None:
                seconds = round(min(max(seconds, 0.0), 86400.0), 3)
            study.store.vote(name, pos, choice, nonce=nonce, reason=fields.get("reason", "")[:MAX_REASON],
                             seconds=seconds)
            answered = len(study.store.current(name))
        return moved(request, fields, f"/a/{token}/{pos + 1}", position=pos, answered=answered, total=total)

    async def undo(request: Request) -> Response:
        checked = await annotator_form(request)
        if isinstance(checked, Response):
            return checked
        name, fields = checked
        nonce = fields.get("nonce", "")
        if not 8 <= len(nonce) <= 64:
            return PlainTextResponse("bad request", 400)
        with study.lock:
            pos = study.store.undo(name, nonce=nonce)
            answered, total = len(study.store.current(name)), len(study.store.items(name))
        back = f"/a/{request.path_params['token']}/{pos if pos is not None else 0}"
        return moved(request, fields, back, position=pos, answered=answered, total=total)

    async def owner(request: Request) -> Response:
        who = study.store.who(str(request.path_params["token"]))
        if who is None or who[1] != "owner":
            return forbidden(request)
        from harness.app.human_results import results
        with study.lock:
            tables = results(study.run_dir, study.store, study.gold)
        return page("owner.html", request, t=STRINGS["en"], lang="en", tables=tables)

    async def static(request: Request) -> Response:
        name = str(request.path_params["name"])
        if name not in STATIC:
            return PlainTextResponse("not found", 404)
        return Response((TEMPLATES / name).read_bytes(), media_type=STATIC[name])

    app = Starlette(routes=[
        Route("/", index), Route("/join", join, methods=["POST"]),
        Route("/static/{name}", static), Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/a/{token}", start), Route("/a/{token}/{pos:int}", item),
        Route("/a/{token}/vote", vote, methods=["POST"]), Route("/a/{token}/undo", undo, methods=["POST"]),
        Route("/owner/{token}", owner),
    ])
    app.state.study = study
    return _secure(app)


def _secure(app: ASGIApp) -> ASGIApp:
    """Add the security headers (CSP and friends) to every HTTP response."""

    async def wrapped(scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                      send: Callable[[MutableMapping[str, Any]], Awaitable[None]]) -> None:
        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      *((k.lower().encode(), v.encode()) for k, v in HEADERS.items())]
            await send(message)
        await app(scope, receive, send_with_headers if scope["type"] == "http" else send)
    return wrapped


def vote_rows(store: VoteStore) -> list[dict[str, Any]]:
    """Every annotator's current vote on every item, for ``harness human export``."""
    rows = []
    for name in sorted(set(store.annotators()) | {v.annotator for v in store.history()}):
        items = store.items(name)
        for pos, v in sorted(store.current(name).items()):
            if pos >= len(items):
                continue
            it = items[pos]
            rows.append({"annotator": name, "position": pos, "kind": it.kind, "task": it.task,
                         "question_id": it.question_id, "model_a": it.model_a, "model_b": it.model_b,
                         "shown_first": it.shown_first, "choice": v.choice, "winner": winner(it, v.choice),
                         "reason": v.reason, "seconds": v.seconds, "ref": it.ref, "created": v.created})
    return rows
