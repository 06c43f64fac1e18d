"""Notes on standard error, each said once per process.

A fallback or an adaptation (a judge without log-probabilities, an endpoint that refuses a
parameter) is worth one line, not one per request, per prompt group or per stage. Notes come from
worker threads too (an endpoint's refusal arrives in whichever request met it first), so the
check-and-print is under a lock.
"""

from __future__ import annotations

import sys
import threading

_SAID: set[str] = set()
_LOCK = threading.Lock()


def say_once(note: str) -> bool:
    """Print ``note: <note>`` on standard error unless this process said it already; whether it
    was printed now."""
    with _LOCK:
        if note in _SAID:
            return False
        _SAID.add(note)
    print(f"note: {note}", file=sys.stderr)
    return True
