"""The REPL's bottom toolbar: the current session and how many changes it has.

prompt_toolkit asks for the text on every redraw, so `text()` only reads a cached string.
The change count may cost a scan, so a daemon thread computes it off the typing path, at most
every REFRESH_SECONDS, and asks prompt_toolkit to redraw when it has a new value.

The count comes from an optional core function `change_count(settings, name) -> int | None`
(looked up in herodev_shell.core.changes, then herodev_shell.core.sessions). No such function exists
yet: counting changes means a scan snapshot, which a toolbar must not make every few
seconds. Until then the toolbar shows the cheap answer sessions.get_session gives (one
ioctl: has the snapshot changed since it was made?), or the session alone when unknown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from herodev_shell.cli.context import AppContext

REFRESH_SECONDS = 5.0
_COUNT_MODULES = ("herodev_shell.core.changes", "herodev_shell.core.sessions")


def find_change_counter() -> Callable[[Any, str], int | None] | None:
    import importlib

    for module_name in _COUNT_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        counter = getattr(module, "change_count", None)
        if callable(counter):
            found: Callable[[Any, str], int | None] = counter
            return found
    return None


def describe_changes(settings: Any, name: str, counter: Callable[[Any, str], int | None] | None) -> str | None:
    """'3 changes', 'changed since created', 'unchanged since created', or None when unknown."""
    if counter is not None:
        count = counter(settings, name)
        if count is not None:
            return f"{count} change{'s' if count != 1 else ''}"
    from herodev_shell.core import sessions

    changed = sessions.get_session(settings, name).changed
    if changed is None:
        return None
    return "changed since created" if changed else "unchanged since created"


class Toolbar:
    def __init__(self, ctx: AppContext, redraw: Callable[[], None] = lambda: None) -> None:
        self.ctx = ctx
        self.redraw = redraw
        self._counts: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._counter: Callable[[Any, str], int | None] | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="herodev-toolbar", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def poke(self) -> None:
        """A command just ran (maybe `use`, maybe a commit): refresh soon."""
        self._wake.set()

    def text(self) -> str:
        name = self.ctx.current_session
        if not name:
            return " no session chosen: 'use NAME' or 'menu' "
        with self._lock:
            cached = self._counts.get(name)
        detail = cached[1] if cached else None
        return f" session {name} | {detail} " if detail else f" session {name} "

    def _run(self) -> None:
        self._counter = find_change_counter()
        while not self._stopped:
            name = self.ctx.current_session
            if name:
                self._refresh(name)
            self._wake.wait(REFRESH_SECONDS)
            self._wake.clear()

    def _refresh(self, name: str) -> None:
        with self._lock:
            cached = self._counts.get(name)
        if cached and time.monotonic() - cached[0] < REFRESH_SECONDS / 2:
            return
        try:
            count = describe_changes(self.ctx.settings, name, self._counter)
        except Exception:  # a toolbar must never break the shell; the command says what is wrong
            count = None
        with self._lock:
            changed = self._counts.get(name, (0.0, None))[1] != count
            self._counts[name] = (time.monotonic(), count)
        if changed:
            self.redraw()
