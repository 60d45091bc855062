"""Session commands: create, list (sessions), use, info, enter, delete."""

from __future__ import annotations

import argparse
from typing import Any

from herodev_shell.cli.context import AppContext
from herodev_shell.cli.render import short_time, to_plain
from herodev_shell.core import execution, layout, sessions
from herodev_shell.core.disk_use import human_size, session_usage
from herodev_shell.errors import NotFound, UsageError

LIST_COLUMNS = [
    ("name", "session"),
    ("user", "user"),
    ("created", "created"),
    ("changes", "changes"),
    ("processes", "processes"),
    ("state", "state"),
    ("own_disk", "own disk"),
]  # the path is in `info` and --json: it is always <sessions dir>/<user>, and 80 columns are few
INFO_COLUMNS = [("field", "field"), ("value", "value")]
USAGE_COLUMNS = [
    ("name", "session"),
    ("tasks", "tasks"),
    ("tasks_limit", "max tasks"),
    ("memory", "memory"),
    ("memory_limit", "max memory"),
    ("cpu", "cpu time"),
    ("cpus", "cpus"),
    ("oom", "oom kills"),
]


def _changes_text(changed: bool | None) -> str:
    return {True: "yes", False: "no", None: "?"}[changed]


def _row(info: sessions.SessionInfo) -> dict[str, Any]:
    row = dict(info.__dict__)
    row["changes"] = _changes_text(info.changed)
    row["state"] = "ok" if not info.problems else "half there"
    row["created"] = short_time(info.created)
    row["git_identity"] = f"{info.git_name} <{info.git_email}>" if info.git_name else None
    return row


def _disk_fields(ctx: Any, names: list[str]) -> dict[str, dict[str, int | None]]:
    """name -> exclusive bytes and quota, from one btrfs qgroup listing (usage.py)."""
    found = session_usage(ctx.settings, ctx.runner, names)
    return {name: {"exclusive": found[name].exclusive, "quota": found[name].limit} for name in names}


def _enter_parts(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """`enter -- CMD` (session from `use`): argparse took CMD's first word as the name; give it back.

    Fixed in args itself too, so the audit line (which reads args.name) names the right session.
    """
    argv = list(getattr(args, "argv", []) or [])  # the words as typed, set by both dispatchers
    if len(argv) > 1 and argv[1] == "--" and args.name is not None:
        args.name, args.command = None, [args.name, *args.command]
        return None, list(args.command)
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    return args.name, command


def run_create(ctx: AppContext, args: argparse.Namespace) -> int:
    """Create a session: a user and a snapshot of the code root."""
    from herodev_shell.cli.commands.agent_cmds import setup_lines
    from herodev_shell.core import hooks, limits
    from herodev_shell.core.settings import parse_size

    quota = parse_size(args.quota) if args.quota else None
    wanted = limits.parse_limits(args.memory, args.cpus, args.tasks, base=limits.default_limits(ctx.settings))
    info = sessions.create_session(
        ctx.settings,
        ctx.runner,
        args.name,
        quota=quota,
        git_name=args.git_name,
        git_email=args.git_email,
        limits=wanted,
    )
    # The session exists from here on: a failing hook is reported (exit 1), never undone.
    setup = None if args.no_setup else hooks.run_setup_hooks(ctx.settings, ctx.runner, info.name)
    notes, failure = setup_lines(setup) if setup else ([], None)
    out = ctx.out(args.json)
    for note in [*info.notes, *notes]:
        out.note(note)
    if out.json_mode:
        out.json(to_plain(info) | {"setup": to_plain(setup) if setup else None})
    elif not ctx.dry_run:
        out.message(f"created session {info.name}: user {info.user}, snapshot {info.path}")
        if info.git_name:
            out.note(f"git commits in it are by {info.git_name} <{info.git_email}>")
    if failure:
        raise failure
    return 0


def run_list(ctx: AppContext, args: argparse.Namespace) -> int:
    """List the sessions."""
    found = sessions.list_sessions(ctx.settings, with_usage=args.usage)
    out = ctx.out(args.json)
    if args.usage:  # a top-like view: what each session uses now, against its limits
        from herodev_shell.cli.commands.agent_cmds import usage_rows

        out.records([to_plain(i) for i in found], usage_rows(found), USAGE_COLUMNS, empty="no sessions")
        return 0
    sizes = _disk_fields(ctx, [i.name for i in found])
    data = [{**to_plain(i), **sizes[i.name]} for i in found]
    rows = [_row(i) | {"own_disk": human_size(sizes[i.name]["exclusive"])} for i in found]
    out.records(data, rows, LIST_COLUMNS, empty="no sessions: create one with 'create NAME'")
    return 0


def run_use(ctx: AppContext, args: argparse.Namespace) -> int:
    """Choose the shell's current session; `use` alone prints it, `use --clear` forgets it."""
    out = ctx.out()
    if args.clear:
        ctx.current_session = None
        out.note("no current session")
        return 0
    if args.name is None:
        if ctx.current_session:
            out.message(ctx.current_session)
        else:
            out.note("no current session (choose one with 'use NAME')" if ctx.lasting else "no current session")
        return 0
    if args.name not in layout.session_names(ctx.settings):
        sessions.get_session(ctx.settings, args.name)  # raises NotFound listing the sessions
        raise NotFound(f"no session named {args.name!r}")
    if not ctx.lasting:
        # A one-shot run forgets it at once: saying "using session X" would mislead.
        raise UsageError(
            "'use' lasts only inside the shell or -c: this run would forget it at once",
            hint=f"pass -s {args.name} to each command, or: herodev -c 'use {args.name}; changes'",
        )
    ctx.current_session = args.name
    out.note(f"using session {args.name}")
    return 0


# info's field labels for people (--json keeps the keys).
_LABELS = {"name": "session", "path": "snapshot", "uid": "user id", "created": "created (UTC)"}


def _label(key: str) -> str:
    return _LABELS.get(key, key.replace("_", " "))


def run_info(ctx: AppContext, args: argparse.Namespace) -> int:
    """One session in detail."""
    if args.name and args.session and args.name != args.session:
        raise UsageError(f"two sessions named: {args.name} and -s {args.session}", hint="name one")
    info = sessions.get_session(ctx.settings, ctx.session_name(args.name or args.session))
    out = ctx.out(args.json)
    sizes = _disk_fields(ctx, [info.name])[info.name]
    row = _row(info) | {"own_disk": human_size(sizes["exclusive"]), "quota": human_size(sizes["quota"])}
    from herodev_shell.cli.commands.agent_cmds import limits_fields, usage_fields

    hidden = ("problems", "notes", "changed", "git_name", "git_email", "limits", "usage")
    rows = [
        {"field": _label(key), "value": row[key]} for key in row if key not in hidden and row[key] not in (None, "")
    ]
    more = limits_fields(info.limits) | (usage_fields(info.usage) if info.usage else {})
    rows += [{"field": _label(key), "value": value} for key, value in more.items()]
    rows += [{"field": "problem", "value": problem} for problem in info.problems]
    out.records({**to_plain(info), **sizes}, rows, INFO_COLUMNS)
    return 0


def run_enter(ctx: AppContext, args: argparse.Namespace) -> int:
    """A login shell, or CMD, as the session's user with its snapshot at the code root."""
    name, command = _enter_parts(args)
    name = ctx.session_name(name)
    watch = None if ctx.runner.dry_run else execution.OomWatch(ctx.settings, name)
    status = execution.enter_session(ctx.settings, ctx.runner, name, command)
    if watch is not None and watch.killed(status):
        ctx.renderer.note(watch.message(command))  # the kernel says nothing; exit 137 alone is a riddle
    if status in (130, -2) and ctx.renderer.is_tty():
        # Ctrl-C: the terminal echoed ^C with no newline; without one the next prompt is glued to it.
        ctx.renderer.note("")
    # The command's own exit status, with no other message of ours: it has said what it had to.
    return status


def run_delete(ctx: AppContext, args: argparse.Namespace) -> int:
    """Remove a session: its snapshot, base, metadata and user (refuses to lose work without -f)."""
    report = sessions.delete_session(ctx.settings, ctx.runner, args.name, force=args.force or ctx.force)
    if ctx.current_session == args.name and not report.planned:
        ctx.current_session = None
    out = ctx.out(args.json)
    if out.json_mode:
        out.json(report)
        return 0
    if report.planned:
        return 0
    for lost in report.lost:
        out.note(f"threw away: {lost}")
    if report.killed:
        out.note(f"ended {report.killed} process(es) of {report.user}")
    out.message(f"deleted session {report.name} ({'; '.join(report.removed)})")
    return 0
