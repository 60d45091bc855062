"""Operations: df, log, repair, prune, pull. Each do_* parses, calls one core function, renders."""

from __future__ import annotations

import argparse

from herodev_shell.cli.context import AppContext
from herodev_shell.cli.parsers import LOG_DEFAULT_LAST
from herodev_shell.cli.render import short_time
from herodev_shell.errors import HerodevError, UsageError

LOG_COLUMNS = [
    ("time", "time"),
    ("user", "user"),
    ("command", "command"),
    ("session", "session"),
    ("outcome", "outcome"),
    ("error", "error"),
]
DF_COLUMNS = [("name", "session"), ("user", "user"), ("exclusive", "exclusive"), ("limit", "quota")]
PRUNE_COLUMNS = [("name", "session"), ("action", "action"), ("last_used", "last used"), ("reason", "why")]
PULL_COLUMNS = [("path", "repository"), ("branch", "branch"), ("status", "status"), ("detail", "detail")]
REPAIR_COLUMNS = [("kind", "problem"), ("session", "session"), ("status", "status"), ("detail", "detail")]


def run_log(ctx: AppContext, args: argparse.Namespace) -> int:
    """The audit log: who changed what, when, and how it ended."""
    from herodev_shell.core import audit

    if args.last is not None and args.last < 0:
        raise UsageError("--last needs a number of entries, 0 or more")
    out = ctx.out(args.json)
    entries = audit.read_log(ctx.settings, session=args.session)
    # People get the latest screenful; programs (--json) everything unless they ask.
    last = args.last if args.last is not None else (None if args.all or out.json_mode else LOG_DEFAULT_LAST)
    if last is not None and len(entries) > last:
        if args.last is None:
            out.note(f"the last {last} of {len(entries)} entries (--all for every one, --last N)")
        entries = entries[len(entries) - last :] if last else []
    rows = [
        {**e.__dict__, "time": short_time(e.time), "session": e.session or "", "error": e.error or ""} for e in entries
    ]
    where = f" for session {args.session}" if args.session else ""
    out.records(entries, rows, LOG_COLUMNS, status_key="outcome", empty=f"the audit log has no entries{where}")
    return 0


def run_df(ctx: AppContext, args: argparse.Namespace) -> int:
    """Disk space of the code root, and the bytes each session holds on its own."""
    from herodev_shell.core import disk_use

    if not ctx.settings.code_root.exists():
        raise HerodevError(f"{ctx.settings.code_root} does not exist", hint="run 'sudo herodev init' first")
    report = disk_use.disk_report(ctx.settings, ctx.runner)
    out = ctx.out(args.json)
    if out.json_mode:
        out.json(report)
        return 0
    h = disk_use.human_size
    out.message(
        f"{report.code_root}: size {h(report.size)}, used {h(report.used)}, free {h(report.free)}; "
        f"{len(report.sessions)} session(s) hold {h(report.sessions_exclusive)} of their own"
    )
    rows = [
        {"name": u.name, "user": u.user, "exclusive": h(u.exclusive), "limit": h(u.limit) if u.limit else "none"}
        for u in report.sessions
    ]
    if rows:
        out.table(rows, DF_COLUMNS)
    if not report.quotas:
        ctx.renderer.note(
            "note: quotas are off: each session's size was measured now by walking it (slower); "
            "'sudo herodev init --quotas simple' keeps them at no cost"
        )
    nested = sum(u.nested for u in report.sessions)
    if nested:
        ctx.renderer.note(f"note: {nested} subvolume(s) made inside sessions are counted in their sessions' sizes")
    return 0


def run_repair(ctx: AppContext, args: argparse.Namespace) -> int:
    """Fix what a crash or kill -9 left: half-made sessions, stale snapshots, mounts and locks."""
    from herodev_shell.core import repair

    results = repair.repair(ctx.settings, ctx.runner)
    out = ctx.out(args.json)
    if out.json_mode:
        out.json(results)
    elif not results:
        out.message("nothing to repair")
    else:
        out.table([r.__dict__ | {"session": r.session or ""} for r in results], REPAIR_COLUMNS, status_key="status")
    failed = [r for r in results if r.status == repair.FAILED]
    if failed:
        raise HerodevError(f"{len(failed)} problem(s) could not be repaired", hint="run with -v to see why")
    return 0


def run_prune(ctx: AppContext, args: argparse.Namespace) -> int:
    """Delete sessions idle for a while (no process, not entered) that hold no work; say why others stay."""
    from herodev_shell.core import prune_pull

    older_than = prune_pull.parse_age(args.older_than)
    outcomes = prune_pull.prune(ctx.settings, ctx.runner, older_than)
    out = ctx.out(args.json)
    rows = [o.__dict__ | {"last_used": short_time(o.last_used) if o.last_used else ""} for o in outcomes]
    out.records(outcomes, rows, PRUNE_COLUMNS, empty="no sessions")
    return 0


def run_pull(ctx: AppContext, args: argparse.Namespace) -> int:
    """Fetch and fast-forward the code root's repositories; never over local changes."""
    from herodev_shell.core import prune_pull

    outcomes = prune_pull.pull(ctx.settings, ctx.runner, args.session, list(args.repos))
    out = ctx.out(args.json)
    rows = [o.__dict__ for o in outcomes]
    out.records(outcomes, rows, PULL_COLUMNS, status_key="status", empty="no repositories")
    failed = [o.path for o in outcomes if o.status == prune_pull.FAILED]
    if failed:
        raise HerodevError(f"{len(failed)} repository(ies) could not be pulled: {', '.join(failed)}")
    return 0
