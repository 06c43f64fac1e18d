"""Floor 2, models: everything that calls a model.

Holds the backends (one file per spec scheme in ``backends/``), per-endpoint limits and retries
(``endpoints``), the parameters each endpoint and model takes, learned from its refusals
(``adapt``), a reply's reasoning apart from its answer (``reasoning``), the budget and prices
(``budget``), the call cache (``cache``) and the one cached-call layer every caller goes through
(``calls``: look up, call, commit), usage and cost (``usage``) and the generation stage
(``generate``).

Imports only ``harness.core``; not stats or tasks (its siblings), nor anything above.
"""
