"""Getting a session's work out: commit (pygit2, in the session) and push (git, from the code root).

Commits are written by libgit2 (no hooks, no filters) in the sandbox child as the session user,
through the session's idmapped nosymfollow view (core/session_sandbox.py): what it writes is
stored exactly as the user's own writes are, no link can aim it elsewhere, and nothing needs a
chown afterwards. Pushes never run git as root in a session repository: the code root's
repository fetches the branch from the session's frozen scan snapshot, whose `upload-pack` runs
sandboxed as the session user, and pushes it to the remote *it* names, with the operator's
credentials. A session that rewrote its remote URL is reported, not obeyed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from herodev_shell.core import changes, layout, session_sandbox
from herodev_shell.core.faults import maybe_fail
from herodev_shell.core.locks import session_lock
from herodev_shell.core.meta import read_meta
from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError, NotFound, UsageError
from herodev_shell.system.runner import Runner

DONE, SKIPPED, FAILED, PLANNED, UNCHANGED = "done", "skipped", "failed", "planned", "unchanged"


@dataclass(frozen=True)
class Outcome:
    path: str
    action: str  # commit | push
    status: str
    branch: str | None = None
    remote: str | None = None
    commit: str | None = None
    detail: str = ""
    left_behind: bool = False  # commits push was asked to deliver stayed in the session


def left_behind(outcomes: list[Outcome]) -> list[Outcome]:
    """The rows that make push (or commit) fail: failed, or skipped with commits not delivered."""
    return [o for o in outcomes if o.status == FAILED or o.left_behind]


def session_author(settings: Settings, session: str) -> tuple[str, str]:
    """The session's git identity (create --git-name/--git-email, else the settings' author)."""
    from herodev_shell.core import identity

    return identity.recorded(settings, session, read_meta(layout.session_paths(settings, session)))


def _require_message(message: str | None) -> str:
    if message is None or not message.strip():
        raise UsageError("a commit message is required", hint="pass -m MESSAGE")
    return message if message.endswith("\n") else message + "\n"


def _check_names(root: Path, names: list[str]) -> list[str]:
    from herodev_shell.system import gitlib

    targets = []
    for name in names:
        relative = changes.normalise_repo_name(name)
        try:
            workdir = root if relative == "." else gitlib.safe_join(root, relative)
        except HerodevError:
            raise NotFound(f"no repository {name!r} in the session", hint="'herodev repos' lists them") from None
        if not os.path.lexists(workdir / ".git"):
            raise NotFound(f"{name!r} is not a git repository", hint="'herodev repos' lists them")
        targets.append(relative)
    return targets


def _write_guard(root: Path, relative: str) -> Path:
    """The git dir we may write in. A second wall: the sandbox mounts the session nosymfollow."""
    from herodev_shell.system import gitlib

    workdir = root if relative == "." else gitlib.safe_join(root, relative)
    git_dir = gitlib.git_dir_of(workdir, root)
    links = gitlib.links_inside(git_dir)
    if links:
        raise gitlib.UnsafePath(f"symbolic link inside the git dir ({links[0]}): refused to write there")
    return git_dir


def commit(settings: Settings, runner: Runner, session: str, message: str | None, names: list[str]) -> list[Outcome]:
    """Stage everything and commit in each changed (or named) repository of the session."""

    text = _require_message(message)
    paths = layout.session_paths(settings, session)
    live = paths.snapshot
    if not live.is_dir():
        raise NotFound(f"no session named {session!r}", hint="'herodev list' shows the sessions")
    targets: list[tuple[str, changes.RepoChange | None]]
    if names:
        targets = [(r, None) for r in _check_names(live, names)]
    else:
        report = changes.scan(settings, runner, session)
        targets = [(r.path, r) for r in report.repos if r.uncommitted]
    author, email = session_author(settings, session)
    with session_lock(settings, session, "commit", runner.say):
        return _commit_targets(settings, runner, session, targets, text, author, email)


def _commit_targets(
    settings: Settings,
    runner: Runner,
    session: str,
    targets: list[tuple[str, changes.RepoChange | None]],
    text: str,
    author: str,
    email: str,
) -> list[Outcome]:
    from pygit2 import GitError

    live = layout.session_paths(settings, session).snapshot
    outcomes = []
    for relative, change in targets:
        if change is not None and change.conflicted:
            outcomes.append(Outcome(relative, "commit", SKIPPED, change.branch, detail="unresolved merge conflicts"))
            continue
        if runner.dry_run:
            count = change.uncommitted if change else "all"
            outcomes.append(Outcome(relative, "commit", PLANNED, detail=f"would commit {count} file(s) as {author}"))
            continue
        try:
            # As the session user, in a child where the session is mounted nosymfollow: no link
            # planted in the repository, before or during the commit, can aim the writes elsewhere.
            branch, oid = session_sandbox.write(
                settings,
                session,
                functools.partial(_commit_one, live, relative, text, author, email),
                tuple[str | None, str | None],
            )
            maybe_fail("commit:after-commit")
        except (HerodevError, OSError, GitError) as exc:
            reason = exc.message if isinstance(exc, HerodevError) else f"{getattr(exc, 'strerror', None) or exc}"
            outcomes.append(Outcome(relative, "commit", FAILED, detail=reason))
            continue
        if oid is None:
            outcomes.append(Outcome(relative, "commit", UNCHANGED, branch, detail="nothing to commit"))
        else:
            outcomes.append(Outcome(relative, "commit", DONE, branch, commit=oid[:12], detail=f"as {author} <{email}>"))
    return outcomes


def _commit_one(live: Path, relative: str, text: str, author: str, email: str) -> tuple[str | None, str | None]:
    """(branch, new commit id or None) for one repository of the live session."""
    from pygit2 import GitError

    from herodev_shell.system import gitlib

    _write_guard(live, relative)
    workdir = live if relative == "." else gitlib.safe_join(live, relative)
    repo = gitlib.open_repo(workdir, live)
    branch = gitlib.head_info(repo).branch
    try:
        oid = gitlib.commit_all(repo, text, author, email)
    except GitError as exc:  # a full disk or a damaged repository: that repository's failure
        raise HerodevError(str(exc)) from None
    return branch, oid


# --- push -------------------------------------------------------------------------------------


def push(
    settings: Settings,
    runner: Runner,
    session: str,
    names: list[str],
    message: str | None = None,
    remote: str | None = None,
) -> list[Outcome]:
    """Commit first when a message is given, then push each repository's current branch that has
    commits the remote lacks. One failure does not stop the others."""
    if remote and ("/" in remote or ":" in remote) and len(names) != 1:
        # One URL is one repository's home: never send every changed repository there.
        raise UsageError("--remote URL pushes one repository", hint="name it: push --remote URL REPO")
    outcomes: list[Outcome] = []
    if message is not None:
        outcomes += commit(settings, runner, session, message, names)
    failed_commits = {o.path for o in outcomes if o.status == FAILED}
    with changes.frozen_session(settings, runner, session) as (root, base, notes):
        if names:
            targets = _check_names(root, names)
            candidates = changes.inspect_session(settings, session, root, base, targets)
        else:
            candidates = changes._scan_frozen(settings, runner, session, root, base, notes, False, None, True).repos
        planned_commits = {o.path for o in outcomes if o.status == PLANNED}
        for change in candidates:
            if change.path in failed_commits:
                continue
            if change.path in planned_commits and change.branch:
                detail = f"would push {change.branch} after the commit"
                outcomes.append(Outcome(change.path, "push", PLANNED, change.branch, detail=detail))
                continue
            try:
                outcome = _push_one(settings, runner, session, root, base, change, remote)
                if outcome.status == SKIPPED and _unpushed(change):
                    outcome = replace(outcome, left_behind=True)
                outcomes.append(outcome)
            except (HerodevError, OSError) as exc:
                reason = exc.message if isinstance(exc, HerodevError) else f"{exc.strerror or exc}"
                outcomes.append(Outcome(change.path, "push", FAILED, change.branch, detail=reason))
    return outcomes


def _code_repo_for(settings: Settings, base: Path | None, relative: str) -> Path | None:
    """The code root's repository for a session path: the same path, or, when the code root was
    reorganized since the session started, the repository with the remote URL the base had."""
    from herodev_shell.core import repos
    from herodev_shell.system import gitlib

    code_root = settings.code_root
    with contextlib.suppress(HerodevError, OSError):
        candidate = code_root if relative == "." else gitlib.safe_join(code_root, relative)
        if os.path.lexists(candidate / ".git"):
            return candidate
    if base is None:
        return None
    try:
        workdir = base if relative == "." else gitlib.safe_join(base, relative)
        url = gitlib.head_info(gitlib.open_repo(workdir, base)).remote_url
    except (HerodevError, OSError):
        return None
    if not url:
        return None
    matches = [r.path for r in repos.discover(code_root) if r.remote == url]
    return code_root / matches[0] if len(matches) == 1 else None


def _unpushed(change: changes.RepoChange) -> bool:
    return bool(change.ahead or change.commits or (change.branch and change.branch in change.branches))


def _push_one(
    settings: Settings,
    runner: Runner,
    session: str,
    root: Path,
    base: Path | None,
    change: changes.RepoChange,
    remote: str | None,
) -> Outcome:
    from herodev_shell.system import gitlib

    branch = change.branch
    if change.error:
        return Outcome(change.path, "push", FAILED, detail=change.error)
    if not branch or change.head is None:
        if change.commits:
            why = f"detached HEAD with {change.commits} new commit(s): check out a branch in the session"
            return Outcome(change.path, "push", SKIPPED, detail=why, left_behind=True)
        return Outcome(change.path, "push", SKIPPED, detail="detached HEAD or no commit: nothing to push")
    if not _unpushed(change):
        why = "uncommitted changes only (commit them, or push -m MESSAGE)" if change.uncommitted else "nothing to push"
        return Outcome(change.path, "push", SKIPPED, branch, detail=why)
    notes = [f"ignored the session's remote URL ({r})" for r in change.remote_changed]
    if change.session_only:
        if not remote:
            return Outcome(
                change.path,
                "push",
                SKIPPED,
                branch,
                detail="exists only in the session: name a remote with --remote URL",
            )
        return _push_session_only(settings, runner, session, root, change, remote)
    code_repo = _code_repo_for(settings, base, change.path)
    if code_repo is None:
        why = "no matching repository in the code root (moved or deleted there): name a remote with --remote URL"
        if not remote:
            return Outcome(change.path, "push", SKIPPED, branch, detail=why)
        return _push_session_only(settings, runner, session, root, change, remote)
    if code_repo != settings.code_root / change.path:
        notes.insert(0, f"via {code_repo.relative_to(settings.code_root)} in the code root")
    target, destination, why, new_upstream = _choose_remote(settings.code_root, code_repo, change, remote)
    if target is None:
        return Outcome(change.path, "push", SKIPPED, branch, detail=why)
    if new_upstream:
        notes.append(f"upstream set to {target}/{destination}")
    if runner.dry_run:
        plan = "; ".join([f"would push {branch} to {target} as {destination}", *notes])
        return Outcome(change.path, "push", PLANNED, branch, target, detail=plan)
    session_repo = root if change.path == "." else gitlib.safe_join(root, change.path)
    upload_pack = _upload_pack(settings, session, root)
    outcome = _fetch_and_push(runner, session, code_repo, session_repo, change, target, destination, notes, upload_pack)
    if outcome.status == DONE and new_upstream:
        from herodev_shell.system import git

        git.set_upstream(code_repo, destination, target, runner)  # as push -u / autoSetupRemote do
    if outcome.status == DONE and target in _session_remotes(settings, session, root, change.path):
        _record_pushed(settings, session, change, target, destination, upstream=not change.upstream)
    return outcome


def _choose_remote(
    code_root: Path, code_repo: Path, change: changes.RepoChange, remote: str | None
) -> tuple[str | None, str, str, bool]:
    """(remote name or URL, destination branch, why-not, whether this sets the branch's upstream)
    from the code root's configuration; the session's own only picks among the code root's names."""
    import pygit2

    from herodev_shell.system import gitlib

    repo = gitlib.open_repo(code_repo, code_root)
    names = gitlib.remote_urls(repo)
    branch = change.branch or ""
    # The branch lands under its own name unless the code root's repository maps it elsewhere:
    # the session's own upstream setting could otherwise aim `feature` at `main`.
    destination = branch
    configured = None
    with contextlib.suppress(KeyError, pygit2.GitError):
        configured = repo.config[f"branch.{branch}.remote"]
    with contextlib.suppress(KeyError, pygit2.GitError):
        merge = repo.config[f"branch.{branch}.merge"] or ""
        if merge.startswith("refs/heads/"):
            destination = merge[len("refs/heads/") :]
    return push_target(set(names), configured, branch, destination, change.upstream, remote)


def push_target(
    names: set[str], configured: str | None, branch: str, destination: str, upstream: str | None, remote: str | None
) -> tuple[str | None, str, str, bool]:
    """The decision of _choose_remote, from plain data: the code root's remote names, the
    branch's configured remote there, the session's upstream ('origin/main') and --remote."""
    if configured in names:
        return (remote or configured), destination, "", False
    new_upstream = configured is None
    if remote:
        return remote, destination, "", new_upstream and remote in names
    session_remote = upstream.split("/", 1)[0] if upstream else None
    if session_remote in names:
        return session_remote, destination, "", new_upstream
    if len(names) == 1:  # like push.autoSetupRemote: the one remote, the same branch name
        return next(iter(names)), destination, "", new_upstream
    if not names:
        return None, destination, "the code root's repository has no remote: name one with --remote URL", False
    listed = ", ".join(sorted(names))
    why = f"branch {branch} has no upstream and {len(names)} remotes ({listed}): pick one with --remote NAME"
    return None, destination, why, False


def _fetch_and_push(
    runner: Runner,
    session: str,
    trusted: Path,
    session_repo: Path,
    change: changes.RepoChange,
    target: str,
    destination: str,
    notes: list[str],
    upload_pack: str,
) -> Outcome:
    from herodev_shell.system import git, gitlib

    branch = change.branch or ""
    ref = f"refs/herodev/{session}/{branch}"
    trusted_git = gitlib.git_dir_of(trusted, Path("/"))
    owner = os.lstat(trusted_git)
    since = time.time() - 1.0
    try:
        fetched = git.fetch_from_untrusted(trusted, session_repo, branch, ref, runner, upload_pack)
        if not fetched.ok:
            return Outcome(
                change.path, "push", FAILED, branch, target, detail=f"fetch from the session: {fetched.reason}"
            )
        maybe_fail("push:after-fetch")
        pushed = git.push(trusted, target, ref, destination, runner)
        maybe_fail("push:after-push")
    finally:
        git.delete_ref(trusted, ref, runner)
        with contextlib.suppress(OSError):
            gitlib.give_new_files_to(trusted_git, owner.st_uid, owner.st_gid, since)
    if destination != branch:
        notes = [f"{branch} -> {destination}", *notes]
    detail = "; ".join([pushed.summary or "pushed", *notes]) if pushed.ok else "; ".join([pushed.reason, *notes])
    return Outcome(change.path, "push", DONE if pushed.ok else FAILED, branch, target, (change.head or "")[:12], detail)


def _upload_pack(settings: Settings, session: str, root: Path) -> str:
    """The session side of push's fetch: git upload-pack in the sandbox, as the session user."""
    from herodev_shell.system.sandbox_exec import upload_pack_command

    return upload_pack_command(session_sandbox.spec(settings, session, [root]))


def _session_remotes(settings: Settings, session: str, root: Path, relative: str) -> set[str]:
    from herodev_shell.system import gitlib

    def names() -> list[str]:
        workdir = root if relative == "." else gitlib.safe_join(root, relative)
        return sorted(gitlib.remote_urls(gitlib.open_repo(workdir, root)))

    with contextlib.suppress(HerodevError):
        return set(session_sandbox.read(settings, session, [root], names, list[str]))
    return set()


def _record_pushed(
    settings: Settings, session: str, change: changes.RepoChange, remote: str, branch: str, upstream: bool
) -> None:
    """Move the session's remote-tracking ref to what was pushed, so `changes` (and `delete`)
    stop counting it as unpushed, and, for a branch without one, record its upstream (as
    `push -u` would), so the session's own git status and pull follow it. Best effort: the push
    itself already succeeded."""
    from herodev_shell.system import gitlib

    live = layout.session_paths(settings, session).snapshot

    def update() -> None:
        _write_guard(live, change.path)
        workdir = live if change.path == "." else gitlib.safe_join(live, change.path)
        repo = gitlib.open_repo(workdir, live)
        gitlib.set_reference(repo, f"refs/remotes/{remote}/{branch}", change.head or "", "herodev push")
        if upstream and change.branch:
            repo.config[f"branch.{change.branch}.remote"] = remote
            repo.config[f"branch.{change.branch}.merge"] = f"refs/heads/{branch}"

    with contextlib.suppress(HerodevError), session_lock(settings, session, "push"):
        session_sandbox.write(settings, session, update, type(None))


def _push_session_only(
    settings: Settings, runner: Runner, session: str, root: Path, change: changes.RepoChange, url: str
) -> Outcome:
    """A repository the code root lacks: fetch it into a temporary bare repository and push from
    there to the URL the operator named, as the code owner (their credentials, as for any push)."""
    from herodev_shell.core.hoststate import read_state
    from herodev_shell.system import git, gitlib

    branch = change.branch or ""
    if runner.dry_run:
        return Outcome(change.path, "push", PLANNED, branch, url, detail=f"would push {branch} to {url}")
    state = read_state(settings)
    owner = (state.code_owner_uid, state.code_owner_gid) if state else (0, 0)
    # Outside the root-only sessions dir, so that the owner can reach it; theirs once filled.
    holder = Path(tempfile.mkdtemp(prefix="herodev-staging-"))
    temporary = holder / "repo.git"
    try:
        git.init_bare(temporary, runner)
        session_repo = root if change.path == "." else gitlib.safe_join(root, change.path)
        ref = f"refs/herodev/{session}/{branch}"
        upload_pack = _upload_pack(settings, session, root)
        fetched = git.fetch_from_untrusted(temporary, session_repo, branch, ref, runner, upload_pack)
        if not fetched.ok:
            return Outcome(change.path, "push", FAILED, branch, url, detail=f"fetch from the session: {fetched.reason}")
        if owner != (os.geteuid(), os.getegid()):
            gitlib.give_new_files_to(holder, *owner, since=0)
            os.chown(holder, *owner)
        pushed = git.push(temporary, url, ref, branch, runner)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
    status = DONE if pushed.ok else FAILED
    return Outcome(change.path, "push", status, branch, url, (change.head or "")[:12], pushed.summary or pushed.reason)
