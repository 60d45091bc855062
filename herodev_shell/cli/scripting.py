"""Splitting command text (-c, stdin scripts, a REPL line) into single commands.

';' and newlines separate commands unless quoted; '#' starts a comment at a word start.
cmd2 would otherwise treat ';' as a terminator and drop everything after it.
"""

from __future__ import annotations


def split_commands(text: str) -> list[str]:
    commands: list[str] = []
    current: list[str] = []
    quote: str | None = None
    escaped = False
    in_comment = False
    for index, char in enumerate(text):
        if in_comment:
            if char == "\n":
                in_comment = False
                _flush(current, commands)
            continue
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quote != "'":
            current.append(char)
            escaped = True
        elif quote:
            current.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            current.append(char)
            quote = char
        elif char in ";\n":
            _flush(current, commands)
        elif char == "#" and (index == 0 or text[index - 1].isspace() or text[index - 1] == ";"):
            in_comment = True
        else:
            current.append(char)
    _flush(current, commands)
    return commands


def _flush(current: list[str], commands: list[str]) -> None:
    line = "".join(current).strip()
    if line:
        commands.append(line)
    current.clear()
