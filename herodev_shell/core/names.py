"""Session names: what is allowed, checked before anything is created. Pure logic."""

from __future__ import annotations

import re

from herodev_shell.core.settings import Settings
from herodev_shell.errors import UsageError

_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")

# Words that read as commands, system accounts or herodev's own files: never session names.
RESERVED = frozenset(
    {
        "all",
        "admin",
        "base",
        "bin",
        "current",
        "daemon",
        "default",
        "help",
        "herodev",
        "list",
        "lock",
        "mail",
        "new",
        "nobody",
        "none",
        "root",
        "scan",
        "sessions",
        "sudo",
        "sys",
        "sync",
        "user",
        "www-data",
    }
)


def allowed_text(max_length: int) -> str:
    return (
        f"a session name is 1-{max_length} characters of a-z, 0-9, '_' or '-', starting with a letter "
        "(not a reserved word like 'root' or 'list')"
    )


def shape_problem(name: str, max_length: int) -> str | None:
    """Why name cannot even name a session (characters, length), or None. Reserved words pass:
    a session made before a word was reserved must stay reachable."""
    if not name:
        return "an empty session name"
    if len(name) > max_length:
        return f"session name {name!r} is longer than {max_length} characters"
    if not _NAME_RE.fullmatch(name):  # fullmatch: "$" would let a trailing newline through
        return f"invalid session name {name!r}"
    return None


def name_problem(name: str, max_length: int) -> str | None:
    """Why name cannot be a session name, or None when it can."""
    problem = shape_problem(name, max_length)
    if problem is not None:
        return problem
    if name in RESERVED:
        return f"session name {name!r} is a reserved word"
    return None


def validate_name(settings: Settings, name: str) -> str:
    """name, or a UsageError (exit 2) saying what is allowed."""
    problem = name_problem(name, settings.max_name_length)
    if problem:
        raise UsageError(problem, hint=allowed_text(settings.max_name_length))
    return name
