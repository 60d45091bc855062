"""Running commands: the one place an outcome becomes an exit code and an audit line.

The interactive shell (shell.py) and the cmd2-free one-shot path (`herodev COMMAND ...`,
`-c`, scripts on stdin) both end here, so they report errors, exit codes and audit lines
the same way. The one-shot path never imports cmd2 or prompt_toolkit: that is most of
herodev's start-up time.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import traceback
from typing import NoReturn

from herodev_shell.cli import commands, parsers
from herodev_shell.cli.context import AppContext
from herodev_shell.cli.scripting import split_numbered
from herodev_shell.errors import EXIT_BROKEN_PIPE, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, HerodevError


def failure_of(exc: BaseException, ctx: AppContext) -> tuple[int, str | None]:
    """Report exc as herodev does and return (exit code, what failed for the audit line)."""
    if isinstance(exc, HerodevError):
        ctx.renderer.error(exc)
        return exc.exit_code, exc.message
    if isinstance(exc, KeyboardInterrupt):
        ctx.renderer.note("interrupted")
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(exc, BrokenPipeError):  # `| head` has all it wanted: no message, and stop
        from herodev_shell.system.pager import drop_stdout

        drop_stdout()
        return EXIT_BROKEN_PIPE, "output closed by its reader"
    if isinstance(exc, SystemExit):  # argparse: -h exits 0, a usage error 2
        code = exc.code if isinstance(exc.code, int) else EXIT_FAILURE
        return code, ("usage error" if code else None)
    if ctx.renderer.verbose:
        for line in "".join(traceback.format_exception(exc)).splitlines():
            ctx.renderer.note(line)
    ctx.renderer.error(
        HerodevError(f"internal error: {type(exc).__name__}: {exc}", hint="run with -v for the traceback")
    )
    return EXIT_FAILURE, f"internal error: {type(exc).__name__}"


def audit_command(
    ctx: AppContext, command: str, args: argparse.Namespace | None, exit_code: int, failure: str | None
) -> None:
    """One audit line for every run of a command that changes something, whatever its outcome.

    args is the parsed command line (None when parsing failed): the session comes from it.
    """
    from herodev_shell.core import audit

    details = audit.take_details()
    spec = parsers.COMMANDS.get(command)
    # a dry run changes nothing, global (-n before the command) or the command's own (push -n)
    if spec is None or not spec.changes or ctx.dry_run or getattr(args, "dry_run", False) is True:
        return
    if args is None or exit_code == EXIT_USAGE:
        return  # -h, or a usage error: nothing ran, so there is nothing to record
    if spec.only_shows is not None and spec.only_shows(args):
        return  # asked to change nothing (`limit NAME` shows the limits)
    ok = exit_code == 0 and failure is None
    session = parsers.session_of(spec, args, ctx.current_session)
    error = None if ok else (failure or f"exit status {exit_code}")
    try:
        audit.record(ctx.settings, command, session, audit.OK if ok else audit.FAILED, error, details)
    except HerodevError as exc:
        ctx.renderer.note(f"warning: {exc.message}")


class PlainArgumentParser(argparse.ArgumentParser):
    """argparse with herodev's usage errors: one `error:` line, the usage as the hint, exit 2."""

    def error(self, message: str) -> NoReturn:
        parsers.usage_error(self, message)


def runs_without_shell(argv: list[str]) -> bool:
    """True when argv is a command the cmd2-free path can run (not help, menu, history...)."""
    command = commands.canonical(argv[0]) if argv else None
    return command is not None and commands.runs_without_shell(command)


def run_argv(ctx: AppContext, argv: list[str]) -> int:
    """Parse and run one command given as words, without cmd2."""
    command = commands.canonical(argv[0])
    assert command is not None and commands.runs_without_shell(command)
    code, failure = 0, None
    args: argparse.Namespace | None = None
    made_dry = False
    try:
        args = parsers.build(command, PlainArgumentParser).parse_args(argv[1:])
        made_dry = ctx.dry_for(args)
        args.argv = list(argv)  # the words as typed (enter tells `enter -- CMD` from `enter NAME`)
        with ctx.renderer.paged(parsers.COMMANDS[command].pages):
            result = commands.load(command)(ctx, args)
        code = result if isinstance(result, int) else 0
    except (Exception, KeyboardInterrupt, SystemExit) as exc:
        code, failure = failure_of(exc, ctx)
    finally:
        sys.stdout.flush()
    audit_command(ctx, command, args, code, failure)
    ctx.restore_dry(made_dry)  # after the audit line, which a dry run does not get
    return code


def split_words(text: str) -> list[tuple[int, list[str]]] | None:
    """-c text or a script as (line, words); None when some part needs the interactive shell."""
    parts = []
    for line, command in split_numbered(text):
        try:
            words = shlex.split(command)
        except ValueError:
            return None  # let the shell report the quoting error as it would at its prompt
        if not runs_without_shell(words):
            return None
        parts.append((line, words))
    return parts


def run_parts(ctx: AppContext, parts: list[tuple[int, list[str]]]) -> int:
    """Run each command in turn with one context (so `use` carries over); stop at a failure.
    With more than one command, an error names the line its command is on."""
    from herodev_shell.cli.messages import set_location

    code = 0
    try:
        for line, words in parts:
            set_location(f"line {line}" if len(parts) > 1 else "")
            code = run_argv(ctx, words)
            if code != 0:
                break
    finally:
        set_location("")
    return code
