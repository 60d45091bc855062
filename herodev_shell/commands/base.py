"""What every command set shares: the context, and parsers built from parsers.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cmd2

from herodev_shell.context import AppContext

if TYPE_CHECKING:
    from herodev_shell.shell import HerodevShell


class HerodevCommands(cmd2.CommandSet):
    @property
    def ctx(self) -> AppContext:
        app: HerodevShell = self._cmd  # type: ignore[assignment]
        return app.ctx


def parser_for(name: str):
    """A zero-argument factory for with_argparser, building the shared definition with cmd2's class."""

    def factory() -> cmd2.Cmd2ArgumentParser:
        from herodev_shell.shell import shell_parser

        return shell_parser(name)

    return factory
