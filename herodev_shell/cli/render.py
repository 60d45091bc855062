"""Turning results into tables for people or JSON for programs; the colour policy.

Nothing else in herodev writes to stdout. Rich is imported only when a table is drawn.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any

from herodev_shell.errors import HerodevError

STATUS_STYLES = {
    "pass": "green",
    "ok": "green",
    "done": "green",
    "warn": "yellow",
    "planned": "cyan",
    "skipped": "yellow",
    "fail": "bold red",
    "failed": "bold red",
    "unchanged": "dim",
}


def wants_color(stream: IO[str], no_color_flag: bool, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only for a terminal, and never with --no-color, NO_COLOR or TERM=dumb."""
    environ = os.environ if environ is None else environ
    if no_color_flag or "NO_COLOR" in environ or environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def to_plain(value: Any) -> Any:
    """Dataclasses, paths and tuples -> JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


class Renderer:
    """Where and how output goes. `stdout` is a callable because cmd2 swaps it for redirection."""

    def __init__(
        self,
        stdout: Callable[[], IO[str]] = lambda: sys.stdout,
        stderr: IO[str] | None = None,
        color: bool = False,
        json_mode: bool = False,
        verbose: bool = False,
    ) -> None:
        self._stdout = stdout
        self._stderr = stderr
        self.color = color
        self.json_mode = json_mode
        self.verbose = verbose

    @property
    def stderr(self) -> IO[str]:
        return self._stderr or sys.stderr

    def _console(self, file: IO[str]) -> Any:
        from rich.console import Console

        return Console(
            file=file,
            force_terminal=self.color,
            no_color=not self.color,
            color_system="auto" if self.color else None,
            highlight=False,
            emoji=False,
            soft_wrap=False,
            width=None if self.color else max(80, _columns()),
        )

    # --- data ---------------------------------------------------------------------------
    def json(self, data: Any) -> None:
        out = self._stdout()
        out.write(json.dumps(to_plain(data), indent=2, default=str) + "\n")
        out.flush()

    def table(
        self,
        rows: Iterable[Mapping[str, Any]],
        columns: Sequence[tuple[str, str]],
        title: str | None = None,
        empty: str = "nothing to show",
        status_key: str | None = None,
    ) -> None:
        """rows of dicts; columns as (key, header). status_key colours that column by value."""
        rows = list(rows)
        if not rows:
            self.message(empty)
            return
        from rich import box
        from rich.table import Table

        console = self._console(self._stdout())
        table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
        whole = _whole_columns(rows, columns, console.width)
        for index, (_, header) in enumerate(columns):
            # rich narrows only wrapping columns: no_wrap keeps the short values whole.
            table.add_column(header, overflow="fold", no_wrap=index in whole, min_width=len(header))
        for row in rows:
            cells = []
            for key, _ in columns:
                value = row.get(key)
                text = "" if value is None else str(value)
                if key == status_key and self.color:
                    style = STATUS_STYLES.get(text, "")
                    text = f"[{style}]{text}[/]" if style else text
                else:
                    text = _escape_markup(text)
                cells.append(text)
            table.add_row(*cells)
        console.print(table)

    def records(
        self, data: Any, rows: Iterable[Mapping[str, Any]], columns: Sequence[tuple[str, str]], **kw: Any
    ) -> None:
        """JSON of data under --json, else a table of rows."""
        if self.json_mode:
            self.json(data)
        else:
            self.table(rows, columns, **kw)

    # --- text ---------------------------------------------------------------------------
    def message(self, text: str) -> None:
        """A line for people on stdout; suppressed under --json so stdout stays one document."""
        if self.json_mode:
            self.note(text)
            return
        out = self._stdout()
        out.write(text + "\n")
        out.flush()

    def note(self, text: str) -> None:
        """A side remark on stderr (progress, what was skipped)."""
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def styled(self, text: str, style: str) -> None:
        if self.json_mode:
            return
        if not self.color:
            self.message(text)
            return
        self._console(self._stdout()).print(f"[{style}]{_escape_markup(text)}[/]")

    def error(self, error: HerodevError) -> None:
        self.stderr.write(f"error: {error.message}\n")
        if error.hint:
            self.stderr.write(f"hint: {error.hint}\n")
        self.stderr.flush()


def _whole_columns(rows: list[Mapping[str, Any]], columns: Sequence[tuple[str, str]], width: int) -> set[int]:
    """The columns whose values stay whole (times, states, counts): the narrowest first, while
    the width lasts. The others keep their headers whole and fold long values."""
    wanted = [max([len(header), *(len(str(row.get(key) or "")) for row in rows)]) for key, header in columns]
    # Each gap between columns is a divider and a pad on either side: 3 characters.
    budget = width - 3 * (len(columns) - 1) - sum(len(header) for _, header in columns) - 8
    whole: set[int] = set()
    for index in sorted(range(len(columns) - 1), key=lambda i: wanted[i]):  # the last column folds
        extra = wanted[index] - len(columns[index][1])
        if wanted[index] > 24 or extra > budget:
            break
        whole.add(index)
        budget -= extra
    return whole


def _escape_markup(text: str) -> str:
    return text.replace("[", "\\[")


def _columns() -> int:
    try:
        return int(os.environ.get("COLUMNS", "80"))
    except ValueError:
        return 80
