"""The btrfs change stream (`btrfs receive --dump` of `btrfs send --no-data -p BASE CUR`) as paths.

The dump lists one operation a line: `OP  ./SNAP/PATH  key=value ...`, paths escaped C-style
(`\\ ` for a space, `\\t`, `\\NNN` octal for other bytes). New files and directories first appear
under orphan names (`o257-9-0`) and are renamed into place, and deleted trees may be renamed to
orphan names before their entries are unlinked; both are folded back to real paths here. The
cost of all this follows the number of changes, not the size of the tree.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

_TOKEN_RE = re.compile(r"(?:\\.|[^\s\\])+")
_ORPHAN_RE = re.compile(r"^o\d+-\d+-\d+$")
_SIMPLE_ESCAPES = {"a": 7, "b": 8, "e": 27, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
# Operations that do not change what git sees (timestamps) or describe the stream itself.
_IGNORED_OPS = {"snapshot", "subvol", "utimes", "end"}
# Operations whose dest= is a second path (for symlink, dest is the link's text).
_DEST_IS_PATH = {"rename", "link"}


def unescape(token: str) -> str:
    """Undo btrfs-progs' path escaping; bytes that are not UTF-8 come back as surrogates."""
    out = bytearray()
    raw = token.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte != 0x5C or i + 1 >= len(raw):  # not a backslash
            out.append(byte)
            i += 1
            continue
        nxt = chr(raw[i + 1])
        if nxt in "01234567":
            j = i + 1
            while j < len(raw) and j < i + 4 and chr(raw[j]) in "01234567":
                j += 1
            out.append(int(raw[i + 1 : j], 8) & 0xFF)
            i = j
        else:
            out.append(_SIMPLE_ESCAPES.get(nxt, ord(nxt)))
            i += 2
    return os.fsdecode(bytes(out))


def _relative(path: str) -> str | None:
    """'./SNAP/a/b' -> 'a/b'; the snapshot root itself -> None."""
    if path.startswith("./"):
        path = path[2:]
    _, _, rest = path.partition("/")
    rest = rest.strip("/")
    return rest or None


def _orphan_key(path: str) -> str | None:
    """The path up to and including its first orphan-named component, if it has one."""
    parts = path.split("/")
    for index, part in enumerate(parts):
        if _ORPHAN_RE.match(part):
            return "/".join(parts[: index + 1])
    return None


def changed_paths(dump: str) -> list[str]:
    """Every path (relative to the snapshot root) that was created, written, deleted, renamed,
    linked, chmod-ed or chown-ed, sorted. Timestamps alone do not count."""
    changed: set[str] = set()
    pending: dict[str, set[str]] = {}  # orphan prefix -> paths seen under it

    def record(path: str) -> None:
        key = _orphan_key(path)
        if key is None:
            changed.add(path)
        else:
            pending.setdefault(key, set()).add(path)

    for line in dump.splitlines():
        tokens = _TOKEN_RE.findall(line)
        if len(tokens) < 2 or tokens[0] in _IGNORED_OPS:
            continue
        op = tokens[0]
        path = _relative(unescape(tokens[1]))
        dest = None
        if op in _DEST_IS_PATH:
            for token in tokens[2:]:
                if token.startswith("dest="):
                    dest = _relative(unescape(token[len("dest=") :]))
        if path is None:
            continue
        if op == "rename" and dest is not None:
            key = _orphan_key(path)
            if key is None:
                changed.add(path)  # something real moved away: its old path changed too
            else:
                moved = {p for p in pending.get(key, set()) if p == path or p.startswith(path + "/")}
                pending[key] = pending.get(key, set()) - moved
                for old in moved:
                    record(dest + old[len(path) :])
            record(dest)
            continue
        record(path)
        if dest is not None:
            record(dest)
    # Whatever is still under an orphan name was deleted along with a tree whose real path
    # the stream already named when it renamed that tree away.
    return sorted(changed)


@dataclass(frozen=True)
class PathMap:
    repos: dict[str, list[str]]  # repository path -> changed paths inside it (git dir included)
    outside: list[str]  # changed paths in no repository


def map_to_repositories(root: Path, paths: list[str]) -> PathMap:
    """Group changed paths by the deepest repository holding them, looked up in `root`.

    A change inside `.git` marks that repository (commits, branches, stashes). Lookups use
    lstat only: a symbolic link never leads the search out of `root`.
    """
    is_repo: dict[str, bool] = {}
    is_dir: dict[str, bool] = {}

    def plain_dir(prefix: str) -> bool:
        if prefix not in is_dir:
            try:
                is_dir[prefix] = stat.S_ISDIR(os.lstat(root / prefix).st_mode)
            except OSError:
                is_dir[prefix] = False
        return is_dir[prefix]

    def has_git(prefix: str) -> bool:
        if prefix not in is_repo:
            is_repo[prefix] = os.path.lexists(root / prefix / ".git")
        return is_repo[prefix]

    repos: dict[str, list[str]] = {}
    outside: list[str] = []
    for path in paths:
        parts = path.split("/")
        if ".git" in parts:
            parts = parts[: parts.index(".git")]
            if not parts:
                outside.append(path)
                continue
        found = None
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if not plain_dir(prefix):
                break
            if has_git(prefix):
                found = prefix
        if found is None:
            outside.append(path)
        else:
            repos.setdefault(found, []).append(path)
    return PathMap(repos, outside)
