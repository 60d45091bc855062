"""Lock files that serialise herodev processes: one per session, one global for `.sessions`.

Each lock carries a note (pid, what for, since when) so that whoever waits can be told who
holds it and why, and `repair` can tell a lock whose holder died.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from herodev_shell.errors import Busy

SAY_AFTER = 1.0  # seconds of waiting before we say who holds the lock


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def holder(path: Path) -> str:
    """'pid N (purpose, since HH:MM:SS)' from a lock's note, or 'unknown'."""
    try:
        note = path.read_text(errors="replace").strip()
    except OSError:
        return "unknown"
    pid, _, rest = note.partition(" ")
    purpose, _, since = rest.partition("\t")
    if not pid.isdigit():
        return "unknown"
    text = f"pid {pid}"
    if purpose:
        text += f" ({purpose}" + (f", since {since}" if since else "") + ")"
    return text


@contextlib.contextmanager
def exclusive_lock(
    path: Path,
    wait_seconds: float = 120.0,
    purpose: str = "",
    on_wait: Callable[[str], None] | None = _stderr,
) -> Iterator[None]:
    """Hold an flock on path; wait up to wait_seconds for another herodev, then fail clearly.
    After a second of waiting, on_wait hears who holds it and for what.

    flock dies with its process, so a kill -9 never leaves a lock that blocks the next run.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    locked = False
    try:
        started = time.monotonic()
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= wait_seconds:
                    raise Busy(
                        f"another herodev ({holder(path)}) holds {path.name} in {path.parent}",
                        hint="wait for it to finish and try again",
                    ) from None
                if not said and waited >= SAY_AFTER and on_wait is not None:
                    on_wait(f"waiting for {path.name}: held by {holder(path)}")
                    said = True
                time.sleep(0.05)
        locked = True
        _note(fd, f"{os.getpid()} {purpose or 'herodev'}\t{time.strftime('%H:%M:%S')}\n")
        yield
    finally:
        if locked:
            # A pid note left behind means its process died holding the lock (repair reports it).
            _note(fd, "")
        os.close(fd)


def _note(fd: int, text: str) -> None:
    """Who holds the lock, for people and repair. Only a note: a full disk must not stop the work."""
    try:
        os.ftruncate(fd, 0)
        if text:
            os.pwrite(fd, text.encode(), 0)
    except OSError:
        pass
