"""The shell's commands, one CommandSet per help category; each do_* is parse -> core -> render."""

from __future__ import annotations

from typing import Any


def all_command_sets() -> list[Any]:
    from herodev_shell.commands.change_cmds import ChangeCommands
    from herodev_shell.commands.menu_cmds import MenuCommands
    from herodev_shell.commands.ops_cmds import OperationsCommands
    from herodev_shell.commands.repo_cmds import RepositoryCommands
    from herodev_shell.commands.session_cmds import SessionCommands
    from herodev_shell.commands.system_cmds import SystemCommands

    return [
        SystemCommands(),
        SessionCommands(),
        OperationsCommands(),
        RepositoryCommands(),
        ChangeCommands(),
        MenuCommands(),
    ]
