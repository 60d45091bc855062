"""A session's metadata file (<name>.json next to its snapshot): read it, write it whole."""

from __future__ import annotations

import json

from herodev_shell.core.layout import SessionPaths
from herodev_shell.system.fsops import atomic_write_text


def read_meta(paths: SessionPaths) -> dict[str, object] | None:
    """None when there is no file; {} when it is unreadable or damaged (a crash, a hand edit)."""
    try:
        data = json.loads(paths.meta.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_meta(paths: SessionPaths, data: dict[str, object]) -> None:
    atomic_write_text(paths.meta, json.dumps(data, indent=2) + "\n")
