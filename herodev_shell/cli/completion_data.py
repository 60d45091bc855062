"""Completion candidates as plain functions, and `herodev __complete KIND ...` for shell scripts.

The same functions feed the cmd2 shell (commands/base.py attaches them as choices providers)
and the bash/zsh/fish scripts (which run `herodev __complete KIND`). Kept cheap: no cmd2,
rich or pygit2 here, one directory read for sessions, a bounded walk for repositories.

    herodev __complete commands [PREFIX]
    herodev __complete sessions [--code-root P] [--config F] [--] [PREFIX]
    herodev __complete repos [-s NAME] [--code-root P] [--config F] [--] [PREFIX]
    herodev __complete sizes [PREFIX]
    herodev __complete remotes [--code-root P] [--config F] [--] [PREFIX]
    herodev __complete options COMMAND [PREFIX]

Prints one candidate per line; prints nothing (exit 0) when it cannot know, e.g. when the
sessions dir is not readable by a non-root user.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from herodev_shell.cli import parsers

if TYPE_CHECKING:
    from herodev_shell.core.settings import Settings

SIZE_SUGGESTIONS = ("10G", "20G", "50G", "100G", "200G", "500G", "1T")
# Commands the shell itself provides (cmd2 built-ins kept visible), offered after the others.
SHELL_COMMANDS = ("help", "quit")
# Repositories sit at <server>/<org>/<repo>; allow a little more for hand-made trees.
MAX_REPO_DEPTH = 5
# The REPL asks on every Tab: a short cache keeps it instant without going stale for long.
REPO_CACHE_SECONDS = 10.0


def command_names() -> list[str]:
    """Every command name and alias a user can type, in definition order."""
    names: list[str] = []
    for name, spec in parsers.COMMANDS.items():
        names.append(name)
        names.extend(spec.aliases)
    names.extend(n for n in SHELL_COMMANDS if n not in names)
    return names


def resolve_command(word: str) -> str | None:
    """An alias -> its command name; None when the word is no command."""
    for name, spec in parsers.COMMANDS.items():
        if word == name or word in spec.aliases:
            return name
    return None


def option_strings(command: str) -> list[str]:
    """The options of a command (long and short), as its parser defines them."""
    name = resolve_command(command)
    if name is None:
        return []
    parser = parsers.build(name)
    strings: list[str] = []
    for action in parser._actions:
        strings.extend(action.option_strings)
    return strings


def session_names(settings: Settings) -> list[str]:
    from herodev_shell.core.layout import session_names as names

    return names(settings)


def sizes() -> list[str]:
    """In size order (10G before 1T), which the scripts and the shell keep."""
    return list(SIZE_SUGGESTIONS)


_REMOTE_SECTION = re.compile(r'^\s*\[remote\s+"([^"\n]+)"\s*\]', re.MULTILINE)


def remote_names(settings: Settings, repos: list[str] | None = None) -> list[str]:
    """The remotes `push --remote` may name: those of the code root's repositories (the
    trusted side, never a session's config), of the named ones or else of all, sorted."""
    found: set[str] = set()
    for relative in repos or repo_paths(settings):
        config = settings.code_root / relative / ".git" / "config"
        try:
            with open(config, encoding="utf-8", errors="replace") as handle:
                text = handle.read(1 << 20)
        except OSError:
            continue
        found.update(_REMOTE_SECTION.findall(text))
    return sorted(found)


def repo_root(settings: Settings, session: str | None) -> Path:
    """Where a session's repositories are (its snapshot), or the code root without one."""
    if not session:
        return settings.code_root
    from herodev_shell.core.layout import session_paths

    return session_paths(settings, session).snapshot


_repo_cache: dict[Path, tuple[float, list[str]]] = {}
_repo_lock = threading.Lock()


def repo_paths(settings: Settings, session: str | None = None, max_age: float = REPO_CACHE_SECONDS) -> list[str]:
    """Repository paths relative to the code root (or the session's snapshot), sorted.

    One stat per directory to spot `.git` and one scandir per non-repository directory:
    about a millisecond per hundred repositories. Cached briefly per root.
    """
    root = repo_root(settings, session)
    now = time.monotonic()
    with _repo_lock:
        cached = _repo_cache.get(root)
        if cached and now - cached[0] < max_age:
            return cached[1]
    found = sorted(_walk_repos(root, skip=settings.sessions_dir))
    with _repo_lock:
        _repo_cache[root] = (now, found)
    return found


def _walk_repos(root: Path, skip: Path) -> list[str]:
    found: list[str] = []
    skip_text = os.fspath(skip)
    stack: list[tuple[str, str, int]] = [(os.fspath(root), "", 0)]
    while stack:
        directory, relative, depth = stack.pop()
        if relative and os.path.lexists(os.path.join(directory, ".git")):
            found.append(relative)
            continue  # nested repositories (submodules) belong to their parent
        if depth >= MAX_REPO_DEPTH:
            continue
        try:
            entries = os.scandir(directory)
        except OSError:
            continue
        with entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                    continue
                if entry.path == skip_text:
                    continue
                child = f"{relative}/{entry.name}" if relative else entry.name
                stack.append((entry.path, child, depth + 1))
    return found


# --- `herodev __complete` ----------------------------------------------------------------------


def _parse(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    rest: list[str] = []
    names = {"-s": "session", "--session": "session", "--code-root": "code_root", "--config": "config"}
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            rest.extend(argv[index + 1 :])
            break
        if word in names and index + 1 < len(argv):
            options[names[word]] = argv[index + 1]
            index += 2
            continue
        rest.append(word)
        index += 1
    return options, rest


def _settings(options: dict[str, str]) -> Settings | None:
    from herodev_shell.core.settings import load_settings
    from herodev_shell.errors import HerodevError

    try:
        return load_settings(flags={"code_root": options.get("code_root")}, config_file=options.get("config"))
    except HerodevError:
        return None


def candidates(kind: str, argv: list[str]) -> list[str]:
    options, rest = _parse(argv)
    if kind == "commands":
        return command_names()
    if kind == "sizes":
        return sizes()
    if kind == "remotes":
        settings = _settings(options)
        return remote_names(settings) if settings is not None else []
    if kind == "options":
        return option_strings(rest[0]) if rest else []
    if kind in ("sessions", "repos"):
        settings = _settings(options)
        if settings is None:
            return []
        if kind == "sessions":
            return session_names(settings)
        return repo_paths(settings, options.get("session") or None)
    return []


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: herodev __complete KIND [OPTIONS] [--] [PREFIX]\n")
        return 2
    kind = argv[0]
    _, rest = _parse(argv[1:])
    # `options COMMAND [PREFIX]`: the first word names the command, the prefix follows it.
    prefix_words = rest[1:] if kind == "options" else rest
    prefix = prefix_words[-1] if prefix_words else ""
    try:
        words = candidates(kind, argv[1:])
    except OSError:
        words = []
    out = sys.stdout
    for word in words:
        if word.startswith(prefix):
            out.write(word + "\n")
    out.flush()
    return 0
