"""Change commands: changes, diff, commit, push."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

from herodev_shell.cli.commands.repo_cmds import branch_text, changes_dict, progress_bar, tree_session
from herodev_shell.cli.context import AppContext
from herodev_shell.cli.render import Renderer
from herodev_shell.core import changes, delivery
from herodev_shell.errors import HerodevError
from herodev_shell.system import privileges

CHANGE_COLUMNS = [
    ("path", "path"),
    ("branch", "branch"),
    ("staged", "staged"),
    ("modified", "modified"),
    ("deleted", "deleted"),
    ("untracked", "untracked"),
    ("ahead", "ahead"),
    ("behind", "behind"),
    ("other", "other"),  # free text: under its row on a terminal when it does not fit
]
OUTCOME_COLUMNS = [
    ("path", "path"),
    ("action", "action"),
    ("status", "status"),
    ("branch", "branch"),
    ("remote", "remote"),
    ("commit", "commit"),
    ("detail", "detail"),
]
# Diff lines by their first characters -> the renderer's styles (it makes them visible too).
_DIFF_STYLES = (
    (("+++", "---", "diff --git", "index ", "new file", "deleted file"), "bold"),
    (("+",), "green"),
    (("-",), "red"),
    (("@@",), "cyan"),
)


def _other(change: changes.RepoChange) -> str:
    parts = []
    if change.commits:
        parts.append(f"{change.commits} new commit(s)")
    if change.branches:
        parts.append("branch " + ", ".join(change.branches))
    if change.stashes:
        parts.append(f"{change.stashes} stash(es)")
    if change.conflicted:
        parts.append(f"{change.conflicted} conflicted")
    if change.session_only:
        parts.append("only in the session")
    if change.remote_changed:
        parts.append("remote rewritten in the session: " + "; ".join(change.remote_changed))
    if change.error:
        parts.append(change.error)
    if change.touched:
        more = f" (+{len(change.touched) - 5} more)" if len(change.touched) > 5 else ""
        parts.append("changed between: " + ", ".join(change.touched[:5]) + more)
    return ", ".join(parts)


def _change_row(change: changes.RepoChange) -> dict[str, Any]:
    row = changes_dict(change)
    row["branch"] = branch_text(change)
    row["other"] = _other(change)
    return row


def _diff_style(line: str) -> str | None:
    for starts, style in _DIFF_STYLES:
        if line.startswith(starts):
            return style
    return None


def _print_block(out: Renderer, title: str, text: str) -> None:
    if not text:
        return
    out.message(f"# {title}", style="bold")
    for line in text.rstrip("\n").split("\n"):
        out.message(line, style=_diff_style(line), keep_tabs=True)


STAT_COLUMNS: list[tuple[str, str] | tuple[str, str, str]] = [
    ("path", "file"),
    ("added", "added", "number"),
    ("deleted", "deleted", "number"),
]


def stat_rows(text: str) -> list[dict[str, Any]]:
    """gitlib's --stat lines (ADDED, DELETED, "PATH" as JSON) as rows; None counts: binary."""
    import json

    rows = []
    for record in text.split("\n"):
        added, tab1, rest = record.partition("\t")
        deleted, tab2, quoted = rest.partition("\t")
        try:
            path = json.loads(quoted) if tab1 and tab2 else None
        except ValueError:
            path = None
        if isinstance(path, str):  # else a "truncated" note, or the empty tail
            rows.append({"path": path, "added": _count(added), "deleted": _count(deleted)})
    return rows


def _count(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _print_stat(out: Renderer, title: str, text: str) -> None:
    """One block's --stat: a table at the terminal's width (TSV in a pipe), then the totals."""
    rows = stat_rows(text)
    if not rows:
        return
    out.message(f"# {title}", style="bold")
    shown = [r | {"added": "-" if r["added"] is None else r["added"]} for r in rows]
    out.table([r | {"deleted": "-" if r["deleted"] is None else r["deleted"]} for r in shown], STAT_COLUMNS)
    added = sum(r["added"] or 0 for r in rows)
    deleted = sum(r["deleted"] or 0 for r in rows)
    out.message(f"{len(rows)} file(s) changed, {added} insertion(s)(+), {deleted} deletion(s)(-)")


PIPED_STAT_COLUMNS: list[tuple[str, str] | tuple[str, str, str]] = [
    ("repo", "repository"),
    ("block", "block"),
    ("path", "file"),
    ("added", "added", "number"),
    ("deleted", "deleted", "number"),
]


def _stat_records(out: Renderer, report: changes.DiffReport) -> None:
    """diff --stat in a pipe: one table, a line per file with its repository and block
    ('staged', 'not staged', 'commit ID'), so grep, cut and awk see whole records."""
    rows = []
    for repo in report.repos:
        if repo.error:
            out.note(f"{repo.path}: {repo.error}")
        blocks = [("staged", repo.staged), ("not staged", repo.unstaged)]
        blocks += [(f"commit {c.id[:12]}", c.text) for c in repo.commits]
        for block, text in blocks:
            for row in stat_rows(text or ""):
                added = "-" if row["added"] is None else row["added"]
                deleted = "-" if row["deleted"] is None else row["deleted"]
                rows.append(row | {"repo": repo.path, "block": block, "added": added, "deleted": deleted})
    out.table(rows, PIPED_STAT_COLUMNS, empty="no changed files in the repositories")
    for path in report.outside:
        out.note(f"changed outside any repository: {path}")


def _stat_numbers(report: changes.DiffReport) -> dict[str, Any]:
    """diff --stat --json: per block a list of {path, added, deleted} (null: binary), not text."""
    from herodev_shell.cli.render import to_plain

    data: dict[str, Any] = to_plain(report)
    for repo, plain in zip(report.repos, data["repos"], strict=True):
        plain["staged"] = stat_rows(repo.staged)
        plain["unstaged"] = stat_rows(repo.unstaged)
        for commit, entry in zip(repo.commits, plain["commits"], strict=True):
            entry["files"] = stat_rows(commit.text)
            del entry["text"]
    return data


def _finish(out: Renderer, outcomes: list[delivery.Outcome], empty: str, what: str) -> None:
    out.records(outcomes, [o.__dict__ for o in outcomes], OUTCOME_COLUMNS, status_key="status", empty=empty)
    # Exit 1 when anything due stayed behind, skipped as much as failed: `push && delete` must
    # never lose track of commits.
    behind = delivery.left_behind(outcomes)
    if behind:
        paths = ", ".join(f"{o.path} ({o.status})" for o in behind)
        raise HerodevError(
            f"{what} left work behind in {len(behind)} repositor{'y' if len(behind) == 1 else 'ies'}: {paths}",
            hint="the work stays in the session; the detail column says why",
        )


def run_changes(ctx: AppContext, args: argparse.Namespace) -> int:
    """Repositories with uncommitted changes, untracked files or unpushed commits."""
    session = tree_session(ctx, args.session, "changes")
    out = ctx.out(args.json)
    with progress_bar(ctx, "scanning repositories", args.json) as progress:
        report = changes.scan(
            ctx.settings,
            ctx.runner,
            session,
            args.full,
            progress,
            only_changed=not args.all,
            start=args.start,
            end=args.end,
        )
    if ctx.renderer.verbose:
        for note in report.notes:
            out.note(note)
        out.note(f"found by {report.method}")
    scope = _scope(ctx, session)
    if session is None and report.repos:
        out.note(f"in the code root {ctx.settings.code_root} ({_NO_SESSION})")
    # What else a repository has is its last column, free text: in a pipe every record stays
    # one line; on a terminal it goes under its row, wrapped at words, when it does not fit.
    out.records(
        [changes_dict(c) for c in report.repos],
        [_change_row(c) for c in report.repos],
        CHANGE_COLUMNS,
        empty=f"no changes {scope}",
    )
    if report.outside:
        sample = ", ".join(report.outside[:5]) + (", ..." if len(report.outside) > 5 else "")
        out.note(f"{len(report.outside)} changed path(s) outside any repository: {sample} ('diff' lists them)")
    return 0


def run_diff(ctx: AppContext, args: argparse.Namespace) -> int:
    """The changes themselves: staged, not staged (untracked included), and unpushed commits."""
    session = tree_session(ctx, args.session, "diff")
    names = [_relative_name(ctx.settings.code_root, n) for n in args.repos]
    report = changes.diff(ctx.settings, ctx.runner, session, names, args.stat, start=args.start, end=args.end)
    out = ctx.out(args.json)
    if out.json_mode:
        out.json(_stat_numbers(report) if args.stat else report)
        return 0
    if not report.repos and not report.outside:
        out.note(f"no changes {_scope(ctx, session)}")
        return 0
    if session is None:
        out.note(f"in the code root {ctx.settings.code_root} ({_NO_SESSION})")
    if args.stat and not out.is_tty():
        _stat_records(out, report)
        return 0
    block = _print_stat if args.stat else _print_block
    for repo in report.repos:
        out.message(f"=== {repo.path} ({repo.branch or ('?' if repo.error else 'detached')})", style="bold")
        if repo.error:
            out.note(f"{repo.path}: {repo.error}")
        block(out, "staged", repo.staged)
        block(out, "not staged", repo.unstaged)
        for commit in repo.commits:
            block(out, f"commit {commit.id[:12]} {commit.summary} ({commit.author})", commit.text or "\n")
    if report.outside:
        out.message("=== changed outside any repository", style="bold")
        for path in report.outside:
            out.message(f"  {path}")
    return 0


def run_commit(ctx: AppContext, args: argparse.Namespace) -> int:
    """Stage everything (respecting .gitignore) and commit in each changed (or named) repository."""
    session = ctx.session_name(args.session)
    _need_root(ctx, "commit")
    names = [_relative_name(ctx.settings.code_root, n) for n in args.repos]
    outcomes = delivery.commit(ctx.settings, ctx.runner, session, args.message, names)
    _finish(ctx.out(args.json), outcomes, "nothing to commit", "commit")
    return 0


def run_push(ctx: AppContext, args: argparse.Namespace) -> int:
    """Commit first with -m, then push each repository's current branch with unpushed commits."""
    session = ctx.session_name(args.session)
    if not args.dry_run:
        _need_root(ctx, "push")
    names = [_relative_name(ctx.settings.code_root, n) for n in args.repos]
    runner = dataclasses.replace(ctx.runner, dry_run=True) if args.dry_run else ctx.runner
    outcomes = delivery.push(ctx.settings, runner, session, names, args.message, args.remote)
    _finish(ctx.out(args.json), outcomes, "nothing to push", "push")
    return 0


_NO_SESSION = "no session chosen: -s NAME looks at a session"


def _scope(ctx: AppContext, session: str | None) -> str:
    """What was looked at, said every time: "no changes" alone reads as "the session is clean"."""
    if session is not None:
        return f"in session {session}"
    return f"in the code root {ctx.settings.code_root} ({_NO_SESSION})"


def _need_root(ctx: Any, command: str) -> None:
    privileges.require_root(command, ctx.dry_run)


def _relative_name(code_root: Any, name: str) -> str:
    """REPO may be given as an absolute path under the code root."""
    if os.path.isabs(name):
        prefix = str(code_root).rstrip("/") + "/"
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name
