"""Who we run as: the one root check every command that changes the system goes through."""

from __future__ import annotations

import os

from herodev_shell.errors import NeedsRoot


def is_root() -> bool:
    return os.geteuid() == 0


def require_root(command: str, dry_run: bool = False) -> None:
    """NeedsRoot unless root; a dry run only plans, so it may run as anyone."""
    if not is_root() and not dry_run:
        raise NeedsRoot(command)
