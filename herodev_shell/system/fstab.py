"""Adding one line to fstab: pure text planning, then an atomic rewrite with a backup."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from herodev_shell.system.fsops import atomic_write_text


def fstab_line(image: Path, code_root: Path, subvolume: str) -> str:
    # nofail: a missing image must not stop the host from booting; noatime: reads are not changes.
    return f"{_escape(str(image))} {_escape(str(code_root))} btrfs loop,subvol={subvolume},noatime,nofail 0 0"


def _escape(field: str) -> str:
    return field.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")


def entry_for_target(text: str, target: Path) -> str | None:
    """The active (uncommented) line that mounts something at target, if any."""
    wanted = os.path.normpath(str(target))
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#") or len(fields) < 2:
            continue
        if os.path.normpath(_unescape(fields[1])) == wanted:
            return line
    return None


def with_line(text: str, line: str) -> str:
    """text with line appended; existing lines and comments untouched."""
    if text and not text.endswith("\n"):
        text += "\n"
    return f"{text}{line}\n"


def write_atomic(path: Path, text: str, backup_suffix: str = ".herodev.bak") -> Path | None:
    """Replace path with text atomically, keeping the old file as path+suffix. Returns the backup."""
    backup = None
    if path.exists():
        backup = path.with_name(path.name + backup_suffix)
        shutil.copy2(path, backup)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    atomic_write_text(path, text, mode)
    return backup
