"""Floor 6, web (below the app, above reports): the voting app of ``harness human serve``, which
the command only starts.

A Starlette app (served by uvicorn) rendering Jinja2 pages with autoescaping and one small script
of its own (``templates/human.js``); it asks no other host for anything, so it works offline.
``study`` (the shared state: comparisons, vote store, settings), ``routes`` (one method per
route), ``forms`` (the checks every POST passes), ``app`` (the ASGI app, Host check, security
headers), ``server`` (start it), ``items`` (what each annotator is shown), ``text`` (the pages'
words and safe Markdown) and ``results`` (the owner's tables, the export's rows).

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
  other annotators; each text shown is cut at ``text.MAX_TEXT`` characters.
- Annotator pages and replies name no model: items are addressed by position, answers are shown
  as "Answer 1"/"Answer 2" in an order drawn per annotator and recorded.

Not handled: TLS (bind to loopback, or put a proxy in front), and rate limiting. May import every
floor below (reports, analysis, judges, stats, core...); only the app imports it.
"""
