"""One writer per run directory: a lock file naming its holder, so two runs never pay twice.

Every command that writes into a run directory (``run``, ``generate``, ``judge``, ``bias``,
``report``, ``human import``, ``prompts test``) holds :func:`hold` for as long as it works. A second
one is refused at once with one line naming the holder (command, PID, host, start time).

The lock is an advisory ``flock`` on ``RUN_DIR/run.lock``: the kernel releases it when its holder
dies, however it dies, so a lock left by a killed process is noticed (the file is there, nobody
holds it) and taken over with a note. The file's text (who holds it) is for people and for the
refusal message; the ``flock`` is what decides.

Not handled: Windows (no ``fcntl``; the lock is skipped with a warning there), and file systems
whose ``flock`` is not shared between machines (some network mounts): two hosts writing one run
directory over such a mount are not stopped.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.rundir import LOCK

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_HELD: dict[str, int] = {}
"""Run directories this process holds, by real path, with how many ``hold`` blocks are open."""


def _holder(path: Path) -> dict[str, Any]:
    try:
        row = json.loads(path.read_text(encoding="utf-8") or "{}")
        return row if isinstance(row, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(row: dict[str, Any]) -> str:
    if not row:
        return "another harness process"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(row.get("started", 0))))
    return (f"`harness {row.get('command', '?')}` (pid {row.get('pid', '?')} on "
            f"{row.get('host', '?')}, since {since})")


@contextlib.contextmanager
def hold(run_dir: Path, *, command: str, create: bool = False) -> Iterator[None]:
    """Hold ``run_dir``'s lock while the body runs; refuse at once if another process holds it.

    ``create`` makes the directory first (``run``, ``generate``); otherwise a missing directory or
    one nobody may write to is left unlocked, since nothing can be written there anyway (the
    command then fails with its own error, or only reads).
    """
    if fcntl is None:  # pragma: no cover - Windows
        print("harness: warning: no file locking on this system; do not run two commands on "
              f"{run_dir} at once", file=sys.stderr)
        yield
        return
    if create:
        run_dir.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(run_dir)
    if _HELD.get(key):  # ``run`` holds it already and now judges: the same process, the same work
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    path = run_dir / LOCK
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise HarnessError(f"{run_dir}: in use by {_describe(_holder(path))}; wait for it to "
                               f"finish, or stop it (its lock is {path})") from None
        # The holder we waited on may have removed the file between our open and our lock; then we
        # hold a lock on a file nobody else will open, so start again on the current one.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        left = _holder(path)
        if left:
            print(f"harness: note: took over {path}, left by {_describe(left)}, which is no longer "
                  "running", file=sys.stderr)
        mine = {"command": command, "pid": os.getpid(), "host": socket.gethostname(),
                "started": time.time()}
        with contextlib.suppress(OSError):  # on a full disk the text is lost; the flock still holds
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(mine) + "\n").encode("utf-8"), 0)
        _HELD[key] = 1
        yield
    finally:
        _HELD.pop(key, None)
        # Remove the file before letting go, so that nobody finds a stale holder in it.
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
