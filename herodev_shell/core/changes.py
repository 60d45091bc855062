"""What changed: per-repository status in the code root or a session, and the diffs themselves.

In a session the fast path takes a read-only snapshot of it, asks btrfs which paths differ from
the session's base (cost ~ the changes, not the tree), and opens only the repositories those
paths fall in. Everything is read from that frozen snapshot with pygit2 in the sandbox child
(core/session_sandbox.py: as the session user, nosymfollow, under a deadline per repository),
so a session can neither race the scan nor reach past its own tree through it; the parent gets
plain data back. Where the fast path is impossible (no base, not btrfs) every repository is
scanned, and --verbose says so. A repository that cannot be read is an error row, never an abort.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from herodev_shell.core import layout, repos
from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError, NotFound, UsageError
from herodev_shell.system.gitlib import CommitPatch
from herodev_shell.system.gitstatus import BaseStatus
from herodev_shell.system.runner import Runner

FAST, FULL = "change stream", "full scan"
Progress = Callable[[int, int], None]

if TYPE_CHECKING:
    from pygit2 import Repository


@dataclass(frozen=True)
class RepoChange:
    path: str
    remote: str | None
    branch: str | None
    upstream: str | None
    staged: int = 0
    modified: int = 0
    deleted: int = 0
    untracked: int = 0
    conflicted: int = 0
    ahead: int = 0
    behind: int = 0
    commits: int = 0  # commits on HEAD made since the session started
    branches: tuple[str, ...] = ()  # branches created or moved since the session started
    stashes: int = 0  # stash entries made since the session started
    session_only: bool = False  # the repository does not exist in the code root
    remote_changed: tuple[str, ...] = ()  # "origin: URL" where the session rewrote a remote
    head: str | None = None
    error: str = ""
    touched: tuple[str, ...] = ()  # with --from/--to: the paths changed between the two checkpoints

    @property
    def uncommitted(self) -> int:
        return self.staged + self.modified + self.deleted + self.untracked + self.conflicted

    @property
    def has_changes(self) -> bool:
        return bool(self.uncommitted or self.ahead or self.commits or self.branches or self.stashes or self.error)

    def summary(self) -> str:
        parts = [
            f"{count} {label}"
            for count, label in (
                (self.staged, "staged"),
                (self.modified, "modified"),
                (self.deleted, "deleted"),
                (self.untracked, "untracked"),
                (self.conflicted, "conflicted"),
                (self.ahead, "ahead"),
                (self.commits, "new commit(s)"),
                (self.stashes, "stash(es)"),
            )
            if count
        ]
        if self.branches:
            parts.append("branch(es) " + ", ".join(self.branches))
        if self.error:
            parts.append(self.error)
        return ", ".join(parts)


@dataclass(frozen=True)
class ChangeReport:
    root: Path  # where the repositories were read (the frozen scan snapshot in a session)
    session: str | None
    method: str
    repos: list[RepoChange]
    outside: list[str] = field(default_factory=list)  # changed paths in no repository
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _BaseState:
    head: str | None
    tips: list[str]  # every ref tip of the base repository
    branches: dict[str, str]
    stashes: set[str]
    remotes: dict[str, str]


def _base_state(base_root: Path | None, relative: str) -> _BaseState | None:
    from herodev_shell.system import gitlib

    if base_root is None:
        return None
    try:
        workdir = base_root if relative == "." else gitlib.safe_join(base_root, relative)
        repo = gitlib.open_repo(workdir, base_root)
    except (HerodevError, OSError):
        return None
    return _state_of(repo)


def _state_of(repo: Any) -> _BaseState:
    import pygit2

    from herodev_shell.system import gitlib

    tips = []
    for name in repo.references:
        with contextlib.suppress(KeyError, ValueError, pygit2.GitError):  # a dangling or broken ref
            tips.append(str(repo.references[name].resolve().target))
    head = None if repo.head_is_unborn else str(repo.head.target)
    return _BaseState(head, tips, gitlib.local_branches(repo), set(gitlib.stash_ids(repo)), gitlib.remote_urls(repo))


def _cached_state(status: BaseStatus) -> _BaseState | None:
    """_base_state from the cached base status (the base never changes): no base repository opened."""
    if not status.present:
        return None
    return _BaseState(
        status.head or None, list(status.tips), dict(status.branches), set(status.stashes), dict(status.remotes)
    )


def _new_commits(repo: Repository, head: str | None, hide: list[str], limit: int = 10000) -> int:
    import pygit2

    if not head:
        return 0
    walker = repo.walk(pygit2.Oid(hex=head))
    for tip in hide:
        with contextlib.suppress(KeyError, ValueError, pygit2.GitError):  # a tip the repository lacks
            walker.hide(pygit2.Oid(hex=tip))
    count = 0
    for _ in walker:
        count += 1
        if count >= limit:
            break
    return count


def inspect(
    root: Path,
    relative: str,
    base_root: Path | None,
    changed: list[str] | None = None,
    base_status: BaseStatus | None = None,
) -> RepoChange:
    """One repository's state, compared with the base when there is one (sessions). With the
    base's status and the paths changed since (relative to the repository), its status comes
    from those alone (system/gitstatus.py), else from the full walk."""
    try:
        return _inspect(root, relative, base_root, changed, base_status)
    except Exception as exc:  # libgit2 on a broken repository (bad HEAD, missing parent): its row
        message = exc.message if isinstance(exc, HerodevError) else (getattr(exc, "strerror", None) or str(exc))
        return RepoChange(relative, None, None, None, error=f"unreadable: {tree_relative(message, root)}")


def tree_relative(message: str, root: Path) -> str:
    """An error about a path in the tree, in the tree's own terms: the frozen scan snapshot's
    path (.sessions/USER.scan/...) is herodev's business, not the reader's."""
    return message.replace(f"{root}/", "").replace(str(root), "the tree")


def _inspect(
    root: Path, relative: str, base_root: Path | None, changed: list[str] | None, base_status: BaseStatus | None
) -> RepoChange:
    from herodev_shell.system import gitlib, gitstatus

    workdir = root if relative == "." else gitlib.safe_join(root, relative)
    if (
        base_root is not None
        and base_status is not None
        and base_status.row_known
        and changed is not None
        and gitstatus.only_index_refreshed(str(workdir), base_status, changed)
    ):
        return _base_row(relative, base_status)  # `git status` rewrote the index, nothing else
    repo = gitlib.open_repo(workdir, root)
    info = gitlib.head_info(repo)
    flags = None
    if base_status is not None and changed is not None:
        flags = gitstatus.incremental(repo, base_status, changed)
    counts = gitlib.count_flags(flags.values()) if flags is not None else gitlib.status_counts(repo)
    ahead, behind = gitlib.ahead_behind(repo, info.upstream)
    base = _cached_state(base_status) if base_status is not None else _base_state(base_root, relative)
    commits, stashes = 0, len(gitlib.stash_ids(repo))
    branches: tuple[str, ...] = ()
    changed_remotes: tuple[str, ...] = ()
    if base_root is not None:
        # New work = commits on no ref the session started with and on no remote-tracking ref
        # (push moves those), so pushed work stops counting.
        tracking = gitlib.remote_tracking(repo)
        hide = (base.tips if base else []) + list(tracking.values())
        commits = _new_commits(repo, info.head, hide)
        old = base.branches if base else {}
        pushed = {(n.split("/", 1)[1], oid) for n, oid in tracking.items() if "/" in n}
        branches = tuple(
            sorted(
                b
                for b, oid in gitlib.local_branches(repo).items()
                if old.get(b) != oid
                and (_new_commits(repo, oid, hide, limit=1) or (b not in old and (b, oid) not in pushed))
            )
        )
        stashes = len(set(gitlib.stash_ids(repo)) - (base.stashes if base else set()))
        if base:
            changed_remotes = tuple(
                f"{name}: {url}"
                for name, url in sorted(gitlib.remote_urls(repo).items())
                if base.remotes.get(name) != url
            )
    return RepoChange(
        relative,
        info.remote_url,
        info.branch,
        info.upstream,
        counts.staged,
        counts.modified,
        counts.deleted,
        counts.untracked,
        counts.conflicted,
        ahead,
        behind,
        commits,
        branches,
        stashes,
        session_only=base_root is not None and base is None,
        remote_changed=changed_remotes,
        head=info.head,
    )


def _base_row(relative: str, status: BaseStatus) -> RepoChange:
    """The row of a repository that is its base's in all but the stat data of its index: the
    same files, entries, HEAD, refs and config, hence what _inspect would compute from them."""
    from herodev_shell.system import gitlib

    counts = gitlib.count_flags(status.entries.values())
    return RepoChange(
        relative,
        status.remote_url,
        status.branch,
        status.upstream,
        counts.staged,
        counts.modified,
        counts.deleted,
        counts.untracked,
        counts.conflicted,
        status.ahead,
        status.behind,
        status.commits,
        head=status.head or None,
    )


def _full_scan(root: Path, base_root: Path | None, progress: Progress | None) -> list[RepoChange]:
    paths = repos.find_repository_paths(root)
    found = []
    for index, relative in enumerate(paths):
        found.append(inspect(root, relative, base_root))
        if progress:
            progress(index + 1, len(paths))
    return found


def session_repository_paths(settings: Settings, session: str, root: Path) -> list[str]:
    """Repository paths in a session's tree, found by the sandbox (as the session user)."""
    from herodev_shell.core import session_sandbox
    from herodev_shell.system.sandbox import plain_relative

    found = session_sandbox.read(settings, session, [root], lambda: repos.find_repository_paths(root), list[str])
    return [p for p in found if plain_relative(p)]


def inspect_session(
    settings: Settings,
    session: str,
    root: Path,
    base: Path | None,
    targets: list[str] | None = None,
    progress: Progress | None = None,
    changed: dict[str, list[str]] | None = None,
    statuses: dict[str, BaseStatus] | None = None,
) -> list[RepoChange]:
    """inspect() of each target (every repository when None) in the sandbox; a repository the
    sandbox could not read in time, or that answered nonsense, is an error row."""
    from herodev_shell.core import session_sandbox
    from herodev_shell.system.sandbox import Failure

    if targets is None:
        targets = session_repository_paths(settings, session, root)
    answers = session_sandbox.read_each(
        settings,
        session,
        [root, base],
        lambda r: inspect(root, r, base, (changed or {}).get(r), (statuses or {}).get(r)),
        targets,
        RepoChange,
        progress,
    )
    rows = []
    for relative, answer in zip(targets, answers, strict=True):
        if isinstance(answer, Failure):
            rows.append(
                RepoChange(relative, None, None, None, error=f"unreadable: {tree_relative(answer.message, root)}")
            )
        elif answer.path != relative:
            error = "unreadable: the sandbox answered for another path"
            rows.append(RepoChange(relative, None, None, None, error=error))
        else:
            rows.append(answer)
    return rows


def _inside_repository(relative: str, paths: list[str]) -> list[str]:
    """Changed paths relative to the repository's working tree."""
    if relative == ".":
        return list(paths)
    cut = len(relative) + 1
    return [p[cut:] for p in paths if p.startswith(relative + "/")]


def _base_status_of(base: Path, relative: str) -> BaseStatus:
    from dataclasses import replace

    from herodev_shell.system import gitlib, gitstatus

    try:
        workdir = base if relative == "." else gitlib.safe_join(base, relative)
        repo = gitlib.open_repo(workdir, base)
    except (HerodevError, OSError):
        return BaseStatus("", {}, {}, full_only="not in the base", present=False)
    state = _state_of(repo)
    info = gitlib.head_info(repo)
    ahead, behind = gitlib.ahead_behind(repo, info.upstream)
    # The base's row as a session that only refreshed its index would get it (_inspect):
    # commits on no ref of the base (a detached HEAD) count there too.
    commits = _new_commits(repo, info.head, state.tips + list(gitlib.remote_tracking(repo).values()))
    return replace(
        gitstatus.base_status(repo),
        head=state.head or "",
        tips=state.tips,
        branches=state.branches,
        stashes=sorted(state.stashes),
        remotes=state.remotes,
        row_known=True,
        remote_url=info.remote_url,
        branch=info.branch,
        upstream=info.upstream,
        ahead=ahead,
        behind=behind,
        commits=commits,
    )


def base_statuses(settings: Settings, session: str, base: Path, targets: list[str]) -> dict[str, BaseStatus]:
    """The base status of each target: from the cache, else computed once (in a sandbox that
    sees the base alone) and cached. A base is read-only, so its status never goes stale."""
    from herodev_shell.core import session_sandbox, status_cache
    from herodev_shell.system.sandbox import Failure

    known = status_cache.load(settings, base)
    missing = [r for r in targets if r not in known]
    if missing:
        answers = session_sandbox.read_each(
            settings, session, [base], lambda r: _base_status_of(base, r), missing, BaseStatus
        )
        fresh = {r: a for r, a in zip(missing, answers, strict=True) if not isinstance(a, Failure)}
        status_cache.store(settings, base, fresh)
        known.update(fresh)
    return {r: known[r] for r in targets if r in known}


def _session_paths(settings: Settings, name: str) -> layout.SessionPaths:
    paths = layout.session_paths(settings, name)
    if not paths.snapshot.is_dir():
        raise NotFound(f"no session named {name!r}", hint="'herodev list' shows the sessions")
    return paths


@contextlib.contextmanager
def frozen_session(settings: Settings, runner: Runner, name: str) -> Iterator[tuple[Path, Path | None, list[str]]]:
    """(root to read, base root or None, notes): the session's scan snapshot when it can be
    taken, else the live snapshot (with a note)."""
    from herodev_shell.core.scan import scan_snapshot
    from herodev_shell.system import btrfs

    paths = _session_paths(settings, name)
    base = paths.base if paths.base.is_dir() else None
    if not btrfs.is_subvolume(paths.snapshot):
        yield paths.snapshot, base, [f"{paths.snapshot} is not a btrfs subvolume: read live, full scan"]
        return
    with scan_snapshot(paths, runner):
        yield paths.scan, base, []


@contextlib.contextmanager
def frozen_between(
    settings: Settings, runner: Runner, name: str, start: str | None, end: str | None
) -> Iterator[tuple[Path, Path | None, list[str]]]:
    """frozen_session, but from checkpoint `start` (instead of the base) to checkpoint `end`
    (instead of the session now). Checkpoints are read-only already: no scan snapshot needed."""
    from herodev_shell.core import checkpoints

    if start is None and end is None:
        with frozen_session(settings, runner, name) as frozen:
            yield frozen
        return
    paths = checkpoints.session_paths_checked(settings, name)
    base = checkpoints.checkpoint_dir(paths, checkpoints.get_checkpoint(paths, start).id) if start else None
    if start is None and paths.base.is_dir():
        base = paths.base
    if end is not None:
        yield checkpoints.checkpoint_dir(paths, checkpoints.get_checkpoint(paths, end).id), base, []
        return
    with frozen_session(settings, runner, name) as (root, _base, notes):
        yield root, base, notes


def scan(
    settings: Settings,
    runner: Runner,
    session: str | None,
    full: bool = False,
    progress: Progress | None = None,
    only_changed: bool = True,
    start: str | None = None,
    end: str | None = None,
) -> ChangeReport:
    """The repositories with changes (all inspected ones with only_changed=False); in a session,
    from its base (or checkpoint `start`) to now (or checkpoint `end`)."""
    if session is None:
        if start or end:
            raise UsageError("--from and --to compare checkpoints of a session", hint="pass -s NAME")
        found = _full_scan(settings.code_root, None, progress)
        kept = [r for r in found if r.has_changes or not only_changed]
        return ChangeReport(settings.code_root, None, FULL, kept)
    with frozen_between(settings, runner, session, start, end) as (root, base, notes):
        return _scan_frozen(settings, runner, session, root, base, notes, full, progress, only_changed)


def _scan_frozen(
    settings: Settings,
    runner: Runner,
    session: str,
    root: Path,
    base: Path | None,
    notes: list[str],
    full: bool,
    progress: Progress | None,
    only_changed: bool,
) -> ChangeReport:
    from herodev_shell.core.changestream import changed_paths, map_to_repositories
    from herodev_shell.core.scan import change_dump_between
    from herodev_shell.errors import CommandFailed

    notes = list(notes)
    paths = layout.session_paths(settings, session)
    # --all wants every repository: only a full scan visits them all. The stream needs two
    # read-only snapshots: the scan snapshot or a checkpoint, against the base or a checkpoint.
    frozen = root == paths.scan or root.parent == paths.checkpoints
    fast = not full and only_changed and base is not None and frozen
    outside: list[str] = []
    if fast and base is not None:
        try:
            dump = change_dump_between(base, root, runner)
            changed = [p for p in changed_paths(dump) if p.split("/")[0] != repos.SESSIONS_DIR_NAME]
        except CommandFailed as exc:
            notes.append(f"the btrfs change stream failed ({exc.message}): full scan")
            fast = False
    if fast and base is not None:
        mapped = map_to_repositories(root, changed)
        targets = sorted(mapped.repos)
        # Each touched repository's status from its base's status and its changed paths only.
        statuses = base_statuses(settings, session, base, targets)
        inside = {r: _inside_repository(r, mapped.repos[r]) for r in targets}
        found = inspect_session(settings, session, root, base, targets, None, inside, statuses)
        outside = mapped.outside
        if base != paths.base or root != paths.scan:
            # Between checkpoints a repository's status is its state at the end; which paths
            # changed in between is the comparison itself.
            from dataclasses import replace

            found = [replace(r, touched=tuple(mapped.repos.get(r.path, []))) for r in found]
            return ChangeReport(root, session, FAST, found, outside, notes)
    else:
        if base is None:
            notes.append(f"no base snapshot {paths.base}: every repository is scanned")
        found = inspect_session(settings, session, root, base, None, progress)
    kept = [r for r in found if r.has_changes or not only_changed]
    return ChangeReport(root, session, FAST if fast else FULL, kept, outside, notes)


def list_repositories(
    settings: Settings, runner: Runner, session: str | None, progress: Progress | None = None
) -> list[RepoChange]:
    """Every repository with its state. A session is read from a frozen snapshot: reading the
    live one as root would rewrite atimes, which the change stream would then carry forever."""
    if session is None:
        return _full_scan(repos.tree_root(settings, None), None, progress)
    repos.tree_root(settings, session)  # a clear error for an unknown session
    with frozen_session(settings, runner, session) as (root, _base, _notes):
        return inspect_session(settings, session, root, None, None, progress)


def session_work_reasons(settings: Settings, runner: Runner, name: str) -> list[str]:
    """Why deleting the session would lose work: its changed repositories (named) and changed
    files outside any repository. Empty when there is nothing to lose."""
    report = scan(settings, runner, name)
    reasons = [f"{r.path}: {r.summary()}" for r in report.repos]
    if report.outside:
        sample = ", ".join(report.outside[:3]) + (", ..." if len(report.outside) > 3 else "")
        reasons.append(f"{len(report.outside)} changed path(s) outside any repository ({sample})")
    return reasons


# --- diff -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepoDiff:
    path: str
    branch: str | None
    staged: str
    unstaged: str
    commits: list[CommitPatch]
    error: str = ""  # the repository could not be read (in time)


@dataclass(frozen=True)
class DiffReport:
    session: str | None
    repos: list[RepoDiff]
    outside: list[str]


def diff(
    settings: Settings,
    runner: Runner,
    session: str | None,
    names: list[str],
    stat_only: bool = False,
    start: str | None = None,
    end: str | None = None,
) -> DiffReport:
    """Staged, unstaged (untracked included) and unpushed changes of each changed or named repo."""
    if session is None:
        if start or end:
            raise UsageError("--from and --to compare checkpoints of a session", hint="pass -s NAME")
        return _diff_in(settings.code_root, None, None, names, stat_only, [])
    from herodev_shell.core import session_sandbox
    from herodev_shell.system import gitlib
    from herodev_shell.system.sandbox import Failure

    with frozen_between(settings, runner, session, start, end) as (root, base, notes):
        report = _scan_frozen(settings, runner, session, root, base, notes, False, None, True)
        targets, outside = [r.path for r in report.repos], report.outside
        if names:
            targets = _named(names, session_repository_paths(settings, session, root))
        budget = gitlib.Budget()
        answers = session_sandbox.read_each(
            settings, session, [root, base], lambda r: _diff_one(root, base, r, stat_only, budget), targets, RepoDiff
        )
    result = []
    for relative, answer in zip(targets, answers, strict=True):
        if isinstance(answer, Failure) or answer.path != relative:
            error = answer.message if isinstance(answer, Failure) else "the sandbox answered for another path"
            result.append(RepoDiff(relative, None, "", "", [], error=f"unreadable: {tree_relative(error, root)}"))
        else:
            result.append(answer)
    return DiffReport(session, result, outside)


def _named(names: list[str], known_paths: list[str]) -> list[str]:
    targets = [normalise_repo_name(n) for n in names]
    known = set(known_paths)
    for name in targets:
        if name not in known:
            raise NotFound(f"no repository {name!r}", hint="'herodev repos' lists them")
    return targets


def _diff_in(
    root: Path, base: Path | None, report: ChangeReport | None, names: list[str], stat_only: bool, outside: list[str]
) -> DiffReport:
    """The code root's diff (trusted, read here)."""
    from herodev_shell.system import gitlib

    if names:
        targets = _named(names, repos.find_repository_paths(root))
    elif report is not None:
        targets = [r.path for r in report.repos]
    else:
        targets = [r.path for r in _full_scan(root, None, None) if r.has_changes]
    budget = gitlib.Budget()
    result = []
    for relative in targets:
        try:
            result.append(_diff_one(root, base, relative, stat_only, budget))
        except Exception as exc:  # a broken repository is its row
            message = exc.message if isinstance(exc, HerodevError) else str(exc)
            result.append(RepoDiff(relative, None, "", "", [], error=f"unreadable: {message}"))
    return DiffReport(report.session if report else None, result, outside)


def _diff_one(root: Path, base: Path | None, relative: str, stat_only: bool, budget: Any) -> RepoDiff:
    from herodev_shell.system import gitlib

    workdir = root if relative == "." else gitlib.safe_join(root, relative)
    repo = gitlib.open_repo(workdir, root)
    info = gitlib.head_info(repo)
    hide = []
    if info.upstream and (ref := repo.references.get(f"refs/remotes/{info.upstream}")) is not None:
        hide.append(str(ref.resolve().target))
    state = _base_state(base, relative)
    if state:
        hide += state.tips
    staged = gitlib.staged_diff(repo, stat_only, budget)
    unstaged = gitlib.worktree_diff(repo, stat_only, budget)
    commits = []
    if hide or base is not None:
        commits = gitlib.commits_between(repo, info.head, hide, stat_only, budget=budget)
    return RepoDiff(relative, info.branch, staged, unstaged, commits)


def normalise_repo_name(name: str) -> str:
    """REPO arguments are paths relative to the code root; tolerate './x' and 'x/'."""
    cleaned = name.strip().strip("/")
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    return cleaned or "."
