"""The web application of ``harness human serve``: blind pairwise voting in the browser.

A Starlette app (served by uvicorn) rendering Jinja2 pages with autoescaping and one small script
of its own (``templates/human.js``); it asks no other host for anything, so it works offline.

Who may do what:

- An annotator's link ``/a/TOKEN`` carries a random secret; only its sha256 is stored
  (``harness.core.votes``). An unknown token is a 403, and so is the link of an annotator the
  server was not started for (``--annotators`` names who may vote; their votes stay). Without
  named annotators, ``/`` asks for a nickname and hands out such a link. Names and nicknames are
  compared NFKC case-folded (``harness.core.votes.fold``).
- The owner's link ``/owner/TOKEN`` shows the results; annotator links cannot reach it.
- Every form carries a CSRF token: an HMAC (with a secret kept in the vote store, so it survives a
  restart) of a random session cookie (``SameSite=Strict``, ``HttpOnly``); a POST whose token does
  not match its cookie, or whose ``Origin`` is another host, is a 403. Bodies over ``MAX_BODY``
  bytes are a 413; a body that is not a flat form or JSON object of strings is a 400.
- Only requests whose ``Host`` is one of the server's own names are answered (else a 421), so a
  page on another site cannot reach the server through a DNS name it re-points at 127.0.0.1.
- A vote's nonce makes a retry one vote; the nonce reused for anything else is a 409 that says what
  is stored, never an acknowledgement of a vote that was not saved.
- Pages render (Markdown, the owner's tables) in a worker thread, so one long text does not hold up
  other annotators; each text shown is cut at ``human_text.MAX_TEXT`` characters.
- Annotator pages and replies name no model: items are addressed by position, answers are shown
  as "Answer 1"/"Answer 2" in an order drawn per annotator and recorded.

Not handled: TLS (bind to loopback, or put a proxy in front), and rate limiting.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from harness.app import human_items
from harness.app.human_text import GUIDE, STRINGS, by_turn, language_of, markdown
from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.files import parse_json
from harness.core.votes import CHOICES, Item, NonceConflict, Vote, VoteStore, annotator_name, fold, winner
from harness.judges.calibration import GoldItem
from harness.tasks import answered_tasks

MAX_BODY = 16 * 1024
"""The largest request body accepted (a vote with a long reason is well under 4 KiB)."""
MAX_REASON = 2000
NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
"""A vote's or undo's nonce (the page makes them with ``secrets.token_urlsafe``)."""
POSITION = re.compile(r"[0-9]{1,9}")
"""An item's position as written in a URL or a form (nine digits: far more items than anyone votes on)."""
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
    annotators: tuple[str, ...] = ()
    """The named annotators (folded, :func:`harness.core.votes.annotator_name`): only their links
    work. Empty: open sign-up, ``/`` asks for a nickname and every nickname's link works."""
    tasks_dirs: tuple[Path, ...] = ()
    """Where to find task files besides the built-in ones (runs without ``questions.jsonl``)."""

    @property
    def open_signup(self) -> bool:
        return not self.annotators


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
        with self.lock:
            return self._add(annotator)

    def sign_up(self, nickname: str) -> str | None:
        """:meth:`join` for a folded nickname nobody has yet; None when it is taken (else anyone
        typing a name would get that person's votes)."""
        with self.lock:  # the check and the join at once: two people typing one name get one link
            if any(fold(n) == nickname for n in self.store.annotators()):
                return None
            return self._add(nickname)

    def _add(self, annotator: str) -> str:
        token = secrets.token_urlsafe(24)
        self.store.add_token(token, annotator)
        self.store.assign(annotator, human_items.assignment(
            self.pairs, random.Random(secrets.randbits(64)), order=self.options.order,
            per_annotator=self.options.per_annotator, gold=self.options.gold))
        return token

    def may_vote(self, annotator: str) -> bool:
        """Whether ``annotator``'s links work in this session (a name left out of ``--annotators``
        is revoked; their votes stay)."""
        return self.options.open_signup or annotator in self.options.annotators

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
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)

    def session_of(request: Request) -> str:
        return request.cookies.get(COOKIE) or secrets.token_urlsafe(24)

    def respond(html: str, request: Request, session: str, status: int = 200) -> HTMLResponse:
        response = HTMLResponse(html, status_code=status)
        if request.cookies.get(COOKIE) != session:
            response.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/")
        return response

    def render(name: str, session: str, **context: Any) -> str:
        return env.get_template(name).render(csrf=study.csrf(session), **context)

    def page(name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        session = session_of(request)
        return respond(render(name, session, **context), request, session, status)

    def forbidden(request: Request) -> Response:
        lang = language_of("", request.query_params.get("lang"))
        return page("forbidden.html", request, 403, t=STRINGS[lang], lang=lang)

    def annotator(request: Request) -> str | None:
        with study.lock:  # one connection, shared with the worker threads that render and vote
            who = study.store.who(str(request.path_params["token"]))
        return who[0] if who and who[1] == "annotator" and study.may_vote(who[0]) else None

    async def form(request: Request) -> dict[str, str] | Response:
        """The POST's fields once its size, origin and CSRF token check out; else the refusal."""
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
        if not session or not hmac.compare_digest(fields.get("csrf", "").encode(),
                                                  study.csrf(session).encode()):
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

    def conflict(request: Request, url: str, **stored: object) -> Response:
        """A nonce used before for another request: nothing was stored; say what is (to its owner)."""
        message = "this request was already used for another vote; reload the page"
        if wants_json(request):
            return JSONResponse({"ok": False, "error": message, **stored, "next": url}, 409)
        return PlainTextResponse(message, 409)

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
        lang = language_of("", fields.get("lang"))
        try:
            name = annotator_name(fields.get("nickname", ""))
        except ValueError:
            return page("nickname.html", request, 400, t=STRINGS[lang], lang=lang,
                        error="1-40 letters, digits, '.', '_' or '-'")
        token = await run_in_threadpool(study.sign_up, name)
        if token is None:
            return page("nickname.html", request, 400, t=STRINGS[lang], lang=lang,
                        error=STRINGS[lang]["taken"])
        return RedirectResponse(f"/a/{token}", 303)

    async def start(request: Request) -> Response:
        name = annotator(request)
        if name is None:
            return forbidden(request)
        with study.lock:
            pos = study.store.resume(name)
        asked = request.query_params.get("lang")
        lang_q = f"?lang={asked}" if asked in STRINGS else ""
        return RedirectResponse(f"/a/{request.path_params['token']}/{pos}{lang_q}", 303)

    def item_page(name: str, token: str, pos: int, asked: str | None, session: str) -> str:
        """The HTML of an item (or of the end): Markdown and all, so it runs in a worker thread."""
        with study.lock:
            items = study.store.items(name)
            current = study.store.current(name)
        total, answered = len(items), len(current)
        if pos >= total:
            lang = language_of(study.texts(items[-1])[0] if items else "", asked)
            t = STRINGS[lang]
            return render("done.html", session, t=t, lang=lang, token=token, total=total,
                          progress=t["progress"].format(answered=answered, total=total),
                          body=t["done_body"].format(answered=answered, total=total), back=max(total - 1, 0))
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
        return render("item.html", session, t=t, lang=lang, other="en" if lang == "zh" else "zh", token=token,
                      pos=pos, total=total, progress=t["progress"].format(answered=answered, total=total),
                      question=markdown(question, lang), context=md(context),
                      reference=md(reference) if study.options.reference else None,
                      first=markdown(first, lang), second=markdown(second, lang), guide=guide,
                      guide_points=GUIDE[lang], first_trace=md(first_trace), second_trace=md(second_trace),
                      nonce=secrets.token_urlsafe(16), undo_nonce=secrets.token_urlsafe(16),
                      voted=vote.choice if vote else "", asked=asked if asked in STRINGS else "")

    async def item(request: Request) -> Response:
        name = annotator(request)
        if name is None:
            return forbidden(request)
        raw = str(request.path_params["pos"])
        if not POSITION.fullmatch(raw):
            return PlainTextResponse("no such item", 404)
        session = session_of(request)
        html = await run_in_threadpool(item_page, name, str(request.path_params["token"]), int(raw),
                                       request.query_params.get("lang"), session)
        return respond(html, request, session)

    def cast(name: str, pos: int, choice: str, nonce: str, reason: str,
             seconds: float | None) -> tuple[int, int, Vote | NonceConflict | str]:
        """Store a vote: (answered, total, the stored vote or the refusal's reason)."""
        with study.lock:
            total = len(study.store.items(name))
            if not 0 <= pos < total:
                return 0, total, "no such item"
            if seconds is None and (name, pos) in study.shown_at:
                seconds = time.monotonic() - study.shown_at[(name, pos)]
            if seconds is not None:
                seconds = round(min(max(seconds, 0.0), 86400.0), 3)
            try:
                stored: Vote | NonceConflict = study.store.vote(name, pos, choice, nonce=nonce, reason=reason,
                                                                seconds=seconds)
            except NonceConflict as exc:
                stored = exc
            return len(study.store.current(name)), total, stored

    async def vote(request: Request) -> Response:
        checked = await annotator_form(request)
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
            cast, name, pos, choice, nonce, fields.get("reason", "")[:MAX_REASON], seconds)
        if isinstance(stored, str):
            return PlainTextResponse(stored, 400)
        if isinstance(stored, NonceConflict):
            old = stored.vote
            if old is None or old.annotator != name:  # someone else's: tell nothing about it
                return conflict(request, f"/a/{token}/{pos}")
            return conflict(request, f"/a/{token}/{old.position}", position=old.position, choice=old.choice)
        return moved(request, fields, f"/a/{token}/{stored.position + 1}", position=stored.position,
                     choice=stored.choice, answered=answered, total=total)

    def take_back(name: str, nonce: str) -> tuple[int | None, int, int] | None:
        """Undo: (the position taken back, answered, total); None: the nonce is someone else's."""
        with study.lock:
            try:
                pos = study.store.undo(name, nonce=nonce)
            except NonceConflict:
                return None
            return pos, len(study.store.current(name)), len(study.store.items(name))

    async def undo(request: Request) -> Response:
        checked = await annotator_form(request)
        if isinstance(checked, Response):
            return checked
        name, fields = checked
        token = str(request.path_params["token"])
        nonce = fields.get("nonce", "")
        if not NONCE.fullmatch(nonce):
            return PlainTextResponse("bad request", 400)
        done = await run_in_threadpool(take_back, name, nonce)
        if done is None:
            return conflict(request, f"/a/{token}")
        pos, answered, total = done
        back = f"/a/{token}/{pos if pos is not None else 0}"
        return moved(request, fields, back, position=pos, answered=answered, total=total)

    def owner_page(session: str) -> str:
        from harness.app.human_results import results
        # Its own read-only connection: the tables can take a while, and votes must not wait.
        store = VoteStore(study.store.path, readonly=True)
        try:
            tables, error = results(study.run_dir, store, study.gold), ""
        except HarnessError as exc:  # a bad run file: the page says which, in one line
            tables, error = [], str(exc)
        finally:
            store.close()
        return render("owner.html", session, t=STRINGS["en"], lang="en", tables=tables, error=error)

    async def owner(request: Request) -> Response:
        with study.lock:
            who = study.store.who(str(request.path_params["token"]))
        if who is None or who[1] != "owner":
            return forbidden(request)
        session = session_of(request)
        return respond(await run_in_threadpool(owner_page, session), request, session)

    async def static(request: Request) -> Response:
        name = str(request.path_params["name"])
        if name not in STATIC:
            return PlainTextResponse("not found", 404)
        return Response((TEMPLATES / name).read_bytes(), media_type=STATIC[name])

    app = Starlette(routes=[
        Route("/", index), Route("/join", join, methods=["POST"]),
        Route("/static/{name}", static), Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/a/{token}", start),
        Route("/a/{token}/vote", vote, methods=["POST"]), Route("/a/{token}/undo", undo, methods=["POST"]),
        Route("/a/{token}/{pos}", item),  # the position is checked by the handler: no int() of 5,000 digits
        Route("/owner/{token}", owner),
    ])
    app.state.study = study
    return _secure(app, frozenset(h.lower() for h in hosts))


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
