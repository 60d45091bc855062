"""The audit log: one JSON line per command that changes something, and reading it back.

Each line: time (ISO 8601 UTC), user (the person behind sudo), command, session, outcome
(ok | failed), error. Written by the shell after the command ends (so the outcome is known);
a failure to write it never hides the command's own result: the caller gets a warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from herodev_shell.core.clock import now_iso
from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError

# Which commands are audited, and the session each acts on: their CommandSpec (cli/parsers.py).
OK, FAILED = "ok", "failed"

# Details a command adds for its audit line (init's steps, prune's deletions); the shell
# takes them when it writes the line. One process runs one command at a time.
_pending: dict[str, Any] = {}


@dataclass(frozen=True)
class AuditEntry:
    time: str
    user: str
    command: str
    session: str | None
    outcome: str
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def add_detail(key: str, value: Any) -> None:
    """Attach a detail to the audit line of the command now running."""
    _pending[key] = value


def take_details() -> dict[str, Any]:
    details = dict(_pending)
    _pending.clear()
    return details


def invoking_user() -> str:
    """The person behind sudo (SUDO_USER), else the user running herodev."""
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user:
        return sudo_user
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def record(
    settings: Settings,
    command: str,
    session: str | None,
    outcome: str,
    error: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one line to the audit log (its directory and the file made 0750/0640 if new).

    Raises HerodevError when the log cannot be written; the shell turns that into a warning.
    """
    entry = AuditEntry(now_iso(), invoking_user(), command, session, outcome, error, dict(detail or {}))
    # ensure_ascii: the log is read with cat and tail too; no session byte lands in it raw
    # (control characters, C1 codes, bidi overrides all become \uXXXX).
    line = json.dumps(_as_dict(entry), separators=(",", ":"), default=str) + "\n"
    path = settings.audit_log
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o640)
        try:
            # Several herodev processes append at once: one locked write per line keeps lines whole.
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise HerodevError(f"audit log {path}: {exc.strerror or exc}") from None
    return entry


def _as_dict(entry: AuditEntry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "time": entry.time,
        "user": entry.user,
        "command": entry.command,
        "session": entry.session,
        "outcome": entry.outcome,
    }
    if entry.error:
        data["error"] = entry.error
    if entry.detail:
        data["detail"] = entry.detail
    return data


def parse_lines(lines: Iterable[str]) -> list[AuditEntry]:
    """Entries from log lines; a damaged line (a crash mid-write, a hand edit) is skipped, not fatal."""
    entries = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            data = json.loads(line)
            entries.append(
                AuditEntry(
                    time=str(data["time"]),
                    user=str(data.get("user", "")),
                    command=str(data["command"]),
                    session=data.get("session") if isinstance(data.get("session"), str) else None,
                    outcome=str(data.get("outcome", "")),
                    error=data.get("error") if isinstance(data.get("error"), str) else None,
                    detail=data["detail"] if isinstance(data.get("detail"), dict) else {},
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return entries


def read_log(settings: Settings, session: str | None = None, last: int | None = None) -> list[AuditEntry]:
    """The audit log's entries, oldest first; only those about session when given."""
    path = settings.audit_log
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            entries = parse_lines(handle)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise HerodevError(
            f"audit log {path}: {exc.strerror}", hint="reading it needs root (or the log's group)"
        ) from None
    if session is not None:
        entries = [e for e in entries if e.session == session]
    if last is not None:
        entries = entries[-last:] if last > 0 else []
    return entries


def last_entered(settings: Settings) -> dict[str, str]:
    """session -> time of its latest `enter` in the log (for prune when metadata lacks it)."""
    found: dict[str, str] = {}
    with contextlib.suppress(HerodevError):
        for entry in read_log(settings):
            if entry.command == "enter" and entry.session:
                found[entry.session] = entry.time
    return found
