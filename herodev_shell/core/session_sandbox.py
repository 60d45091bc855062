"""Which sandbox reads or writes a session: its user, its id mapping, the trees it may see.

Every read of a session's content (repository discovery, status, diff, push's inspection) and
every write into it (commit, reorganize, the post-push ref update) goes through a Spec built
here and system/sandbox.py; nothing in core opens a session repository as root.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from herodev_shell.core import layout
from herodev_shell.core import limits as session_limits
from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError
from herodev_shell.system import sandbox

T = TypeVar("T")
WRITE_FACTOR = 6
ACCESS_CHOWN = "chown"  # sessions.ACCESS_CHOWN: the snapshot already belongs to the user


def _in_child(work: Callable[[], object]) -> object:
    from herodev_shell.system import gitlib

    gitlib.forget_home()
    return sandbox.encode(work())


def _meta(settings: Settings, name: str) -> dict[str, Any]:
    try:
        meta = json.loads(layout.session_paths(settings, name).meta.read_text())
    except (OSError, ValueError):
        meta = {}
    return meta if isinstance(meta, dict) else {}


def identity(settings: Settings, name: str, meta: dict[str, Any] | None = None) -> sandbox.Identity:
    """The session user, and the code owner its idmapped view swaps with (as `enter` does)."""
    from herodev_shell.system import users

    paths = layout.session_paths(settings, name)
    user = users.lookup(paths.user)
    if user is None or user.uid == 0 or user.gid == 0:
        raise HerodevError(
            f"session {name} has no user {paths.user}: its content is only ever read as that user",
            hint=f"'herodev delete -f {name}' removes what is left of it",
        )
    meta = _meta(settings, name) if meta is None else meta
    if meta.get("access") == ACCESS_CHOWN:
        return sandbox.Identity(user.name, user.uid, user.gid)
    owner_uid, owner_gid = meta.get("code_owner_uid"), meta.get("code_owner_gid")
    return sandbox.Identity(
        user.name,
        user.uid,
        user.gid,
        owner_uid if isinstance(owner_uid, int) else 0,
        owner_gid if isinstance(owner_gid, int) else 0,
    )


def spec(settings: Settings, name: str, trees: Sequence[Path], writable: bool = False) -> sandbox.Spec:
    """trees[0] is the session's (the scan snapshot, or the live one when writable); the base
    may follow. The code root is covered, so no other session and no trusted tree is in view."""
    kept = tuple(t for i, t in enumerate(trees) if i == 0 or (t is not None and t.is_dir()))
    inside = all(settings.code_root in t.parents for t in kept)
    # a commit hashes every changed file: writes get more time than one repository's read
    limits = sandbox.Limits(timeout=settings.read_deadline * (WRITE_FACTOR if writable else 1))
    meta = _meta(settings, name)
    who = identity(settings, name, meta)
    # the session's cgroup, made with its recorded limits if missing, as for enter and exec
    procs = session_limits.session_procs_files(settings, name, meta or None)
    return sandbox.Spec(who, kept, settings.code_root if inside else None, writable, limits, procs)


def read(settings: Settings, name: str, trees: Sequence[Path | None], work: Callable[[], object], kind: Any) -> Any:
    """work() run as the session user over a read-only view of trees; its answer checked as kind."""
    from herodev_shell.system import gitlib

    gitlib.load()  # import pygit2 once, before the fork
    answer = sandbox.run(spec(settings, name, [t for t in trees if t is not None]), lambda: _in_child(work))
    return sandbox.decode(kind, answer)


def write(settings: Settings, name: str, work: Callable[[], object], kind: Any) -> Any:
    """work() run as the session user over a writable, nosymfollow view of the live session."""
    from herodev_shell.system import gitlib

    gitlib.load()
    live = layout.session_paths(settings, name).snapshot
    answer = sandbox.run(spec(settings, name, [live], writable=True), lambda: _in_child(work))
    return sandbox.decode(kind, answer)


def read_each(
    settings: Settings,
    name: str,
    trees: Sequence[Path | None],
    work: Callable[[Any], object],
    items: Sequence[Any],
    kind: Any,
    progress: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """work(item) for each item, each under the read deadline: its checked answer, or a
    sandbox.Failure for an item that failed or hung (the others still get theirs)."""
    from herodev_shell.system import gitlib

    if not items:
        return []
    gitlib.load()
    found: list[Any] = []
    box = spec(settings, name, [t for t in trees if t is not None])
    for answer in sandbox.run_each(box, lambda item: _in_child(lambda: work(item)), items):
        if isinstance(answer, sandbox.Failure):
            found.append(answer)
        else:
            try:
                found.append(sandbox.decode(kind, answer))
            except sandbox.BadAnswer as exc:
                found.append(sandbox.Failure(exc.message))
        if progress:
            progress(len(found), len(items))
    return found
