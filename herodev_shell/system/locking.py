"""A lock file that serialises every herodev process changing the same code root."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from herodev_shell.errors import Busy


@contextlib.contextmanager
def exclusive_lock(path: Path, wait_seconds: float = 120.0) -> Iterator[None]:
    """Hold an flock on path; wait up to wait_seconds for another herodev, then fail clearly.

    flock dies with its process, so a kill -9 never leaves a lock that blocks the next run.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    locked = False
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    raise Busy(
                        f"another herodev (pid {holder}) is changing {path.parent}",
                        hint="wait for it to finish and try again",
                    ) from None
                time.sleep(0.05)
        locked = True
        _note(fd, f"{os.getpid()}\n")
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
