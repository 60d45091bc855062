"""Files root left in someone else's tree: found and handed back without following a link.

fd-relative (os.fwalk) so that a directory swapped for a symlink meanwhile (a session user
controls its tree) cannot redirect a chown outside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def _root_owned_entries(top: Path) -> Iterator[tuple[str, str, int]]:
    """(directory path, name, directory fd) of every uid-0 entry under top; links not followed."""
    for dirpath, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        for name in [*dirnames, *filenames]:
            try:
                info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except OSError:
                continue
            if info.st_uid == 0:
                yield dirpath, name, dirfd


def root_owned(top: Path, limit: int = 1000) -> list[str]:
    """Paths under top (relative) owned by uid 0, up to limit."""
    found: list[str] = []
    try:
        for dirpath, name, _dirfd in _root_owned_entries(top):
            found.append(os.path.relpath(os.path.join(dirpath, name), top))
            if len(found) >= limit:
                break
    except OSError:
        pass
    return found


def give_root_owned_to(top: Path, uid: int, gid: int) -> int:
    """chown every uid-0 entry under top (never a link's target) to uid:gid; how many."""
    changed = 0
    for _dirpath, name, dirfd in _root_owned_entries(top):
        os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
        changed += 1
    return changed


def herodev_refs(git_dir: Path) -> list[str]:
    """refs/herodev/* left in a repository by a push cut short (loose and packed)."""
    refs: list[str] = []
    loose = git_dir / "refs" / "herodev"
    if loose.is_dir() and not loose.is_symlink():
        for dirpath, _dirs, files, _fd in os.fwalk(loose, follow_symlinks=False):
            refs += ["refs/herodev/" + os.path.relpath(os.path.join(dirpath, f), loose) for f in files]
    try:
        packed = (git_dir / "packed-refs").read_text(errors="replace")
    except OSError:
        packed = ""
    for line in packed.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].startswith("refs/herodev/"):
            refs.append(fields[1])
    return sorted(set(refs))
