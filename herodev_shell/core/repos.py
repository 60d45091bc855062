"""Repository discovery under a tree, and reorganize: move repositories to <server>/<org>/<repo>.

Discovery walks directories with scandir (no stat of files, no link followed), records every
directory holding a `.git`, goes on into its subdirectories (a nested repository that is not a
submodule still counts), and skips `.git` itself, submodule paths and the sessions dir.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.core.remote_url import parse_remote
from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError, NotFound

SESSIONS_DIR_NAME = ".sessions"
_SUBMODULE_PATH_RE = re.compile(r"^\s*path\s*=\s*(.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Repo:
    path: str  # relative to the tree's root
    remote: str | None
    remote_name: str | None
    branch: str | None  # None: detached HEAD
    upstream: str | None
    head: str | None


def _submodule_paths(directory: str) -> set[str]:
    from herodev_shell.system.gitlib import read_regular

    try:  # a FIFO named .gitmodules must not block discovery: regular files only
        text = read_regular(os.path.join(directory, ".gitmodules"), 1 << 20).decode(errors="replace")
    except (OSError, HerodevError):
        return set()
    return {match.strip("/") for match in _SUBMODULE_PATH_RE.findall(text)}


def find_repository_paths(root: Path, skip_top: tuple[str, ...] = (SESSIONS_DIR_NAME,)) -> list[str]:
    """Relative paths of every git repository under root (root itself as '.'), sorted."""
    found: list[str] = []
    stack: list[tuple[str, str, set[str]]] = [(os.fspath(root), "", set())]
    while stack:
        directory, relative, skip = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue  # unreadable or vanished meanwhile: nothing to report there
        names = {entry.name for entry in entries}
        if ".git" in names:
            found.append(relative or ".")
            skip = skip | {os.path.join(relative, p) for p in _submodule_paths(directory)}
        for entry in entries:
            if entry.name == ".git" or (not relative and entry.name in skip_top):
                continue
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue
            child = f"{relative}/{entry.name}" if relative else entry.name
            if child in skip:
                continue
            stack.append((entry.path, child, skip))
    return sorted(found)


def read_repo(root: Path, relative: str) -> Repo:
    from herodev_shell.system import gitlib

    workdir = root if relative == "." else gitlib.safe_join(root, relative)
    info = gitlib.head_info(gitlib.open_repo(workdir, root))
    return Repo(relative, info.remote_url, info.remote_name, info.branch, info.upstream, info.head)


def discover(root: Path, progress: Callable[[int, int], None] | None = None) -> list[Repo]:
    paths = find_repository_paths(root)
    repos = []
    for index, relative in enumerate(paths):
        try:
            repos.append(read_repo(root, relative))
        except HerodevError:  # unreadable or unsafe (a gitfile pointing elsewhere): listed, not read
            repos.append(Repo(relative, None, None, None, None, None))
        if progress:
            progress(index + 1, len(paths))
    return repos


def tree_root(settings: Settings, session: str | None) -> Path:
    """The code root, or a session's snapshot (which must exist)."""
    if session is None:
        return settings.code_root
    from herodev_shell.core.layout import session_paths

    paths = session_paths(settings, session)
    if not paths.meta.exists() and not paths.snapshot.exists():
        raise NotFound(f"no session named {session!r}", hint="'herodev list' shows the sessions")
    if not paths.snapshot.is_dir():
        raise NotFound(f"session {session!r} has no snapshot at {paths.snapshot}")
    return paths.snapshot


# --- reorganize -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    path: str
    target: str | None
    status: str  # planned | moved | skipped | failed
    reason: str = ""


def plan_reorganize(root: Path, repos: list[Repo]) -> list[Move]:
    """What reorganize would do: one Move per repository not already where its remote says."""
    plan: list[Move] = []
    claimed: set[str] = set()
    moving: list[str] = []
    repo_paths = {r.path for r in repos}
    for repo in sorted(repos, key=lambda r: r.path):
        if repo.path == ".":
            continue
        if not repo.remote:
            plan.append(Move(repo.path, None, "skipped", "no remote"))
            continue
        location = parse_remote(repo.remote)
        if location is None:
            plan.append(Move(repo.path, None, "skipped", f"local remote {repo.remote}"))
            continue
        target = location.relative_path
        if target == repo.path:
            continue
        reason = ""
        outer = next((m for m in moving if repo.path.startswith(m + "/")), None)
        container = next((p for p in repo_paths if p != "." and target.startswith(p + "/")), None)
        if target.split("/")[0] == SESSIONS_DIR_NAME:
            reason = f"{target} would be inside the sessions dir"
        elif outer:
            reason = f"inside {outer}, which moves"
        elif target.startswith(repo.path + "/") or repo.path.startswith(target + "/"):
            reason = f"{target} and {repo.path} contain each other"
        elif target in claimed:
            reason = f"another repository moves to {target}"
        elif os.path.lexists(root / target):
            reason = f"{target} already exists"
        elif container:
            reason = f"{target} would be inside repository {container}"
        if reason:
            plan.append(Move(repo.path, target, "skipped", reason))
            continue
        claimed.add(target)
        moving.append(repo.path)
        plan.append(Move(repo.path, target, "planned"))
    return plan


def reorganize(settings: Settings, session: str | None, plan_only: bool) -> list[Move]:
    """Plan (and unless plan_only, make) the moves in the code root or a session. A session's
    tree is planned and moved by the sandbox child, as the session user, nosymfollow: a link
    the session plants can neither aim a mkdir or rename outside its tree nor race one."""
    root = tree_root(settings, session)
    if session is None:
        if plan_only:
            return plan_reorganize(root, discover(root))
        return apply_reorganize(root, plan_reorganize(root, discover(root)))
    from herodev_shell.core import session_sandbox
    from herodev_shell.system.sandbox import plain_relative

    def plan() -> list[Move]:
        return plan_reorganize(root, discover(root))

    def move() -> list[Move]:
        return apply_reorganize(root, plan_reorganize(root, discover(root)))

    if plan_only:
        moves = session_sandbox.read(settings, session, [root], plan, list[Move])
    else:
        moves = session_sandbox.write(settings, session, move, list[Move])
    for m in moves:
        if not plain_relative(m.path) or (m.target is not None and not plain_relative(m.target)):
            raise HerodevError("the session's reorganize answered with a path outside its tree")
    return list(moves)


def apply_reorganize(root: Path, plan: list[Move]) -> list[Move]:
    """Rename each planned repository into place; never overwrite; remove emptied directories."""
    from herodev_shell.core.faults import maybe_fail
    from herodev_shell.system import fsops

    done: list[Move] = []
    for move in plan:
        if move.status != "planned" or move.target is None:
            done.append(move)
            continue
        source, target = root / move.path, root / move.target
        try:
            info = os.lstat(source)
            if not stat.S_ISDIR(info.st_mode):
                raise OSError(f"{move.path} is no longer a directory")
            created = fsops.make_parents(target, root, info.st_uid, info.st_gid)
            maybe_fail("reorganize:after-parents")
            try:
                fsops.rename_noreplace(source, target)
            except OSError:
                for directory in reversed(created):
                    os.rmdir(directory)
                raise
            maybe_fail("reorganize:after-move")
        except OSError as exc:
            reason = exc.strerror or str(exc)
            done.append(Move(move.path, move.target, "failed", reason))
            continue
        fsops.remove_empty_parents(source.parent, root)
        done.append(Move(move.path, move.target, "moved"))
    return done
