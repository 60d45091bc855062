"""Checkpoint commands: checkpoint (and --delete), checkpoints, rewind, fork; and mcp, their agent face."""

from __future__ import annotations

import argparse

from herodev_shell.cli.context import AppContext
from herodev_shell.cli.render import short_time, to_plain
from herodev_shell.core import checkpoints
from herodev_shell.core.disk_use import human_size
from herodev_shell.errors import UsageError

COLUMNS = [("id", "id"), ("kind", "kind"), ("created", "created"), ("size", "size"), ("label", "label")]


def run_checkpoint(ctx: AppContext, args: argparse.Namespace) -> int:
    """Take a read-only checkpoint of a session, or delete one with --delete NAME ID."""
    out = ctx.out(args.json)
    if args.id is None and args.name is not None and args.name.isdigit():
        args.name, args.id = None, args.name  # `checkpoint --delete ID` in the session `use` chose
    args.name = ctx.session_name(args.name)
    if args.delete:
        if not args.id:
            raise UsageError("checkpoint --delete needs the checkpoint's id", hint="checkpoint --delete NAME ID")
        gone = checkpoints.delete_checkpoint(ctx.settings, ctx.runner, args.name, args.id)
        if out.json_mode:
            out.json(gone)
        elif not ctx.dry_run:
            out.message(f"deleted checkpoint {gone.id} of {args.name}")
        return 0
    if args.id:
        raise UsageError(f"unexpected argument {args.id!r}", hint="checkpoint NAME [-m LABEL]")
    made = checkpoints.create_checkpoint(ctx.settings, ctx.runner, args.name, args.message)
    if out.json_mode:
        out.json(made)
    elif not ctx.dry_run:
        out.message(f"checkpoint {made.id} of {args.name}" + (f": {made.label}" if made.label else ""))
    return 0


def run_checkpoints(ctx: AppContext, args: argparse.Namespace) -> int:
    """A session's checkpoints, oldest first."""
    name = ctx.session_name(args.name)
    found = checkpoints.list_checkpoints(ctx.settings, ctx.runner, name)
    rows = [c.__dict__ | {"created": short_time(c.created), "size": human_size(c.size)} for c in found]
    ctx.out(args.json).records(
        [to_plain(c) for c in found], rows, COLUMNS, empty=f"no checkpoints: 'checkpoint {name}' takes one"
    )
    return 0


def run_rewind(ctx: AppContext, args: argparse.Namespace) -> int:
    """Take a session back to a checkpoint; its current state becomes a safety checkpoint first."""
    report = checkpoints.rewind(ctx.settings, ctx.runner, args.name, args.checkpoint, force=args.force or ctx.force)
    out = ctx.out(args.json)
    if out.json_mode:
        out.json(report)
        return 0
    if report.planned:
        return 0
    if report.killed:
        out.note(f"ended {report.killed} process(es) of session {report.session}")
    kept = f"; its state before is checkpoint {report.safety.id}" if report.safety else ""
    out.message(f"rewound {report.session} to checkpoint {report.checkpoint}{kept}")
    return 0


def run_fork(ctx: AppContext, args: argparse.Namespace) -> int:
    """A new session starting from a session's current state (or one of its checkpoints)."""
    from herodev_shell.cli.commands.agent_cmds import setup_lines
    from herodev_shell.cli.render import to_plain
    from herodev_shell.core import hooks
    from herodev_shell.core.forks import fork_session

    info = fork_session(ctx.settings, ctx.runner, args.name, args.new, args.checkpoint)
    # The fork exists from here on: a failing setup hook is reported (exit 1), never undone.
    setup = None if args.no_setup else hooks.run_setup_hooks(ctx.settings, ctx.runner, info.name)
    notes, failure = setup_lines(setup) if setup else ([], None)
    out = ctx.out(args.json)
    for note in notes:
        out.note(note)
    if out.json_mode:
        out.json(to_plain(info) | {"setup": to_plain(setup) if setup else None})
    elif not ctx.dry_run:
        out.message(f"created session {info.name} ({info.notes[0]}): user {info.user}, snapshot {info.path}")
    if failure:
        raise failure
    return 0


def run_mcp(ctx: AppContext, args: argparse.Namespace) -> int:
    """Serve MCP on stdio until the client hangs up (the SDK is imported only now)."""
    import sys

    try:
        from herodev_shell.cli import mcp_server
    except ImportError as exc:
        raise UsageError(
            f"the MCP server needs the 'mcp' package ({exc.name} is missing)",
            hint="install herodev again (./install.sh), or: pip install mcp",
        ) from None
    if sys.stdin.isatty():
        ctx.renderer.note("herodev mcp speaks the Model Context Protocol on stdin/stdout: start it from an MCP client")
    mcp_server.serve(ctx)
    return 0
