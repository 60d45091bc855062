"""herodev's one error format, `error: ...` and `hint: ...` lines, made visible; and where a
script stands, so that its errors name the line. Kept import-light: parsers.py uses it."""

from __future__ import annotations

from typing import IO

from herodev_shell.cli.sanitize import visible

# Where a script stands ("line 3"), so that its errors say which command failed; "" otherwise.
_location = ""


def set_location(text: str) -> None:
    global _location
    _location = text


def write_error(stream: IO[str], message: str, hint: str | None = None) -> None:
    """herodev's one error format: `error: ...` and an optional `hint: ...`, each one line."""
    where = f"{_location}: " if _location else ""
    stream.write(f"error: {where}{visible(message)}\n")
    if hint:
        stream.write(f"hint: {visible(hint)}\n")
    stream.flush()
