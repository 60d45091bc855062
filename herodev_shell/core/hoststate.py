"""What init records about the host: who owns the code (so sessions can map ownership)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError
from herodev_shell.system.fsops import atomic_write_text


@dataclass(frozen=True)
class HostState:
    code_owner_uid: int
    code_owner_gid: int


def invoking_owner() -> HostState:
    """The user behind sudo (SUDO_UID/SUDO_GID), else whoever runs herodev."""
    try:
        return HostState(int(os.environ["SUDO_UID"]), int(os.environ["SUDO_GID"]))
    except (KeyError, ValueError):
        return HostState(os.getuid(), os.getgid())


def read_state(settings: Settings) -> HostState | None:
    try:
        data = json.loads(settings.state_file.read_text())
        return HostState(int(data["code_owner_uid"]), int(data["code_owner_gid"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HerodevError(
            f"{settings.state_file} is unreadable: {exc}", hint="run 'herodev init' to record it again"
        ) from None


def require_state(settings: Settings) -> HostState:
    state = read_state(settings)
    if state is None:
        raise HerodevError(f"{settings.code_root} is not prepared for sessions", hint="run 'sudo herodev init' first")
    return state


def write_state(settings: Settings, state: HostState) -> None:
    atomic_write_text(settings.state_file, json.dumps(asdict(state), indent=2) + "\n")
