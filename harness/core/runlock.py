"""One writer per run directory: a lock file naming its holder, so two runs never pay twice.

Every command that writes into a run directory (``run``, ``generate``, ``judge``, ``bias``,
``report``, ``human import``, ``prompts test``) holds :func:`hold` for as long as it works. A second
one is refused at once with one line naming the holder (command, PID, host, start time).

The lock is an advisory ``flock`` on ``RUN_DIR/run.lock``: the kernel releases it when its holder
dies, however it dies, so a lock left by a killed process is noticed (the file is there, nobody
holds it) and taken over with a note. The file's text (who holds it) is for people and for the
refusal message; the ``flock`` is what decides.

The lock file is opened without following a link (``O_NOFOLLOW``) and only used when it is a
regular file with one name: a ``run.lock`` that is a symbolic link, a hard link to another file, a
FIFO, a directory or a device is refused with one error naming it, and whatever it points to is
left untouched (the lock file is truncated and rewritten, so following a link would overwrite a file
outside the run). Its text is read from the opened file, bounded in size, and shown with control
characters escaped and each field cut short: any field of any type or value is shown, never trusted.

Not handled: Windows (no ``fcntl``; the lock is skipped with a warning there), and file systems
whose ``flock`` is not shared between machines (some network mounts): two hosts writing one run
directory over such a mount are not stopped.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import socket
import stat
import sys
import time
import unicodedata
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

_READ_LIMIT = 65536
"""Bytes of a lock file's text read: ours is one short JSON line; a longer file is not a holder's record."""

_SHOWN = 80
"""Characters of one lock field shown, after escaping."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO must not block the open; it is refused just after
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _holder(fd: int) -> dict[str, Any]:
    """The holder record in the lock file open as ``fd`` ({} when it is not one)."""
    try:
        text = os.pread(fd, _READ_LIMIT + 1, 0)
        if len(text) > _READ_LIMIT:
            return {}
        row = json.loads(text.decode("utf-8", "replace") or "{}")
        return row if isinstance(row, dict) else {}
    except (OSError, ValueError, RecursionError):  # RecursionError: nesting deeper than json parses
        return {}


def _escaped(text: str) -> str:
    """``text`` with control, format, surrogate and line-separator characters escaped as ``repr``
    escapes them, so that a field cannot move the cursor, start a line or colour the terminal.

    >>> _escaped("a\\nharness: error: x\\x1b[31m\\u202e")
    'a\\\\nharness: error: x\\\\x1b[31m\\\\u202e'
    """
    return "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") or c == "\\"
                   else c for c in text)


def _shown(value: Any) -> str:
    """One lock field as text: a string escaped, anything else (a number, null, a list) as JSON
    would write it, escaped too; cut at :data:`_SHOWN` characters.

    >>> _shown("run"), _shown(None), _shown(12), _shown("x" * 100)[-17:]
    ('run', 'null', '12', 'xx... (100 chars)')
    """
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > _SHOWN:
        return _escaped(text[:_SHOWN]) + f"... ({len(text)} chars)"
    return _escaped(text)


def _since(started: Any) -> str:
    """The holder's start time, or its value shown as it is when that is not a time."""
    if isinstance(started, (int, float)) and not isinstance(started, bool) and math.isfinite(started):
        try:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
        except (OverflowError, OSError, ValueError):
            pass
    return f"an unreadable start time ({_shown(started)})"


def _describe(row: dict[str, Any]) -> str:
    if not row:
        return "another harness process"
    return (f"`harness {_shown(row.get('command', '?'))}` (pid {_shown(row.get('pid', '?'))} on "
            f"{_shown(row.get('host', '?'))}, since {_since(row.get('started', 0))})")


def _refuse_odd_file(path: Path, fd: int) -> None:
    """Refuse a lock path that is not a regular file with one name (the open did not follow a
    symbolic link; this catches the rest): closes ``fd`` and raises."""
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
        return
    os.close(fd)
    what = ("a hard link shared with another file" if stat.S_ISREG(info.st_mode) else
            "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else
            "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "not a regular file")
    raise HarnessError(f"{path}: the run's lock file is {what}; harness writes it, so it refuses to "
                       "use it and leaves it as it is; remove it (no harness command is running on the "
                       "run if none holds it)")


def _open_lock(path: Path) -> int | None:
    """The lock file opened for reading and writing, made if missing, never through a link; None
    where the run directory cannot take one (missing, read-only, not ours)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _NONBLOCK | _CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno in (errno.EACCES, errno.EPERM) and path.is_symlink()):
            try:
                to = f" (to {_shown(os.readlink(path))})"
            except OSError:  # gone or changed since: the refusal stands
                to = ""
            raise HarnessError(f"{path}: the run's lock file is a symbolic link{to}; harness does not "
                               "follow it, and leaves it and what it points to as they are; remove the "
                               "link") from None
        if exc.errno == errno.EISDIR:
            raise HarnessError(f"{path}: the run's lock file is a directory; remove or rename it") from None
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP, errno.ENODEV):  # a FIFO or socket, say
            raise HarnessError(f"{path}: the run's lock file is not a regular file; remove it") from None
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        return None
    _refuse_odd_file(path, fd)
    return fd


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
        fd = _open_lock(path)
        if fd is None:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise HarnessError(f"{run_dir}: in use by {_describe(holder)}; wait for it to "
                               f"finish, or stop it (its lock is {path})") from None
        # The holder we waited on may have removed the file between our open and our lock; then we
        # hold a lock on a file nobody else will open, so start again on the current one. lstat: a
        # link put in its place is not the file we hold.
        try:
            same = os.fstat(fd).st_ino == os.lstat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        left = _holder(fd)
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
        # Remove the file before letting go, so that nobody finds a stale holder in it; only our
        # own file (not something put in its place while we ran).
        with contextlib.suppress(OSError):
            if os.lstat(path).st_ino == os.fstat(fd).st_ino:
                path.unlink()
        os.close(fd)
