"""Commands for many agents on one box: limit, exec, setup (and the limit/usage parts of create,
info and list, rendered here so session_cmds stays about the session itself)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

from herodev_shell.cli.context import AppContext
from herodev_shell.cli.render import to_plain
from herodev_shell.core.disk_use import human_size
from herodev_shell.errors import HerodevError, UsageError
from herodev_shell.system import privileges


def visible(text: str) -> str:
    """Session output for a terminal: control characters (escape sequences) shown, not obeyed;
    its lines and tabs kept (sanitize.visible, line by line)."""
    from herodev_shell.cli.sanitize import visible as shown

    return "\n".join(shown(line, keep_tabs=True) for line in text.split("\n"))


# --- limits and usage as text -------------------------------------------------------------------


def cpus_text(cpus: float | None) -> str:
    return "-" if cpus is None else f"{cpus:g}"


def limits_fields(limits: Any) -> dict[str, str]:
    return {
        "memory limit": human_size(limits.memory) if limits.memory else "none",
        "cpus limit": cpus_text(limits.cpus) if limits.cpus else "none",
        "tasks limit": str(limits.tasks) if limits.tasks else "none",
    }


def usage_fields(usage: Any) -> dict[str, str]:
    fields = {
        "memory used": human_size(usage.memory) if usage.memory is not None else "-",
        "cpu time": f"{usage.cpu_seconds:.1f}s" if usage.cpu_seconds is not None else "-",
        "tasks": str(usage.tasks) if usage.tasks is not None else "-",
    }
    if usage.oom_kills:
        fields["oom kills"] = str(usage.oom_kills)
    return fields


def usage_rows(found: list[Any]) -> list[dict[str, str]]:
    """`list --usage`: one row per session, busiest (CPU time) first."""
    rows = []
    for info in sorted(found, key=lambda i: -((i.usage and i.usage.cpu_seconds) or 0.0)):
        usage, limits = info.usage, info.limits
        rows.append(
            {
                "name": info.name,
                "tasks": str(usage.tasks) if usage and usage.tasks is not None else "-",
                "tasks_limit": str(limits.tasks) if limits.tasks else "-",
                "memory": human_size(usage.memory) if usage and usage.memory is not None else "-",
                "memory_limit": human_size(limits.memory) if limits.memory else "-",
                "cpu": f"{usage.cpu_seconds:.1f}s" if usage and usage.cpu_seconds is not None else "-",
                "cpus": cpus_text(limits.cpus),
                "oom": str(usage.oom_kills) if usage and usage.oom_kills else "0",
            }
        )
    return rows


def setup_lines(report: Any) -> tuple[list[str], HerodevError | None]:
    """Notes for people about a setup run, and the error to raise when a hook failed."""
    notes = [f"setup skipped {why}" for why in report.skipped]
    failed = [h for h in report.hooks if not h.ok]
    for hook in report.hooks:
        state = "ok" if hook.ok else ("timed out" if hook.timed_out else f"failed (exit {hook.status})")
        notes.append(f"setup {hook.repo}/.herodev/setup: {state} in {hook.duration:.1f}s")
    if not failed:
        return notes, None
    first = failed[0]
    for hook in failed:
        notes.append(f"--- last lines of {hook.repo}/.herodev/setup:")
        notes.extend(visible(line) for line in (hook.tail or "(no output)").splitlines())
    what = "timed out" if first.timed_out else f"exited {first.status}"
    return notes, HerodevError(
        f"setup hook {first.repo}/.herodev/setup {what} in session {report.name}"
        + (f" ({len(failed)} hooks failed)" if len(failed) > 1 else ""),
        hint=f"the session is there; full output in {report.log}; 'herodev setup {report.name}' runs the hooks again",
    )


# --- limit ----------------------------------------------------------------------------------


def run_limit(ctx: AppContext, args: argparse.Namespace) -> int:
    """Change a session's limits (or the fleet's): metadata and running processes at once."""
    from herodev_shell.core import limits, session_limits

    out = ctx.out(args.json)
    if args.fleet:
        if args.name:
            raise UsageError("give either NAME or --fleet", hint="limit --fleet --memory 64G")
        report = limits.set_fleet_limits(ctx.settings, args.memory, args.cpus, args.tasks, dry_run=ctx.dry_run)
        what = "the fleet"
    else:
        name = ctx.session_name(args.name)
        report = session_limits.set_session_limits(
            ctx.settings, name, args.memory, args.cpus, args.tasks, dry_run=ctx.dry_run
        )
        what = f"session {name}"
    if out.json_mode:
        out.json(report)
        return 0
    text = ", ".join(f"{k.split()[0]} {v}" for k, v in limits_fields(report.limits).items())
    if report.planned:
        out.note(f"would set {what} to {text}")
    elif report.applied:
        out.message(f"{what}: {text} (running processes included)")
    else:
        out.message(f"{what}: {text} (applied when its next process starts)")
    return 0


# --- exec -----------------------------------------------------------------------------------


class _OptionParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        from herodev_shell.cli.parsers import usage_error

        usage_error(self, message)


def _exec_parts(args: argparse.Namespace) -> list[str]:
    """CMD from `exec NAME [OPTIONS] -- CMD ARGS`: argparse hands everything after NAME over
    as CMD, so options written between NAME and `--` are parsed here."""
    from herodev_shell.cli import parsers

    command = list(args.command)
    if "--" in command and command[0] != "--":
        cut = command.index("--")
        extra = _OptionParser(prog="exec")
        parsers.exec_options(extra)
        more = extra.parse_args(command[:cut])
        for key, value in vars(more).items():
            if key == "env" and value:
                args.env = [*(args.env or []), *value]
            elif value not in (None, False):
                setattr(args, key, value)
        command = command[cut:]
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise UsageError("exec needs a command", hint="herodev exec NAME -- CMD ARGS...")
    return command


def _stdin_fd() -> int | None:
    """The caller's stdin when it is piped or a file; never a terminal (a session process must
    not get the operator's tty: TIOCSTI would let it type into the root shell)."""
    try:
        return None if os.isatty(0) else (0 if os.fstat(0) else None)
    except OSError:
        return None


def run_exec(ctx: AppContext, args: argparse.Namespace) -> int:
    """Run CMD in the session without a terminal; its exit status is ours."""
    from herodev_shell.core import execution
    from herodev_shell.core.settings import parse_seconds

    command = _exec_parts(args)  # first: it may set --json, --timeout, --cwd, -n
    timeout = parse_seconds(args.timeout, "timeout") if args.timeout else None
    env = {}
    for item in args.env or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--env {item!r}: expected NAME=VALUE")
        env[key] = value
    made_dry = ctx.dry_for(args)  # `exec NAME -n -- CMD`: the -n was only seen just now
    try:
        result = execution.exec_in_session(
            ctx.settings,
            ctx.runner,
            args.name,
            command,
            timeout,
            stdin_fd=None if args.no_stdin else _stdin_fd(),
            cwd=args.cwd,
            env=env,
        )
    finally:
        ctx.restore_dry(made_dry)
    from herodev_shell.core import audit

    audit.add_detail("command", command)  # what ran is the point of the audit line
    audit.add_detail("status", result.status)
    out = ctx.out(args.json)
    if out.json_mode:
        out.json(to_plain(result))
        return result.status
    if ctx.dry_run or made_dry:
        return 0
    for stream, text in ((sys.stdout, result.stdout), (sys.stderr, result.stderr)):
        stream.write(visible(text) if stream.isatty() else text)
        stream.flush()
    if result.timed_out:
        out.note(f"error: {' '.join(command)} did not finish within its deadline and was killed")
    if result.oom_killed:
        out.note(execution.OomWatch(ctx.settings, args.name).message(command))
    if result.truncated:
        out.note("note: the output was longer than the cap; its middle was cut")
    if result.left_open:
        out.note("note: a background process still held the output open; stopped reading it")
    return result.status


# --- setup ----------------------------------------------------------------------------------


def run_setup(ctx: AppContext, args: argparse.Namespace) -> int:
    """Run the session's setup hooks again."""
    from herodev_shell.core import hooks, sessions

    privileges.require_root("setup", ctx.runner.dry_run)
    args.name = ctx.session_name(args.name)
    sessions.get_session(ctx.settings, args.name)  # NotFound before anything runs
    report = hooks.run_setup_hooks(ctx.settings, ctx.runner, args.name)
    out = ctx.out(args.json)
    notes, failure = setup_lines(report)
    if out.json_mode:
        out.json(to_plain(report) | {"ok": report.ok})
    else:
        for note in notes:
            out.note(note)
        if not report.hooks and not ctx.dry_run:
            out.message("no setup hooks (.herodev/setup committed in the code root's repositories)")
    if failure:
        raise failure
    return 0
