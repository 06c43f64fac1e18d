"""Floor 2, models: everything that calls a model.

Holds the backends (one file per spec scheme in ``backends/``), per-endpoint limits and retries
(``endpoints``), the budget and prices (``budget``), the call cache (``cache``) and the one
cached-call layer every caller goes through (``calls``: look up, call, commit), usage and cost
(``usage``) and the generation stage (``generate``).

Imports only ``harness.core``; not stats or tasks (its siblings), nor anything above.
"""
