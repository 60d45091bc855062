"""Sessions left half there by a crash (a user without a snapshot, or the reverse): a `check` row.

`delete -f NAME` cleans any of them up; `repair` (operations) can too.
"""

from __future__ import annotations

import os

from herodev_shell.core import layout
from herodev_shell.core.checks import PASS, WARN, CheckResult
from herodev_shell.core.names import name_problem
from herodev_shell.core.settings import Settings
from herodev_shell.system import users
from herodev_shell.system.runner import Runner


def find_orphans(settings: Settings) -> list[str]:
    """Sessions left half there by a crash: which of user, snapshot, base, metadata is missing."""
    try:
        entries = {entry.name for entry in os.scandir(settings.sessions_dir)}
    except OSError:
        return []
    prefix = settings.user_prefix
    with_meta = set(layout.session_names(settings))
    session_users = {u.name for u in users.users_with_prefix(prefix) if u.is_session_user}
    stems = {e.split(".", 1)[0] for e in entries if e.startswith(prefix)} | session_users
    found = []
    for stem in sorted(stems):
        name = stem[len(prefix) :]
        if not name or name_problem(name, settings.max_name_length):
            continue
        missing = []
        if stem not in session_users and not (name in with_meta and users.lookup(stem)):
            missing.append("user")
        if stem not in entries:
            missing.append("snapshot")
        if stem + layout.BASE_SUFFIX not in entries:
            missing.append("base")
        if name not in with_meta:
            missing.append("metadata")
        if missing:
            found.append(f"{name} (no {', '.join(missing)})")
    return found


def orphan_check(settings: Settings, runner: Runner) -> list[CheckResult]:
    where = settings.sessions_dir
    if not where.is_dir() or not os.access(where, os.R_OK | os.X_OK, effective_ids=True):
        return []
    orphans = find_orphans(settings)
    if not orphans:
        count = len(layout.session_names(settings))
        return [CheckResult("sessions", PASS, f"{count} session(s), nothing half there")]
    return [
        CheckResult(
            "sessions",
            WARN,
            f"half-there sessions: {'; '.join(orphans)} ('herodev delete -f NAME' cleans each up)",
        )
    ]
