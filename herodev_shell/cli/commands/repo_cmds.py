"""Repository commands: repos, reorganize."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from herodev_shell.cli.context import AppContext
from herodev_shell.core import changes, repos
from herodev_shell.errors import HerodevError, NeedsRoot
from herodev_shell.system import privileges

REPO_COLUMNS = [
    ("path", "path"),
    ("branch", "branch"),
    ("upstream", "upstream"),
    ("state", "state"),
    ("remote", "remote"),
]
MOVE_COLUMNS = [("path", "from"), ("target", "to"), ("status", "status"), ("reason", "reason")]
# A full scan shorter than this shows no progress bar.
PROGRESS_AFTER = 0.5


def tree_session(ctx: AppContext, explicit: str | None, command: str) -> str | None:
    """-s NAME, else the `use`d session, else None (the code root). Sessions need root."""
    name = explicit or ctx.current_session
    if name is not None:
        privileges.require_root(command, ctx.dry_run)
    return name


@contextmanager
def progress_bar(ctx: AppContext, label: str, json_flag: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback drawing a bar on stderr, only on a terminal and only once the work
    has taken more than a moment; None where no bar may be drawn."""
    if not sys.stdout.isatty() or not sys.stderr.isatty() or json_flag or not ctx.renderer.color:
        yield None
        return
    started = time.monotonic()
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            if time.monotonic() - started < PROGRESS_AFTER:
                return
            from rich.console import Console
            from rich.progress import Progress

            bar = Progress(console=Console(stderr=True), transient=True)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(label, total=total)
        state["bar"].update(state["task"], completed=done, total=total)
        if done >= total:  # stop here: the scan may run in a child process whose exit skips `finally`
            state.pop("bar").stop()

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].stop()


def branch_text(change: changes.RepoChange) -> str:
    """No branch reads "(detached)" only when the repository could be read; else it is unknown."""
    if change.branch:
        return change.branch
    return "?" if change.error else "(detached)"


def repo_row(change: changes.RepoChange) -> dict[str, Any]:
    row = changes_dict(change)
    row["state"] = change.summary() or "clean"
    row["branch"] = branch_text(change)
    return row


def changes_dict(change: changes.RepoChange) -> dict[str, Any]:
    from herodev_shell.cli.render import to_plain

    data: dict[str, Any] = to_plain(change)
    data["has_changes"] = change.has_changes
    return data


def run_repos(ctx: AppContext, args: argparse.Namespace) -> int:
    """Git repositories under the code root (or in a session): path, remote, branch, upstream."""
    session = tree_session(ctx, args.session, "repos")
    out = ctx.out(args.json)
    with progress_bar(ctx, "reading repositories", args.json) as progress:
        found = changes.list_repositories(ctx.settings, ctx.runner, session, progress)
    out.records([changes_dict(c) for c in found], [repo_row(c) for c in found], REPO_COLUMNS, empty="no repositories")
    return 0


def run_reorganize(ctx: AppContext, args: argparse.Namespace) -> int:
    """Move repositories to <code root>/<server>/<org>/<repo> from their remote URL; never overwrite."""
    session = tree_session(ctx, args.session, "reorganize")
    root = repos.tree_root(ctx.settings, session)
    plan_only = ctx.dry_run
    if not plan_only and not privileges.is_root() and not os.access(root, os.W_OK):
        raise NeedsRoot("reorganize")
    if plan_only or not ctx.settings.sessions_dir.is_dir():
        result = repos.reorganize(ctx.settings, session, plan_only)
    else:
        from herodev_shell.core.locks import session_lock

        with session_lock(ctx.settings, session, "reorganize", ctx.runner.say):
            result = repos.reorganize(ctx.settings, session, plan_only)
    out = ctx.out(args.json)
    out.records(result, [m.__dict__ for m in result], MOVE_COLUMNS, status_key="status", empty="nothing to move")
    if plan_only and any(m.status == "planned" for m in result):
        out.note("dry run: nothing was moved")
    failed = [m.path for m in result if m.status == "failed"]
    if failed:
        raise HerodevError(
            f"{len(failed)} repositor{'y' if len(failed) == 1 else 'ies'} not moved: {', '.join(failed)}"
        )
    return 0
