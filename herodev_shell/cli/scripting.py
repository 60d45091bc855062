"""Splitting command text (-c, stdin scripts, a REPL line) into single commands, and joining words back.

';' and newlines separate commands unless quoted; '#' starts a comment at a word start.
cmd2 would otherwise treat ';' as a terminator and drop everything after it.
"""

from __future__ import annotations

import re

from herodev_shell.errors import EXIT_USAGE, HerodevError


def split_commands(text: str) -> list[str]:
    return [command for _, command in split_numbered(text)]


def split_numbered(text: str) -> list[tuple[int, str]]:
    """The commands with the line each starts on (1-based), so a script's errors can say where."""
    commands: list[tuple[int, str]] = []
    current: list[str] = []
    quote: str | None = None
    escaped = False
    in_comment = False
    line, start = 1, 1
    for index, char in enumerate(text):
        if not "".join(current).strip():
            start = line
        if char == "\n":
            line += 1
        if in_comment:
            if char == "\n":
                in_comment = False
                _flush(current, commands, start)
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
            _flush(current, commands, start)
        elif char == "#" and (index == 0 or text[index - 1].isspace() or text[index - 1] == ";"):
            in_comment = True
        else:
            current.append(char)
    _flush(current, commands, start)
    return commands


def _flush(current: list[str], commands: list[tuple[int, str]], start: int) -> None:
    command = "".join(current).strip()
    if command:
        commands.append((start, command))
    current.clear()


_SAFE_WORD = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


def join_for_shell_line(argv: list[str]) -> str:
    """argv -> one line that cmd2's tokenizer and our ';' splitter give back word for word.

    cmd2 does not undo shlex.join's '"'"' trick, so each word is wrapped whole in single
    quotes, or in double quotes when it holds a single quote (then it must hold no '"' or '\\').
    """
    words = []
    for word in argv:
        if _SAFE_WORD.fullmatch(word):  # fullmatch: "$" would pass a trailing newline unquoted
            words.append(word)
        elif "'" not in word:
            words.append(f"'{word}'")
        elif '"' not in word and "\\" not in word:
            words.append(f'"{word}"')
        else:
            raise HerodevError(
                f"cannot pass {word!r} through the command line: it mixes both kinds of quotes",
                hint="put the command in a script and run that, or use -c with your own quoting",
                exit_code=EXIT_USAGE,
            )
    return " ".join(words)
