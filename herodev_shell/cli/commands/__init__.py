"""The commands: one plain function per command, `run_X(ctx, args) -> exit status`.

They import no cmd2. A one-shot run parses with plain argparse and calls the one it needs
(dispatch.py: fast start-up); the interactive shell wraps every one in a cmd2 do_* method
(shell.py). Which function runs a command is said once, in its CommandSpec (parsers.py).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from herodev_shell.cli import parsers

if TYPE_CHECKING:
    from herodev_shell.cli.context import AppContext

Handler = Callable[["AppContext", argparse.Namespace], int]

canonical = parsers.canonical


def runs_without_shell(command: str) -> bool:
    """True for a command with a plain handler (not one only the interactive shell has, like menu)."""
    spec = parsers.COMMANDS.get(command)
    return spec is not None and spec.handler is not None


def load(command: str) -> Handler:
    """The command's function, its module imported now (one-shot runs import only what they run)."""
    target = parsers.COMMANDS[command].handler
    if target is None:
        raise KeyError(f"{command} has no plain handler: only the interactive shell runs it")
    module, _, function = target.partition(":")
    handler: Handler = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    return handler
