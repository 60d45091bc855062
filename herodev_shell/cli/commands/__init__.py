"""The commands: one plain function per command, `run_X(ctx, args) -> exit status | None`.

They import no cmd2. A one-shot run parses with plain argparse and calls the one it needs
(dispatch.py: fast start-up); the interactive shell wraps every one in a cmd2 do_* method
(shell.py). Both build their parsers from parsers.py, so the two cannot disagree.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from herodev_shell.cli import parsers

if TYPE_CHECKING:
    from herodev_shell.cli.context import AppContext

Handler = Callable[["AppContext", argparse.Namespace], "int | None"]

# command -> "module:function", imported only when that command runs.
HANDLERS: dict[str, str] = {
    "check": "herodev_shell.cli.commands.system_cmds:run_check",
    "init": "herodev_shell.cli.commands.system_cmds:run_init",
    "create": "herodev_shell.cli.commands.session_cmds:run_create",
    "list": "herodev_shell.cli.commands.session_cmds:run_list",
    "use": "herodev_shell.cli.commands.session_cmds:run_use",
    "info": "herodev_shell.cli.commands.session_cmds:run_info",
    "enter": "herodev_shell.cli.commands.session_cmds:run_enter",
    "delete": "herodev_shell.cli.commands.session_cmds:run_delete",
    "checkpoint": "herodev_shell.cli.commands.checkpoint_cmds:run_checkpoint",
    "checkpoints": "herodev_shell.cli.commands.checkpoint_cmds:run_checkpoints",
    "rewind": "herodev_shell.cli.commands.checkpoint_cmds:run_rewind",
    "fork": "herodev_shell.cli.commands.checkpoint_cmds:run_fork",
    "limit": "herodev_shell.cli.commands.agent_cmds:run_limit",
    "exec": "herodev_shell.cli.commands.agent_cmds:run_exec",
    "setup": "herodev_shell.cli.commands.agent_cmds:run_setup",
    "repos": "herodev_shell.cli.commands.repo_cmds:run_repos",
    "reorganize": "herodev_shell.cli.commands.repo_cmds:run_reorganize",
    "changes": "herodev_shell.cli.commands.change_cmds:run_changes",
    "diff": "herodev_shell.cli.commands.change_cmds:run_diff",
    "commit": "herodev_shell.cli.commands.change_cmds:run_commit",
    "push": "herodev_shell.cli.commands.change_cmds:run_push",
    "log": "herodev_shell.cli.commands.ops_cmds:run_log",
    "df": "herodev_shell.cli.commands.ops_cmds:run_df",
    "repair": "herodev_shell.cli.commands.ops_cmds:run_repair",
    "prune": "herodev_shell.cli.commands.ops_cmds:run_prune",
    "pull": "herodev_shell.cli.commands.ops_cmds:run_pull",
}


def canonical(name: str) -> str | None:
    """The command a name or alias stands for (`sessions` -> `list`), None when unknown."""
    if name in parsers.COMMANDS:
        return name
    for command, spec in parsers.COMMANDS.items():
        if name in spec.aliases:
            return command
    return None


def load(command: str) -> Handler:
    module, _, function = HANDLERS[command].partition(":")
    handler: Handler = getattr(importlib.import_module(module), function)
    return handler


def shell_command_sets() -> list[object]:
    """Commands that need the interactive shell itself (cmd2 CommandSets)."""
    from herodev_shell.cli.commands.menu_cmds import MenuCommands

    return [MenuCommands()]
