"""`menu`: the menu-driven interface (menu.py), wired to the shell's own commands."""

from __future__ import annotations

import argparse

import cmd2

from herodev_shell.cli import completion_data
from herodev_shell.cli.commands.base import HerodevCommands, parser_for
from herodev_shell.cli.menu import ArrowUI, LineUI, Menu
from herodev_shell.cli.parsers import SESSIONS_CATEGORY
from herodev_shell.cli.scripting import join_for_shell_line
from herodev_shell.errors import UsageError


class MenuCommands(HerodevCommands):
    DEFAULT_CATEGORY = SESSIONS_CATEGORY

    @cmd2.with_argparser(parser_for("menu"))
    def do_menu(self, args: argparse.Namespace) -> None:
        """Menu-driven: pick a session (or create one), then an action."""
        ctx = self.ctx
        app = self._cmd
        assert app is not None
        if not ctx.interactive:
            raise UsageError("menu needs a terminal", hint="run the commands themselves, e.g. 'list'")

        def run(argv: list[str]) -> int:
            app.onecmd_plus_hooks(join_for_shell_line(argv), add_to_history=False)
            return int(app.exit_code)

        def read_line(question: str) -> str:
            # No prompt_toolkit here: a plain prompt and a line from the tty, easy to automate.
            app.stdout.write(question)
            app.stdout.flush()
            line = ctx.stdin.readline()
            if not line:
                raise EOFError
            return line.rstrip("\n")

        if ctx.renderer.color:
            ui: LineUI = ArrowUI(read=app.read_input, say=ctx.renderer.message)
        else:
            ui = LineUI(read=read_line, say=ctx.renderer.message)
        menu = Menu(
            ui,
            run=run,
            sessions=lambda: completion_data.session_names(ctx.settings),
            has_command=lambda name: app.get_command_func(name) is not None,
        )
        try:
            menu.main()
        finally:
            # The commands the menu ran set exit codes of their own; leaving the menu is a success.
            app.exit_code = 0
