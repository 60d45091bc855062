"""`herodev __complete KIND [PREFIX]`: completion words for shell scripts, without cmd2 or pygit2.

Prints one candidate per line. Kinds: commands, sessions, repos, sizes, options COMMAND.
"""

from __future__ import annotations

import sys

from herodev_shell import parsers

SIZE_SUGGESTIONS = ["10G", "20G", "50G", "100G", "200G", "512M"]


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: herodev __complete KIND [PREFIX]\n")
        return 2
    kind, rest = argv[0], argv[1:]
    words: list[str] = []
    if kind == "commands":
        words = [*list(parsers.COMMANDS), "help", "quit", "history"]
    elif kind == "sizes":
        words = SIZE_SUGGESTIONS
    prefix = rest[-1] if rest else ""
    for word in words:
        if word.startswith(prefix):
            sys.stdout.write(word + "\n")
    return 0
