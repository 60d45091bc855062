"""The cmd2 application: prompt, command sets, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import cmd2
from cmd2 import Cmd2ArgparseError

from herodev_shell.cli import commands, dispatch, parsers
from herodev_shell.cli.commands.base import HerodevArgumentParser, build_parser, parser_for
from herodev_shell.cli.commands.menu_cmds import MenuCommands
from herodev_shell.cli.context import ONE_SHOT, SHELL, AppContext
from herodev_shell.cli.help_text import help_listing
from herodev_shell.cli.scripting import split_commands, split_numbered
from herodev_shell.cli.toolbar import Toolbar
from herodev_shell.errors import EXIT_USAGE, HerodevError, UsageError

# cmd2 built-ins that make no sense here (or would run arbitrary code as root).
_REMOVED_BUILTINS = ("shell", "edit", "run_pyscript", "run_script", "set", "shortcuts", "py", "ipy")
# These carry subcommands cmd2 wires at start-up, so they stay defined but out of sight.
_HIDDEN_BUILTINS = ("macro",)
# cmd2's own commands (help, history, quit, alias) parse with herodev's parser too, so that a
# usage error reads `error: quit: ...` / `hint: usage: ...` like every other one.
cmd2.argparse_utils.set_default_argument_parser(HerodevArgumentParser)
# The clear-screen sequence, written only to a terminal.
_CLEAR = "\x1b[H\x1b[2J\x1b[3J"


def shell_parser(name: str) -> cmd2.Cmd2ArgumentParser:
    """The cmd2 parser of a command, built from the shared factory in parsers.py, completing."""
    return build_parser(name)


def history_file() -> str:
    """~/.local/state/herodev/history, created 0600 in a 0700 directory; "" when HOME is unusable."""
    path = Path(os.path.expanduser("~")) / ".local" / "state" / "herodev" / "history"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o600))
        os.chmod(path, 0o600)
    except OSError:
        return ""
    return str(path)


def _drawable(stream: Any) -> bool:
    """prompt_toolkit may draw (completion menus, toolbar) only on a real, non-dumb terminal."""
    try:
        return bool(stream.isatty()) and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


DRY_RUN_PROMPT = "[dry run] "


class HerodevShell(cmd2.Cmd):
    DEFAULT_CATEGORY = "Shell"

    def __init__(self, ctx: AppContext, **kwargs: Any) -> None:
        for name in _REMOVED_BUILTINS:
            setattr(self, f"do_{name}", None)
        self.ctx = ctx
        if ctx.where == ONE_SHOT:  # a shell reading its own prompt (scripts say SCRIPT first)
            ctx.where = SHELL
            ctx.renderer.in_shell = True
        # A person at a terminal gets history and the toolbar; pipes and scripts get neither.
        terminal = ctx.interactive and ctx.renderer.color
        self.toolbar = Toolbar(ctx, redraw=self._redraw) if terminal else None
        self._terminating = False
        self._plain_lines = ctx.interactive and not _drawable(kwargs.get("stdout") or sys.stdout)
        super().__init__(
            allow_cli_args=False,
            # '|' and '>' would run shell commands or write files as root: not part of herodev.
            allow_redirection=False,
            terminators=[],  # ';' is split by us, quote-aware, so nothing after it is dropped
            shortcuts={"?": "help"},
            command_sets=[MenuCommands()],  # commands only this shell has (menu)
            include_py=False,
            include_ipy=False,
            persistent_history_file=history_file() if ctx.interactive else "",
            enable_bottom_toolbar=self.toolbar is not None,
            auto_suggest=terminal,
            **kwargs,
        )
        if self._plain_lines:
            self.interactive_pipe = True  # cmd2 then prints the prompt before reading a line
        else:
            self._keep_prompt_text_exact()
        self.hidden_commands.extend(_HIDDEN_BUILTINS)
        self.exit_code = 0
        self.last_args: Any = None  # the parsed arguments of the command now running
        self.default_error = "unknown command {}"
        if not ctx.renderer.color:
            self.allow_style = cmd2.rich_utils.AllowStyle.NEVER
        self._update_prompt()

    # --- prompt -------------------------------------------------------------------------
    def _update_prompt(self) -> None:
        name = self.ctx.current_session
        self.prompt = f"herodev({name})> " if name else "herodev> "
        if self.ctx.dry_run:
            # A prefix, so that the prompt still ends in exactly `herodev> ` or `herodev(NAME)> `
            # (what CLI.md promises and pexpect scripts wait for) while nobody misses the mode.
            self.prompt = DRY_RUN_PROMPT + self.prompt

    def postcmd(self, stop: bool, statement: cmd2.Statement | str) -> bool:
        self._update_prompt()
        if self.toolbar is not None:
            self.toolbar.poke()
        return stop

    def _create_main_session(self, **kwargs: Any) -> Any:
        """TERM=dumb (or output not a terminal): print the prompt, read a line; no drawing at all.

        Built here rather than swapped in later: a drawing session writes cursor codes as soon as
        it is created.
        """
        if not self._plain_lines:
            return super()._create_main_session(**kwargs)
        from prompt_toolkit import PromptSession
        from prompt_toolkit.input import DummyInput
        from prompt_toolkit.output import DummyOutput

        return PromptSession(input=DummyInput(), output=DummyOutput())

    def _keep_prompt_text_exact(self) -> None:
        """Make prompt_toolkit print the prompt's trailing space instead of a cursor move.

        prompt_toolkit skips trailing blank cells without a colour; giving the prompt the
        terminal's default colour (invisible) keeps `herodev> ` verbatim in the output stream,
        so automation can wait for the exact prompt on any terminal type.
        """
        from prompt_toolkit.styles import Style, merge_styles

        session = self.main_session
        exact = Style.from_dict({"prompt": "fg:ansidefault"})
        session.style = merge_styles([session.style, exact] if session.style is not None else [exact])

    # --- toolbar (terminal only) --------------------------------------------------------
    def get_bottom_toolbar(self) -> Any:
        return self.toolbar.text() if self.toolbar is not None else None

    def _redraw(self) -> None:
        app = getattr(getattr(self, "main_session", None), "app", None)
        if app is not None and app.is_running:
            app.invalidate()  # thread-safe in prompt_toolkit

    def preloop(self) -> None:
        if self.toolbar is not None:
            self.toolbar.start()

    def postloop(self) -> None:
        if self.toolbar is not None:
            self.toolbar.stop()

    # --- help ---------------------------------------------------------------------------
    @cmd2.with_argparser(cmd2.Cmd._build_help_parser)
    def do_help(self, args: Any) -> None:
        """List the commands by category, or show one command's full help."""
        if args.command and not args.verbose:
            if self.get_command_func(args.command) is None and args.command not in self.get_help_topics():
                raise UsageError(f"no command named {args.command!r}", hint="type 'help' for the list")
            cmd2.Cmd.do_help.__wrapped__(self, args)  # type: ignore[attr-defined]
            if not self.last_result:
                self.exit_code = EXIT_USAGE
            return
        self.last_result = True
        self.poutput(help_listing(self._visible_by_category()))

    @cmd2.with_argparser(cmd2.Cmd._build_history_parser)
    def do_history(self, args: Any) -> bool | None:
        """Show, search or rerun earlier command lines."""
        # -e runs an editor and -o writes any file: as root, that is a way out of herodev.
        if args.edit or args.output_file:
            raise UsageError("history -e and -o are not available in herodev", hint="history -r reruns lines")
        # Up and Ctrl-R reach earlier runs' lines: `history` shows them too, as bash's does.
        args.all = True
        return cmd2.Cmd.do_history.__wrapped__(self, args)  # type: ignore[attr-defined, no-any-return]

    @staticmethod
    def _no_arguments(description: str) -> cmd2.Cmd2ArgumentParser:
        return HerodevArgumentParser(description=description)

    @cmd2.with_argparser(lambda: HerodevShell._no_arguments("leave the shell (Ctrl-D does the same)"))
    def do_quit(self, _: Any) -> bool:
        """Leave the shell (Ctrl-D does the same)."""
        self.last_result = True
        return True

    @cmd2.with_argparser(lambda: HerodevShell._no_arguments("leave the shell (same as quit)"))
    def do_exit(self, _: Any) -> bool:
        """Leave the shell (same as quit)."""
        self.last_result = True
        return True

    @cmd2.with_argparser(lambda: HerodevShell._no_arguments("clear the screen"))
    def do_clear(self, _: Any) -> None:
        """Clear the screen."""
        if _drawable(self.stdout):
            self.stdout.write(_CLEAR)
            self.stdout.flush()

    def _visible_by_category(self) -> dict[str, list[str]]:
        by_category, _ = self._build_command_info()
        return by_category

    # --- running ------------------------------------------------------------------------
    def onecmd_plus_hooks(self, line: str, **kwargs: Any) -> bool:
        parts = split_commands(line) if (";" in line or "\n" in line) else [line]
        if len(parts) <= 1:
            return super().onecmd_plus_hooks(parts[0] if parts else "", **kwargs)
        stop = False
        for part in parts:
            stop = super().onecmd_plus_hooks(part, **kwargs)
            if stop or self.exit_code != 0:
                break
        return stop

    def onecmd(self, statement: cmd2.Statement | str, *, add_to_history: bool = True) -> bool:
        """Run one command; herodev's errors, usage errors and surprises all set exit_code here."""
        self.exit_code = 0
        self.last_args = None
        self._made_dry = False
        failure: str | None = None
        try:
            if not isinstance(statement, cmd2.Statement):
                statement = self.statement_parser.parse(statement)
            spec = parsers.COMMANDS.get(parsers.canonical(statement.command) or "")
            with self.ctx.renderer.paged(spec is not None and spec.pages):
                return super().onecmd(statement, add_to_history=add_to_history)
        except Cmd2ArgparseError as exc:
            # -h/--help ends argparse with status 0: that is a success, not a usage error.
            code = getattr(exc.__cause__, "code", EXIT_USAGE)
            self.exit_code = code if isinstance(code, int) else EXIT_USAGE
            failure = "usage error" if self.exit_code else None
            raise
        except SystemExit as exc:
            if self._terminating:  # SIGTERM/SIGHUP asked the whole shell to end
                raise
            self.exit_code, failure = dispatch.failure_of(exc, self.ctx)
        except (Exception, KeyboardInterrupt) as exc:  # never let a command end the shell
            self.exit_code, failure = dispatch.failure_of(exc, self.ctx)
        finally:
            if not isinstance(statement, cmd2.Statement):  # a Statement is a str too: test the class
                statement = self.statement_parser.parse(statement)
            command = parsers.canonical(statement.command) or statement.command
            dispatch.audit_command(self.ctx, command, self.last_args, self.exit_code, failure)
            self.ctx.restore_dry(self._made_dry)
            self._made_dry = False
        return False

    def termination_signal_handler(self, signum: int, frame: Any) -> None:
        """SIGTERM/SIGHUP: cmd2 exits with 128+N; mark it so onecmd lets that SystemExit through."""
        self._terminating = True
        super().termination_signal_handler(signum, frame)

    def default(self, statement: cmd2.Statement) -> bool | None:
        words = [*self.get_visible_commands(), *(a for s in parsers.COMMANDS.values() for a in s.aliases)]
        guess = parsers.did_you_mean(statement.command, words)
        hint = f"did you mean '{guess}'? ('help' lists the commands)" if guess else "type 'help' for the list"
        self.ctx.renderer.error(HerodevError(f"unknown command '{statement.command}'", hint=hint))
        self.exit_code = EXIT_USAGE
        return None

    def run_lines(self, text: str) -> int:
        """-c text or a script on stdin: run each command in turn, stop at the first failure."""
        from herodev_shell.cli.messages import set_location

        parts = split_numbered(text)
        try:
            for line, part in parts:
                set_location(f"line {line}" if len(parts) > 1 else "")
                stop = self.onecmd_plus_hooks(part, add_to_history=False)
                if self.exit_code != 0 or stop:
                    break
        finally:
            set_location("")
        return self.exit_code


def _do_method(word: str, command: str) -> Any:
    """A cmd2 do_* method that parses with the shared parser and calls the plain command."""
    spec = parsers.COMMANDS[command]

    def do(self: HerodevShell, args: Any) -> None:
        args.argv = list(args.cmd2_statement.argv)  # the words as typed, as in dispatch.run_argv
        self.last_args = args  # the audit line takes the session from the parsed arguments
        self._made_dry = self.ctx.dry_for(args)  # `push -n`: dry until the audit line is done
        result = commands.load(command)(self.ctx, args)
        if isinstance(result, int):
            self.exit_code = result

    do.__name__ = do.__qualname__ = f"do_{word}"
    do.__doc__ = spec.summary
    return cmd2.with_category(spec.category)(cmd2.with_argparser(parser_for(command))(do))


for _command in parsers.COMMANDS:
    if not commands.runs_without_shell(_command):
        continue  # a command set of the shell's own (menu)
    for _word in (_command, *parsers.COMMANDS[_command].aliases):
        setattr(HerodevShell, f"do_{_word}", _do_method(_word, _command))
