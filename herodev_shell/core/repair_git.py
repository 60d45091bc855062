"""Git leftovers of a commit or push cut short: root-owned files in a repository that belongs to
someone else (the session user's git then fails with "insufficient permission"), and the
temporary refs/herodev/* refs a push fetches into the code root's repository.

Walks every repository's git dir, so only `repair` runs it, not `check`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.core.layout import session_names, session_paths
from herodev_shell.core.settings import Settings
from herodev_shell.system.runner import Runner

ROOT_OWNED = "root-owned files in a repository"
TEMP_REFS = "leftover push refs"


@dataclass(frozen=True)
class GitLeftover:
    kind: str
    session: str | None
    git_dir: Path
    detail: str


def _trees(settings: Settings) -> list[tuple[str | None, Path]]:
    trees: list[tuple[str | None, Path]] = [(None, settings.code_root)]
    for name in session_names(settings):
        snapshot = session_paths(settings, name).snapshot
        if snapshot.is_dir():
            trees.append((name, snapshot))
    return trees


def find(settings: Settings) -> list[GitLeftover]:
    from herodev_shell.core.repos import find_repository_paths
    from herodev_shell.system import gitlib, ownership

    found = []
    for session, root in _trees(settings):
        for relative in find_repository_paths(root):
            try:
                git_dir = gitlib.git_dir_of(root if relative == "." else root / relative, root)
                owner = os.lstat(git_dir).st_uid
            except (OSError, gitlib.UnsafePath):
                continue
            if owner != 0:
                stray = ownership.root_owned(git_dir)
                if stray:
                    detail = f"{len(stray)} file(s) owned by root in {relative} (e.g. {stray[0]})"
                    found.append(GitLeftover(ROOT_OWNED, session, git_dir, detail))
            if session is None:
                refs = ownership.herodev_refs(git_dir)
                if refs:
                    found.append(GitLeftover(TEMP_REFS, None, git_dir, ", ".join(refs)))
    return found


def fix(leftover: GitLeftover, runner: Runner) -> str:
    from herodev_shell.system import git, ownership

    if leftover.kind == ROOT_OWNED:
        info = os.lstat(leftover.git_dir)
        if runner.dry_run:
            return "would hand them back"
        count = ownership.give_root_owned_to(leftover.git_dir, info.st_uid, info.st_gid)
        return f"gave {count} file(s) back to uid {info.st_uid}"
    # refs in the code root's (trusted) repository: git may run there as root
    refs = leftover.detail.split(", ")
    for ref in refs:
        git.delete_ref(leftover.git_dir.parent if leftover.git_dir.name == ".git" else leftover.git_dir, ref, runner)
    return f"deleted {len(refs)} ref(s)"
