"""Turning results into output: tables for people, TSV for pipes, JSON for programs.

The output policy, decided here once for every command (new commands get it for free):

- Data goes to stdout; everything else (progress, `using session X`, hints, "no changes")
  goes to stderr, so `| jq`, `| grep` and `| wc -l` see only data.
- On a terminal (decided per isatty of stdout, not by NO_COLOR), tables use the terminal's
  real width: path columns are shortened last and in the middle (`github.com/…/flask`,
  never the end), free text that does not fit a row's end goes whole under its row (other
  long values are cut with `…`), columns empty (or all zeros) in every row are dropped,
  headers are never cut, no line ends in spaces. See tables.py.
- Not on a terminal: a header line, then one line per record, tab-separated, nothing
  shortened, wrapped, padded or ruled, every column present (stable for cut and awk).
- Every string passes `visible()` (sanitize.py) on its way out: session content never
  reaches a terminal, a pipe or a pager with raw control characters.
- Long output on a terminal goes through the pager (see `paged`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

from herodev_shell.cli.messages import write_error
from herodev_shell.cli.sanitize import visible
from herodev_shell.cli.tables import HEADER, RULE, TEXT, Column, cell_width, layout, tsv
from herodev_shell.errors import HerodevError
from herodev_shell.system import privileges

# SGR codes by style name (no rich needed for a table: 50 ms of import saved).
_SGR = {
    "green": "32",
    "yellow": "33",
    "cyan": "36",
    "red": "31",
    "bold red": "1;31",
    "bold": "1",
    "dim": "2",
}
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
    return is_terminal(stream)


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def terminal_size(stream: Any) -> tuple[int, int]:
    """(columns, lines) of the terminal behind stream: the real size first (COLUMNS is often
    stale or not exported), then COLUMNS/LINES, then 80x24."""
    with contextlib.suppress(AttributeError, ValueError, OSError, io.UnsupportedOperation):
        size = os.get_terminal_size(stream.fileno())
        if size.columns > 0:
            return size.columns, size.lines
    return _env_int("COLUMNS", 80), _env_int("LINES", 24)


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


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


def short_time(iso: str) -> str:
    """2026-11-27T04:56:28Z -> 2026-11-27 04:56:28: the one time format of every table (UTC);
    JSON keeps the ISO form."""
    if len(iso) >= 19 and iso[10:11] == "T":
        return iso[:19].replace("T", " ")
    return iso


class Renderer:
    """Where and how output goes. `stdout` is a callable because cmd2 swaps it for redirection.

    tty and width default to what stdout is; tests pin them to draw a terminal's table.
    """

    def __init__(
        self,
        stdout: Callable[[], IO[str]] = lambda: sys.stdout,
        stderr: IO[str] | None = None,
        color: bool = False,
        json_mode: bool = False,
        verbose: bool = False,
        tty: bool | None = None,
        width: int | None = None,
        pager: Callable[[str], bool] | None = None,
        in_shell: bool = False,
    ) -> None:
        self._stdout = stdout
        self._stderr = stderr
        self.color = color
        self.json_mode = json_mode
        self.verbose = verbose
        self.tty = tty
        self.width = width
        # Sends text through the pager and returns True, or returns False (then we print it).
        self.pager = pager
        self._buffer: io.StringIO | None = None
        # Inside the shell, hints name the shell's command ('delete -f x'), not 'herodev delete -f x'.
        self.in_shell = in_shell

    @property
    def stderr(self) -> IO[str]:
        return self._stderr or sys.stderr

    def _out(self) -> IO[str]:
        return self._buffer if self._buffer is not None else self._stdout()

    def is_tty(self) -> bool:
        return self.tty if self.tty is not None else is_terminal(self._stdout())

    def columns(self) -> int:
        return self.width or terminal_size(self._stdout())[0]

    def with_json(self) -> Renderer:
        """The same destination in JSON mode (a command's own --json)."""
        return Renderer(
            self._out, self._stderr, self.color, True, self.verbose, self.is_tty(), self.width, in_shell=self.in_shell
        )

    # --- data ---------------------------------------------------------------------------
    def json(self, data: Any) -> None:
        out = self._out()
        # ensure_ascii: control characters, C1 and bidi controls become \uXXXX escapes.
        out.write(json.dumps(to_plain(data), indent=2, default=str) + "\n")
        out.flush()

    def table(
        self,
        rows: Iterable[Mapping[str, Any]],
        columns: Sequence[tuple[str, str] | tuple[str, str, str]],
        title: str | None = None,
        empty: str = "nothing to show",
        status_key: str | None = None,
    ) -> None:
        """rows of dicts; columns as (key, header[, kind]). status_key colours that column."""
        rows = list(rows)
        if not rows:
            self.note(empty)
            return
        specs = [Column.of(column, rows) for column in columns]
        cells = [[visible(self._phrase(_cell(row.get(s.key)), s.kind)) for s in specs] for row in rows]
        if not self.is_tty():
            lines = tsv(specs, cells)
        else:
            lines = layout(specs, cells, self.columns(), self._painter(specs, status_key))
        out = self._out()
        if title and self.is_tty():
            out.write(visible(title) + "\n")
        out.write("".join(line + "\n" for line in lines))
        out.flush()

    def records(
        self,
        data: Any,
        rows: Iterable[Mapping[str, Any]],
        columns: Sequence[tuple[str, str] | tuple[str, str, str]],
        **kw: Any,
    ) -> None:
        """JSON of data under --json, else a table of rows."""
        if self.json_mode:
            self.json(data)
        else:
            self.table(rows, columns, **kw)

    def _painter(self, specs: list[Column], status_key: str | None) -> Callable[[int, str], str] | None:
        """Styles a cell's text (padding stays outside the codes): bold headers, a dim rule,
        status words in their colour."""
        if not self.color:
            return None

        def paint(index: int, value: str) -> str:
            if index == HEADER:
                return _sgr("bold", value)
            if index == RULE:
                return _sgr("dim", value)
            if specs[index].key == status_key and value in STATUS_STYLES:
                return _sgr(STATUS_STYLES[value], value)
            return value

        return paint

    # --- text ---------------------------------------------------------------------------
    def message(self, text: str, style: str | None = None, keep_tabs: bool = False) -> None:
        """A line of data for people on stdout; under --json it goes to stderr so stdout stays
        one document. Made visible here: callers pass session text as it came."""
        if self.json_mode:
            self.note(text)
            return
        line = visible(self.phrase(text), keep_tabs=keep_tabs)
        if style and self.color:
            line = _sgr(style, line)
        out = self._out()
        out.write(line + "\n")
        out.flush()

    def note(self, text: str) -> None:
        """Anything that is not the command's data (progress, hints, "no changes") on stderr."""
        self.stderr.write(visible(self.phrase(text)) + "\n")
        self.stderr.flush()

    def styled(self, text: str, style: str) -> None:
        if not self.json_mode:
            self.message(text, style=style)

    def error(self, error: HerodevError) -> None:
        write_error(self.stderr, self.phrase(error.message), self.phrase(error.hint) if error.hint else None)

    def phrase(self, text: str) -> str:
        """Hints for where the user is: inside the shell, 'herodev X' is just 'X'."""
        return shell_phrasing(text) if self.in_shell and "herodev " in text else text

    def _phrase(self, text: str, kind: str) -> str:
        return self.phrase(text) if kind == TEXT else text

    # --- pager --------------------------------------------------------------------------
    @contextlib.contextmanager
    def paged(self, enabled: bool = True) -> Iterator[None]:
        """Collect what the block prints; longer than the terminal, it goes through the pager.

        Only on a terminal and with a pager configured; output is held until the command
        ends (commands that hand the terminal to someone else are not paged at all).
        """
        if not enabled or self.pager is None or self._buffer is not None or not self.is_tty():
            yield
            return
        self._buffer = io.StringIO()
        try:
            yield
        finally:
            text, self._buffer = self._buffer.getvalue(), None
            self._show(text)

    def _show(self, text: str) -> None:
        if not text:
            return
        columns, lines = terminal_size(self._stdout())
        if _screen_rows(text, columns) < lines or self.pager is None or not self.pager(text):
            out = self._stdout()
            out.write(text)
            out.flush()


def shell_phrasing(text: str) -> str:
    """'herodev delete -f x' -> 'delete -f x'; 'sudo herodev init' too when we are root (the
    shell runs as root then); otherwise sudo means leaving this shell, so it stays."""
    from herodev_shell.cli.parsers import COMMANDS

    words = "|".join(sorted([*COMMANDS, "help", "quit"], key=len, reverse=True))
    pattern = re.compile(rf"(?P<sudo>sudo )?\bherodev (?=(?:{words})\b)")
    root = privileges.is_root()

    def swap(match: re.Match[str]) -> str:
        return "" if (root or not match.group("sudo")) else match.group(0)

    return pattern.sub(swap, text)


def _sgr(style: str, text: str) -> str:
    code = _SGR.get(style)
    return f"\x1b[{code}m{text}\x1b[0m" if code else text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, os.PathLike):
        return str(os.fspath(value))
    return str(value)


def _screen_rows(text: str, columns: int) -> int:
    """How many terminal rows text takes (long lines wrap)."""
    rows = 0
    for line in text.splitlines():
        rows += max(1, -(-cell_width(_strip_sgr(line)) // max(columns, 1)))
    return rows


def _strip_sgr(line: str) -> str:
    if "\x1b" not in line:
        return line
    return re.sub(r"\x1b\[[0-9;]*m", "", line)
