"""Table layout for a terminal, and TSV for a pipe: pure functions of cells and a width.

Column kinds are inferred from the key so that new commands need not say (a third element
of a column tuple overrides): paths and URLs keep their end and are shortened in the middle
(`github.com/…/flask`), and last; free text is cut at its end with `…`; counts align right
and a column of zeros is dropped on a terminal; headers are never cut.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

GAP = "  "
ELLIPSIS = "…"

# Column kinds, inferred from the key so that new commands need not say (a third tuple
# element overrides): paths keep their end, URLs too; free text is cut at its end.
PATH, URL, TEXT, NUMBER, OTHER = "path", "url", "text", "number", "other"
_PATH_KEYS = frozenset({"path", "target", "from", "to", "repository", "repo", "snapshot", "code_root", "file"})
_URL_KEYS = frozenset({"remote", "url", "upstream"})
_TEXT_KEYS = frozenset({"detail", "error", "reason", "other", "message", "why", "value", "summary", "note"})
# Below this many cells a path or a URL is not shortened further before the others give way.
_PATH_SOFT_MIN = 24
_URL_SOFT_MIN = 16
_TEXT_SOFT_MIN = 12
# Short values (times, states, names) stay whole up to this width.
_OTHER_WHOLE = 20


@dataclasses.dataclass
class Column:
    key: str
    header: str
    kind: str

    @classmethod
    def of(cls, column: Sequence[str], rows: list[Mapping[str, Any]]) -> Column:
        key, header = column[0], column[1]
        if len(column) > 2:
            return cls(key, header, column[2])
        if key in _PATH_KEYS:
            kind = PATH
        elif key in _URL_KEYS:
            kind = URL
        elif key in _TEXT_KEYS:
            kind = TEXT
        elif rows and all(isinstance(row.get(key), int) and not isinstance(row.get(key), bool) for row in rows):
            kind = NUMBER
        else:
            kind = OTHER
        return cls(key, header, kind)


def tsv(specs: list[Column], cells: list[list[str]]) -> list[str]:
    """Header line, then one tab-separated line per record; cells are already visible(), so
    a tab or newline inside a value cannot split a record."""
    lines = ["\t".join(spec.header for spec in specs)]
    lines += ["\t".join(row) for row in cells]
    return lines


HEADER, RULE = -1, -2
# Free text at the end of a row that does not fit goes under its row, indented.
_INDENT = "    "
_BELOW_LINES = 3


def layout(
    specs: list[Column], cells: list[list[str]], width: int, paint: Callable[[int, str], str] | None = None
) -> list[str]:
    """Aligned columns within width; see the module docstring for who gives way first."""
    # A column with nothing in any row (or only zeros, for counts) says nothing: drop it.
    keep = [i for i, spec in enumerate(specs) if any(_says_something(row[i], spec.kind) for row in cells)]
    keep = keep or list(range(len(specs)))
    specs = [specs[i] for i in keep]
    cells = [[row[i] for i in keep] for row in cells]
    widths = _fit(specs, cells, width)
    below = None
    if len(specs) > 1 and specs[-1].kind == TEXT and widths[-1] < _natural(specs, cells, -1):
        # Free text that does not fit at the end of the row (git's reasons for a failed push)
        # goes whole on lines of its own under its row, rather than cut.
        below = [row[-1] for row in cells]
        specs, cells = specs[:-1], [row[:-1] for row in cells]
        widths = _fit(specs, cells, width)
    lines = [
        _line([(HEADER, spec.header, spec.kind == NUMBER) for spec in specs], widths, paint),
        _line([(RULE, "─" * w, False) for w in widths], widths, paint),
    ]
    for number, row in enumerate(cells):
        values = [(i, _shorten(row[i], widths[i], spec.kind), spec.kind == NUMBER) for i, spec in enumerate(specs)]
        lines.append(_line(values, widths, paint))
        if below and below[number]:
            lines.extend(_INDENT + part for part in _wrap(below[number], width - len(_INDENT), _BELOW_LINES))
    return lines


def _line(values: list[tuple[int, str, bool]], widths: list[int], paint: Callable[[int, str], str] | None) -> str:
    parts = []
    for (index, text, right), width in zip(values, widths, strict=True):
        space = " " * max(0, width - cell_width(text))
        shown = paint(index, text) if paint else text
        parts.append(space + shown if right else shown + space)
    return GAP.join(parts).rstrip(" ")


def _wrap(text: str, width: int, most: int) -> list[str]:
    """text in lines of width cells (at spaces where it can), at most `most`, the last cut with …."""
    import textwrap

    width = max(width, 8)
    lines = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]
    if len(lines) > most:
        lines = lines[:most]
        lines[-1] = _take(lines[-1], width - 1) + ELLIPSIS
    return [_take(line, width) for line in lines]


def _natural(specs: list[Column], cells: list[list[str]], index: int) -> int:
    return max([cell_width(specs[index].header), *(cell_width(row[index]) for row in cells)])


def _says_something(cell: str, kind: str) -> bool:
    return bool(cell) and not (kind == NUMBER and cell == "0")


def _fit(specs: list[Column], cells: list[list[str]], width: int) -> list[int]:
    """Column widths: what the values want, then narrowed until the row fits width, in
    passes: free text, then URLs, then other values, then paths, each first down to a soft
    minimum and, if that is not enough, down to its header (never less)."""
    natural = [max([cell_width(spec.header), *(cell_width(row[i]) for row in cells)]) for i, spec in enumerate(specs)]
    widths = list(natural)
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - width
    if excess <= 0:
        return widths
    header = [max(cell_width(spec.header), 2) for spec in specs]
    soft = {PATH: _PATH_SOFT_MIN, URL: _URL_SOFT_MIN, TEXT: _TEXT_SOFT_MIN, OTHER: _OTHER_WHOLE, NUMBER: 10**6}
    order = (TEXT, URL, OTHER, PATH)
    for floor in ("soft", "header"):
        for kind in order:
            group = [i for i, spec in enumerate(specs) if spec.kind == kind]
            limits = {i: max(header[i], min(natural[i], soft[kind]) if floor == "soft" else header[i]) for i in group}
            while excess > 0:
                wide = [i for i in group if widths[i] > limits[i]]
                if not wide:
                    break
                widest = max(wide, key=lambda i: widths[i])
                widths[widest] -= 1
                excess -= 1
            if excess <= 0:
                return widths
    return widths


def _shorten(text: str, width: int, kind: str) -> str:
    if cell_width(text) <= width:
        return text
    if kind in (PATH, URL):
        return shorten_middle(text, width)
    return _take(text, width - 1) + ELLIPSIS


def shorten_middle(path: str, width: int) -> str:
    """github.com/pallets/flask in 18 cells -> github.com/…/flask: the end (the repository's
    own name) stays whole; the cut falls after a '/' where there is one."""
    if cell_width(path) <= width:
        return path
    body = path.rstrip("/") or path
    sep = max(body.rfind("/"), body.rfind(":"))
    tail = path[sep:] if sep > 0 else ""  # with its separator: "/flask"
    if not tail or cell_width(tail) + 1 >= width:
        return ELLIPSIS + _take_end(path, width - 1)
    head = _take(path[:sep], width - cell_width(tail) - 1)
    slash = head.rfind("/")
    if slash > 0:
        head = head[: slash + 1]
    return head + ELLIPSIS + tail


def cell_width(text: str) -> int:
    """Terminal cells text takes: wide (CJK) characters two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(_char_width(char) for char in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _take(text: str, width: int) -> str:
    """The longest prefix of text that fits width cells."""
    if text.isascii():
        return text[: max(width, 0)]
    used, end = 0, 0
    for end, char in enumerate(text):
        used += _char_width(char)
        if used > width:
            return text[:end]
    return text


def _take_end(text: str, width: int) -> str:
    """The longest suffix of text that fits width cells."""
    if text.isascii():
        return text[len(text) - max(width, 0) :] if width > 0 else ""
    used = 0
    for start in range(len(text) - 1, -1, -1):
        used += _char_width(text[start])
        if used > width:
            return text[start + 1 :]
    return text
