"""prune (delete idle sessions that hold no work) and pull (fast-forward the code root's repositories).

Both only ever do what loses nothing: prune keeps any session with processes, recent use,
changes or unpushed commits and says why; pull fetches, then fast-forwards only a clean
branch that is strictly behind its upstream.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from herodev_shell.core import audit, layout
from herodev_shell.core.meta import read_meta
from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError, UsageError
from herodev_shell.system import privileges
from herodev_shell.system.runner import Runner

_AGE_RE = re.compile(r"^(\d+)([smhdw]?)$")
_AGE_UNITS = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

DELETED, KEPT, PLANNED = "deleted", "kept", "would delete"


def parse_age(text: str) -> int:
    """'7d' -> seconds; s, m, h, d (the default unit) and w."""
    match = _AGE_RE.match(text.strip().lower())
    if not match:
        raise UsageError(f"invalid age {text!r}", hint="use a number with s, m, h, d or w, e.g. 7d or 12h")
    return int(match.group(1)) * _AGE_UNITS[match.group(2)]


def _timestamp(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


@dataclass(frozen=True)
class PruneOutcome:
    name: str
    action: str  # deleted | kept | would delete
    reason: str
    last_used: str  # the later of created and last entered


def last_used(meta: dict[str, object], entered_in_log: str | None) -> float | None:
    """The later of created and last entered (metadata or audit log); None when none is known."""
    times = [_timestamp(meta.get("created")), _timestamp(meta.get("last_entered")), _timestamp(entered_in_log)]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def keep_reason(
    problems: tuple[str, ...] | list[str], processes: int, last: float | None, now: float, older_than: int
) -> str | None:
    """Why prune keeps a session without even looking at its work; None: it is idle long enough."""
    if problems:
        return f"half there ({'; '.join(problems)}): run 'herodev repair'"
    if processes:
        return f"{processes} process(es) running"
    if last is None:
        return "no record of when it was made or entered"
    if now - last < older_than:
        return f"used {_ago(now - last)}"
    return None


def prune(settings: Settings, runner: Runner, older_than: int) -> list[PruneOutcome]:
    """Delete every session idle for older_than seconds that has no process and no work."""
    from herodev_shell.core import changes, sessions

    privileges.require_root("prune", runner.dry_run)
    entered_in_log = audit.last_entered(settings)
    now = time.time()
    outcomes = []
    for info in sessions.list_sessions(settings):
        meta = read_meta(layout.session_paths(settings, info.name)) or {}
        last = last_used(meta, entered_in_log.get(info.name))
        last_text = datetime.fromtimestamp(last).astimezone().isoformat(timespec="seconds") if last else "unknown"

        def keep(reason: str, name: str = info.name, when: str = last_text) -> None:
            outcomes.append(PruneOutcome(name, KEPT, reason, when))

        reason = keep_reason(info.problems, info.processes, last, now, older_than)
        if reason is not None or last is None:  # (keep_reason keeps every session without a time)
            keep(reason or "no record of when it was made or entered")
            continue
        try:
            work = changes.session_work_reasons(settings, runner, info.name)
            work += sessions.checkpoint_work_reasons(settings, runner, info.name)
        except HerodevError as error:
            keep(f"could not tell whether it holds work: {error.message}")
            continue
        if work:
            keep("holds work: " + "; ".join(work))
            continue
        if runner.dry_run:
            outcomes.append(PruneOutcome(info.name, PLANNED, f"idle since {_ago(now - last)}, no work", last_text))
            continue
        try:
            # delete checks processes and work again, under the lock: nothing changes in between
            sessions.delete_session(settings, runner, info.name, force=False)
        except HerodevError as error:
            keep(f"not deleted: {error.message}")
            continue
        outcomes.append(PruneOutcome(info.name, DELETED, f"idle since {_ago(now - last)}, no work", last_text))
    audit.add_detail("deleted", [o.name for o in outcomes if o.action == DELETED])
    return outcomes


# --- pull -------------------------------------------------------------------------------------

UPDATED, UP_TO_DATE, SKIPPED, FAILED = "updated", "up to date", "skipped", "failed"


@dataclass(frozen=True)
class PullOutcome:
    path: str
    status: str
    branch: str
    detail: str


def pull(settings: Settings, runner: Runner, session: str | None, names: list[str]) -> list[PullOutcome]:
    """Fetch and fast-forward each repository of the code root (or the named ones)."""
    from herodev_shell.core.repos import find_repository_paths

    if session is not None:
        raise HerodevError(
            "pull works on the code root only: running git for a session's repositories would run code"
            " the session controls",
            hint=f"'herodev enter {session} -- git -C REPO pull --ff-only' pulls as the session's user",
        )
    privileges.require_root("pull", runner.dry_run)
    root = settings.code_root
    found = find_repository_paths(root)
    if names:
        wanted = [os.path.normpath(n.strip("/")) for n in names]
        unknown = [n for n in wanted if n not in found]
        if unknown:
            raise UsageError(f"not a repository of {root}: {unknown[0]}", hint="'herodev repos' lists them")
        found = wanted
    outcomes = [_pull_one(root, relative, runner) for relative in found]
    audit.add_detail("pulled", {o.path: o.status for o in outcomes})
    return outcomes


def _pull_one(root: Path, relative: str, runner: Runner) -> PullOutcome:
    from herodev_shell.system import gitpull as git

    repo = root / relative
    branch = git.current_branch(repo, runner)
    if not branch:
        return PullOutcome(relative, SKIPPED, "", "detached HEAD")
    upstream = git.upstream_of(repo, runner)
    if not upstream:
        return PullOutcome(relative, SKIPPED, branch, "no upstream to pull from")
    if runner.dry_run:
        return PullOutcome(relative, "planned", branch, f"would fetch and fast-forward from {upstream}")
    fetched = git.fetch(repo, runner)
    if not fetched.ok:
        return PullOutcome(relative, FAILED, branch, f"fetch: {fetched.reason}")
    if git.has_local_changes(repo, runner):
        return PullOutcome(relative, SKIPPED, branch, "local changes: not touched (fetched only)")
    ahead, behind = git.ahead_behind(repo, runner)
    if behind == 0:
        return PullOutcome(relative, UP_TO_DATE, branch, f"{upstream}" + (f", {ahead} ahead" if ahead else ""))
    if ahead:
        return PullOutcome(relative, SKIPPED, branch, f"diverged: {ahead} ahead, {behind} behind {upstream}")
    merged = git.fast_forward(repo, runner)
    if not merged.ok:
        return PullOutcome(relative, FAILED, branch, merged.reason)
    return PullOutcome(relative, UPDATED, branch, f"{behind} commit(s) from {upstream}")
