"""A session's metadata file (<name>.json next to its snapshot): read it, write it whole."""

from __future__ import annotations

import json
import os

from herodev_shell.core.clock import now_iso
from herodev_shell.core.layout import SessionPaths
from herodev_shell.core.settings import Settings
from herodev_shell.system.fsops import atomic_write_text
from herodev_shell.system.users import User


def read_meta(paths: SessionPaths) -> dict[str, object] | None:
    """None when there is no file; {} when it is unreadable or damaged (a crash, a hand edit)."""
    try:
        data = json.loads(paths.meta.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def new_meta(
    settings: Settings,
    paths: SessionPaths,
    user: User,
    base_generation: object,
    owner: tuple[object, object],
    access: object,
    **extra: object,
) -> dict[str, object]:
    """A session's metadata as create, fork and repair write it: the same keys, built here once."""
    return {
        "name": paths.name,
        "user": paths.user,
        "uid": user.uid,
        "gid": user.gid,
        "created": now_iso(),
        "base_generation": base_generation,
        "code_owner_uid": owner[0],
        "code_owner_gid": owner[1],
        "access": access,
        "code_root": os.fspath(settings.code_root),
        **extra,
    }


def write_meta(paths: SessionPaths, data: dict[str, object]) -> None:
    atomic_write_text(paths.meta, json.dumps(data, indent=2) + "\n")
