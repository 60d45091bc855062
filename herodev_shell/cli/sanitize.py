"""The one place text is made safe for a terminal: control characters shown, never sent.

Sessions are hostile (DESIGN.md, trust model): a repository path, remote URL, branch name,
commit message or git error can carry escape sequences (recolour, retitle, move the cursor,
answer back), a carriage return or newline (forge a row or an `error:` line), bidi overrides
(show text in another order than it is), or bytes that are not UTF-8. Every line herodev
writes for people goes through `visible()` in render.py; JSON needs nothing more because
json.dumps escapes control characters itself.

Kept free of imports so parsers.py and main.py can use it on their fast paths.
"""

from __future__ import annotations

# C0 controls, DEL and C1 controls (0x9b is a one-byte CSI on some terminals): \xNN.
_TABLE: dict[int, str] = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]}
# The usual short forms where they read better.
_TABLE.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x1B: "\\e"})
# Bidi embeddings, overrides and isolates, and the Unicode line/paragraph separators.
for _code in (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)):
    _TABLE[_code] = f"\\u{_code:04x}"
# Bytes that were not UTF-8 arrive as lone surrogates (surrogateescape): show the byte.
for _code in range(0xDC80, 0xDD00):
    _TABLE[_code] = f"\\x{_code - 0xDC00:02x}"
# A diff line keeps its tabs (they are the file's own indentation and harmless).
_TABLE_KEEP_TABS = {**_TABLE}
del _TABLE_KEEP_TABS[0x09]


def visible(text: object, keep_tabs: bool = False) -> str:
    """text with every control character replaced by a visible escape (`\\e`, `\\n`, `\\x9b`...)."""
    text = text if isinstance(text, str) else str(text)
    return text.translate(_TABLE_KEEP_TABS if keep_tabs else _TABLE)


def is_clean(text: str, keep_tabs: bool = False) -> bool:
    """True when visible() would leave text as it is (the common case: skip the copy)."""
    table = _TABLE_KEEP_TABS if keep_tabs else _TABLE
    return not any(ord(char) in table for char in text)
