"""Run root's writes into a session where no symbolic link can be followed.

A session can swap a directory for a symlink at any moment, so checking for links before a
write leaves a race. Instead the work runs in a forked child with a private mount namespace in
which the session's tree is mounted `nosymfollow` (MOUNT_ATTR_NOSYMFOLLOW, Linux 5.14): the
kernel then refuses to follow any symlink inside it, whoever placed it and whenever.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast

from herodev_shell.errors import HerodevError
from herodev_shell.system import idmap

T = TypeVar("T")
MOUNT_ATTR_NOSYMFOLLOW = 0x00200000


def _isolate(tree: Path) -> None:
    idmap.unshare(idmap.CLONE_NEWNS)
    idmap.mount(None, "/", None, idmap.MS_REC | idmap.MS_PRIVATE)
    fd = idmap.open_tree(tree, idmap.OPEN_TREE_CLONE | idmap.OPEN_TREE_CLOEXEC)
    try:
        idmap.mount_setattr(fd, MOUNT_ATTR_NOSYMFOLLOW)
        idmap.move_mount(fd, tree)
    finally:
        os.close(fd)


def without_symlinks(tree: Path, work: Callable[[], T], timeout: float | None = None) -> T:
    """work() with `tree` mounted nosymfollow; its result, or its error as a HerodevError, comes
    back to us. Where the kernel cannot do it (before 5.14) this fails: work() never runs without
    the protection."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        try:
            try:
                _isolate(tree)
            except OSError as exc:
                outcome: tuple[str, object] = ("unsupported", str(exc))
            else:
                try:
                    outcome = ("ok", work())
                except HerodevError as exc:
                    outcome = ("error", (exc.message, exc.hint))
                except OSError as exc:
                    outcome = (
                        "error",
                        (f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), None),
                    )
                except Exception as exc:
                    outcome = ("error", (f"{type(exc).__name__}: {exc}", None))
            data = pickle.dumps(outcome)
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
        finally:
            os._exit(0)
    os.close(write_fd)
    try:
        chunks = _read_all(read_fd, pid, timeout)
    finally:
        os.waitpid(pid, 0)  # reaped on every path: a child killed at the deadline too
    if not chunks:
        raise HerodevError("the isolated writer died without an answer")
    kind, value = pickle.loads(b"".join(chunks))
    if kind == "ok":
        return cast(T, value)
    if kind == "error":
        message, hint = value
        raise HerodevError(message, hint=hint)
    # Never run the work unprotected: a session could aim root's reads or writes through a link.
    raise HerodevError(
        f"cannot mount the session nosymfollow: {value}",
        hint="herodev needs Linux 5.14 or later with mount_setattr (check shows it)",
    )


def _read_all(read_fd: int, pid: int, timeout: float | None) -> list[bytes]:
    """Everything the child writes; past the deadline the child is killed: a session can make
    a read block forever (a FIFO where git expects a file), and that must end as an error."""
    import select
    import signal
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    chunks: list[bytes] = []
    try:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([read_fd], [], [], wait)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                raise HerodevError(
                    f"reading the session took longer than {timeout:.0f}s and was stopped",
                    hint="a repository there may hold a FIFO or device where git expects a file",
                )
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                return chunks
            chunks.append(chunk)
    finally:
        os.close(read_fd)
