"""Which lock a step takes. A session's own work (a scan, a commit, a reorganize, a push) takes
only that session's locks, so one session's slow or hung repository never holds up another;
the global lock is for the short steps that change `.sessions` itself (create, delete, fork,
checkpoints)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from herodev_shell.core.settings import Settings
from herodev_shell.system.locking import exclusive_lock

Say = Callable[[str], None] | None


def session_lock_path(settings: Settings, session: str) -> Path:
    # a dot name: never mistaken for a session piece by list or repair
    return settings.sessions_dir / f".{settings.user_for(session)}.lock"


def scan_lock_path(settings: Settings, session: str) -> Path:
    return settings.sessions_dir / f".{settings.user_for(session)}.scan.lock"


@contextlib.contextmanager
def session_lock(settings: Settings, session: str | None, purpose: str, say: Say = None) -> Iterator[None]:
    """Writes into one session (commit, reorganize, the post-push ref); the code root's own
    work (session None) takes the global lock."""
    path = settings.lock_file if session is None else session_lock_path(settings, session)
    kwargs = {"on_wait": say} if say is not None else {}
    with exclusive_lock(path, purpose=f"{purpose} {session or 'code root'}", **kwargs):  # type: ignore[arg-type]
        yield


@contextlib.contextmanager
def global_lock(settings: Settings, purpose: str, say: Say = None) -> Iterator[None]:
    kwargs = {"on_wait": say} if say is not None else {}
    with exclusive_lock(settings.lock_file, purpose=purpose, **kwargs):  # type: ignore[arg-type]
        yield
