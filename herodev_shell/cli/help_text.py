"""`help` without arguments: commands grouped by category, one line each, plain text.

Summaries come from parsers.COMMANDS (the same words as `herodev --help`), so the shell,
the one-shot help and the completion scripts describe a command identically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from herodev_shell.cli import parsers

CATEGORY_ORDER = (parsers.SYSTEM, parsers.SESSIONS_CATEGORY, parsers.REPOSITORIES, parsers.CHANGES, parsers.OPERATIONS)
SHELL_CATEGORY = "Shell"
SHELL_SUMMARIES = {
    "help": "list the commands, or one command's options (help COMMAND)",
    "history": "show, search or rerun earlier command lines",
    "quit": "leave the shell (Ctrl-D does the same)",
    "exit": "leave the shell (same as quit)",
    "clear": "clear the screen (Ctrl-L does the same)",
    "alias": "name a command line: alias create NAME COMMAND [ARGS]",
}


def summary(command: str, fallback: str = "") -> str:
    spec = parsers.COMMANDS.get(command)
    if spec is not None:
        return spec.summary
    return SHELL_SUMMARIES.get(command, fallback)


def _aliases() -> dict[str, str]:
    return {alias: name for name, spec in parsers.COMMANDS.items() for alias in spec.aliases}


def help_listing(by_category: Mapping[str, Sequence[str]], width: int = 80) -> str:
    """by_category: cmd2's visible commands per category; unknown categories go under Shell."""
    aliases = _aliases()
    # The four main categories first, then any other herodev category in definition order.
    known = list(dict.fromkeys([*CATEGORY_ORDER, *(spec.category for spec in parsers.COMMANDS.values())]))
    groups: dict[str, list[str]] = {}
    for category, commands in by_category.items():
        target = category if category in known else SHELL_CATEGORY
        groups.setdefault(target, []).extend(c for c in commands if c not in aliases)
    visible = {c for commands in by_category.values() for c in commands}
    order = [c for c in (*known, SHELL_CATEGORY) if groups.get(c)]
    names = [c for category in order for c in groups[category]]
    labels = {name: ", ".join([name, *(a for a, n in aliases.items() if n == name and a in visible)]) for name in names}
    column = min(max((len(label) for label in labels.values()), default=0), 24)
    lines: list[str] = []
    for category in order:
        lines.append(category)
        for name in _ordered(groups[category]):
            label = labels[name]
            text = summary(name)
            gap = "\n" + " " * (column + 4) if len(label) > column else " " * (column - len(label) + 2)
            lines.append(_fit(f"  {label}{gap}{text}", width, column + 4))
        lines.append("")
    lines.append("Type 'help COMMAND' or 'COMMAND -h' for a command's options.")
    return "\n".join(lines)


def _ordered(commands: Sequence[str]) -> list[str]:
    """Definition order from parsers.COMMANDS (create before delete), shell commands after."""
    known = list(parsers.COMMANDS)
    return sorted(dict.fromkeys(commands), key=lambda c: (known.index(c) if c in known else len(known), c))


def _fit(line: str, width: int, indent: int) -> str:
    """Wrap a long summary under itself rather than cut it."""
    if len(line) <= width:
        return line
    import textwrap

    return "\n".join(textwrap.wrap(line, width, subsequent_indent=" " * indent, break_on_hyphens=False))
