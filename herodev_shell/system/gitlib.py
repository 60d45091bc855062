"""Reading and committing in git repositories with pygit2 (libgit2), never the git CLI.

libgit2 runs no hooks, no core.fsmonitor, no external diff or textconv driver and no filter
process. For a session these functions only ever run inside the sandbox child (as the session
user, see system/sandbox.py); the refusals here (links, gitfiles, commondir, alternates and a
core.worktree leading out of the tree, non-regular files where git expects files) are a second
wall, and parse those files as git and libgit2 do. Owner validation is switched off only while a
repository under a root we were given is opened, and back on at once: it is process-wide.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from herodev_shell.errors import HerodevError

if TYPE_CHECKING:
    from pygit2 import Diff, DiffFile, Repository


class UnsafePath(HerodevError):
    """A path that leaves the tree it must stay in (a symlink, a gitfile pointing elsewhere)."""


# What diff prints: per file and per command, then a note says the rest was left out.
DIFF_FILE_CAP = 1 << 20
DIFF_TOTAL_CAP = 16 << 20
TRUNCATED = "[truncated: {what} is larger than herodev shows ({limit}); read it in the session]\n"
# Files git reads in a git dir: a FIFO or device there would block (or feed) the reader forever.
GIT_FILES = ("HEAD", "config", "index", "packed-refs", "commondir", "gitdir", "ORIG_HEAD", "FETCH_HEAD", "MERGE_HEAD")


def read_regular(path: str | os.PathLike[str], limit: int = 1 << 20) -> bytes:
    """At most `limit` bytes of a regular file; never opens a FIFO or device for a blocking
    read, never follows a final symlink (O_NONBLOCK | O_NOFOLLOW, then fstat)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(f"{path}: not a regular file")
        return os.read(fd, limit)
    finally:
        os.close(fd)


def refuse_special_files(git_dir: Path) -> None:
    """The files git opens first must be regular files (or absent); refs and objects are covered
    by the sandbox's deadline instead."""
    for name in GIT_FILES:
        try:
            mode = os.lstat(git_dir / name).st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(mode):
            raise UnsafePath(f"{name} in {git_dir.name} is not a regular file (a FIFO, device or link)")


def _pygit2() -> ModuleType:
    # Heavy (80 ms): imported only when a repository is really opened; each function below
    # imports it too (a dictionary look-up once loaded) so the type checker sees its types.
    import pygit2

    return pygit2


def load() -> None:
    """Import pygit2 now (before forking readers, so each child does not import it again)."""
    _pygit2()


def forget_home() -> None:
    """In the sandbox: no global or XDG config (root's HOME, unreadable to the session user,
    would make libgit2 fail; and it is not the session's to read)."""
    pygit2 = _pygit2()
    levels = pygit2.enums.ConfigLevel
    for level in (levels.GLOBAL, levels.XDG, levels.PROGRAMDATA):
        pygit2.settings.search_path[level] = "/nonexistent"
    os.environ["HOME"] = "/nonexistent"


def safe_join(root: Path, relative: str) -> Path:
    """root/relative, refusing any symlink or '..' on the way: resolution never leaves root."""
    path = root
    for part in Path(relative).parts:
        if part in ("", ".", "..") or "/" in part:
            raise UnsafePath(f"{relative}: not a plain relative path")
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise HerodevError(f"{relative}: no such repository") from None
        if stat.S_ISLNK(mode):
            raise UnsafePath(f"{relative}: {part} is a symbolic link; herodev does not follow links in a session")
    return path


@functools.lru_cache(maxsize=64)
def _real(root: Path) -> str:
    return os.path.realpath(root)


def _inside(path: str, root: Path) -> bool:
    real_root = _real(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")


def git_dir_of(workdir: Path, root: Path) -> Path:
    """The repository's git dir; a `.git` file (submodules, worktrees) must point inside root."""
    dot_git = workdir / ".git"
    mode = os.lstat(dot_git).st_mode
    if stat.S_ISDIR(mode):
        git_dir = dot_git
    elif stat.S_ISREG(mode):
        text = os.fsdecode(read_regular(dot_git, 1 << 16))
        if not text.startswith("gitdir:"):
            raise UnsafePath(f"{dot_git}: not a git file")
        for target in gitfile_readings(text):
            if not _inside(os.path.normpath(workdir / target), root):
                raise UnsafePath(f"{dot_git} points outside {root}")
        git_dir = Path(os.path.normpath(workdir / text[len("gitdir:") :].strip()))
    else:
        raise UnsafePath(f"{dot_git}: a symbolic link or special file")
    if not _inside(str(git_dir), root):
        raise UnsafePath(f"{dot_git} points outside {root}")
    refuse_special_files(git_dir)
    common = git_dir / "commondir"
    if os.path.lexists(common):
        for target in commondir_readings(os.fsdecode(read_regular(common, 1 << 16))):
            if not _inside(str(git_dir / target), root):
                raise UnsafePath(f"{common} points outside {root}")
    # Borrowed object stores outside the tree would let a session read (and push) objects of
    # repositories it cannot read itself.
    alternates = git_dir / "objects" / "info" / "alternates"
    if os.path.lexists(alternates):
        for entry in alternates_readings(os.fsdecode(read_regular(alternates, 1 << 16))):
            if not _inside(str(git_dir / "objects" / entry), root):
                raise UnsafePath(f"{alternates} borrows objects from outside {root}")
    return git_dir


def gitfile_readings(text: str) -> set[str]:
    """The git dir a `.git` file names to git ("gitdir: " then the rest, only trailing CR/LF
    dropped), to libgit2 (trailing whitespace dropped, then "gitdir:" and leading blanks), and
    to us (both ends stripped)."""
    readings = {text[len("gitdir:") :].strip()}
    if text.startswith("gitdir: "):
        readings.add(text[len("gitdir: ") :].rstrip("\r\n"))
    readings.add(text.rstrip()[len("gitdir:") :].lstrip())
    return readings - {""}


def commondir_readings(text: str) -> set[str]:
    """Every path a commondir file names to git (only trailing CR/LF dropped: a trailing space is
    part of the path) and to libgit2 (all trailing whitespace dropped)."""
    return {text.rstrip("\r\n"), text.rstrip()} - {""}


def alternates_readings(text: str) -> list[str]:
    """Every object dir an alternates file names, as git reads it (a line starting with '"' is a
    C-quoted path; nothing trimmed) and as libgit2 does (the raw line, trailing whitespace off)."""
    entries = []
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        entries.append(line)
        entries.append(line.rstrip())
        if line.startswith('"'):
            unquoted = unquote_c_style(line)
            if unquoted is not None:
                entries.append(unquoted)
    return [e for e in entries if e]


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}


def unquote_c_style(text: str) -> str | None:
    """git's unquote_c_style: the quoted string at the start of text, None if it is malformed."""
    if not text.startswith('"'):
        return None
    out: list[int] = []
    data = text.encode("utf-8", "surrogateescape")
    i = 1
    while i < len(data):
        ch = chr(data[i])
        if ch == '"':
            return bytes(out).decode("utf-8", "surrogateescape")
        if ch != "\\":
            out.append(data[i])
            i += 1
            continue
        i += 1
        if i >= len(data):
            return None
        esc = chr(data[i])
        if esc in _ESCAPES:
            out.append(ord(_ESCAPES[esc]))
            i += 1
        elif "0" <= esc <= "3" and i + 2 < len(data) and all("0" <= chr(c) <= "7" for c in data[i : i + 3]):
            out.append(int(data[i : i + 3], 8))
            i += 3
        else:
            return None
    return None


@contextlib.contextmanager
def _owner_validation_off() -> Iterator[None]:
    import pygit2

    options = pygit2.enums.Option
    previous = pygit2.option(options.GET_OWNER_VALIDATION)
    pygit2.option(options.SET_OWNER_VALIDATION, 0)
    try:
        yield
    finally:
        pygit2.option(options.SET_OWNER_VALIDATION, previous)


def open_repo(workdir: Path, root: Path) -> Repository:
    """Open the repository whose working tree is `workdir` (checked to lie inside `root`).

    Owner validation is off only for this call: the repository is one we found ourselves under
    a root we trust to contain it, whoever owns its files.
    """
    import pygit2

    if not _inside(str(workdir), root):
        raise UnsafePath(f"{workdir} is outside {root}")
    git_dir_of(workdir, root)
    with _owner_validation_off():
        try:
            repo = pygit2.Repository(str(workdir), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
        except pygit2.GitError as exc:
            raise HerodevError(f"{workdir}: not a readable git repository ({exc})") from None
    # core.worktree can point the working tree anywhere: only our tree is read
    if repo.workdir and not _inside(repo.workdir, root):
        raise UnsafePath(f"{workdir}: core.worktree points outside {root}")
    return repo


# --- what a repository says about itself ------------------------------------------------------


@dataclass(frozen=True)
class HeadInfo:
    branch: str | None  # None when detached or unborn
    head: str | None  # commit id, None when unborn
    upstream: str | None  # e.g. origin/main
    remote_name: str | None
    remote_url: str | None


def head_info(repo: Repository) -> HeadInfo:
    import pygit2

    branch = upstream = remote_name = None
    head = None
    if not repo.head_is_unborn:
        head = str(repo.head.target)
        if not repo.head_is_detached:
            branch = repo.head.shorthand
    else:
        ref = repo.references.get("HEAD")
        target = getattr(ref, "target", "") if ref is not None else ""
        if isinstance(target, str) and target.startswith("refs/heads/"):
            branch = target[len("refs/heads/") :]
    if branch:
        config = repo.config
        with contextlib.suppress(KeyError, pygit2.GitError):
            remote_name = config[f"branch.{branch}.remote"]
        with contextlib.suppress(KeyError, pygit2.GitError):
            merge = config[f"branch.{branch}.merge"] or ""
            if remote_name and merge.startswith("refs/heads/"):
                upstream = f"{remote_name}/{merge[len('refs/heads/') :]}"
    if remote_name is None or remote_name == ".":
        names = [n for n in repo.remotes.names() if n]
        remote_name = "origin" if "origin" in names else (names[0] if names else None)
    remote_url = _configured_url(repo, remote_name) if remote_name else None
    return HeadInfo(branch, head, upstream, remote_name, remote_url)


def _configured_url(repo: Repository, name: str) -> str | None:
    """remote.NAME.url as written, before any url.*.insteadOf rewriting: the repository's
    identity (what reorganize lays out by), not a transport detail."""
    import pygit2

    with contextlib.suppress(KeyError, ValueError, pygit2.GitError):
        return str(repo.config[f"remote.{name}.url"])
    with contextlib.suppress(KeyError, ValueError, pygit2.GitError):
        return repo.remotes[name].url or None
    return None


def remote_urls(repo: Repository) -> dict[str, str]:
    urls = {}
    for name in repo.remotes.names():
        url = _configured_url(repo, name) if name else None
        if name and url:
            urls[name] = url
    return urls


@dataclass(frozen=True)
class StatusCounts:
    staged: int = 0
    modified: int = 0
    deleted: int = 0
    untracked: int = 0
    conflicted: int = 0

    @property
    def dirty(self) -> bool:
        return bool(self.staged or self.modified or self.deleted or self.untracked or self.conflicted)


def status_counts(repo: Repository) -> StatusCounts:
    return count_flags(repo.status(untracked_files="all", ignored=False).values())


def count_flags(all_flags: Iterable[int]) -> StatusCounts:
    """Counts from libgit2 status flags, one per path (a full walk's or gitstatus.incremental's)."""
    import pygit2

    fs = pygit2.enums.FileStatus
    staged_mask = fs.INDEX_NEW | fs.INDEX_MODIFIED | fs.INDEX_DELETED | fs.INDEX_RENAMED | fs.INDEX_TYPECHANGE
    modified_mask = fs.WT_MODIFIED | fs.WT_TYPECHANGE | fs.WT_RENAMED | fs.WT_UNREADABLE
    staged = modified = deleted = untracked = conflicted = 0
    for flags in all_flags:
        if flags & fs.CONFLICTED:
            conflicted += 1
            continue
        if flags & staged_mask:
            staged += 1
        if flags & modified_mask:
            modified += 1
        if flags & fs.WT_DELETED:
            deleted += 1
        if flags & fs.WT_NEW:
            untracked += 1
    return StatusCounts(staged, modified, deleted, untracked, conflicted)


def ahead_behind(repo: Repository, upstream: str | None) -> tuple[int, int]:
    """Commits of HEAD not in the upstream, and the reverse; (0, 0) without an upstream."""
    if not upstream or repo.head_is_unborn:
        return 0, 0
    ref = repo.references.get(f"refs/remotes/{upstream}")
    if ref is None:
        return 0, 0
    ahead, behind = repo.ahead_behind(repo.head.target, ref.resolve().target)
    return int(ahead), int(behind)


def commits_since(repo: Repository, head: str | None, base: str | None) -> int:
    """Commits reachable from head but not from base (base unknown: 0)."""
    if not head or head == base:
        return 0
    import pygit2

    if base is None:
        return 0
    try:
        return int(repo.ahead_behind(pygit2.Oid(hex=head), pygit2.Oid(hex=base))[0])
    except (KeyError, ValueError, pygit2.GitError):
        return 1  # the base commit is gone from this repository: it certainly changed


def local_branches(repo: Repository) -> dict[str, str]:
    branches = {}
    for name in repo.branches.local:
        with contextlib.suppress(KeyError, ValueError):
            branches[name] = str(repo.branches.local[name].target)
    return branches


def stash_ids(repo: Repository) -> list[str]:
    import pygit2

    try:
        return [str(stash.commit_id) for stash in repo.listall_stashes()]
    except pygit2.GitError:
        return []


# --- diffs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitPatch:
    id: str
    summary: str
    author: str
    text: str  # the patch, or the --stat summary


class Budget:
    """What one command may still print; shared by every diff it makes."""

    def __init__(self, total: int = DIFF_TOTAL_CAP) -> None:
        self.left = total


def _size(repo: Repository, side: DiffFile) -> int:
    """A file's size without loading it: the workdir's stat or the object header."""
    import pygit2

    if side.size:
        return int(side.size)
    with contextlib.suppress(KeyError, ValueError, pygit2.GitError):  # an object the odb lacks
        if side.id.raw != bytes(len(side.id.raw)):
            return int(repo.odb.read_header(side.id)[1])
    return 0


def _diff_text(diff: Diff, stat_only: bool, budget: Budget | None = None, repo: Repository | None = None) -> str:
    """The patch (or --stat) of diff, each file cut at DIFF_FILE_CAP and the whole at the budget,
    with a note where something was left out; a file too large is never expanded in memory."""
    budget = budget if budget is not None else Budget()
    if not len(diff):
        return ""
    if stat_only:
        return _spend(_numstat(diff, repo), budget)
    parts = []
    for index, delta in enumerate(diff.deltas):
        if budget.left <= 0:
            parts.append(TRUNCATED.format(what="this diff", limit=_mib(DIFF_TOTAL_CAP)))
            break
        name = delta.new_file.path or delta.old_file.path
        if repo is not None and max(_size(repo, delta.old_file), _size(repo, delta.new_file)) > 4 * DIFF_FILE_CAP:
            parts.append(f"diff --git a/{name} b/{name}\n" + TRUNCATED.format(what=name, limit=_mib(4 * DIFF_FILE_CAP)))
            continue
        patch = diff[index]
        text = (patch.text if patch is not None else "") or ""
        if text and len(text) > DIFF_FILE_CAP:
            text = text[:DIFF_FILE_CAP] + "\n" + TRUNCATED.format(what=name, limit=_mib(DIFF_FILE_CAP))
        parts.append(_spend(text or "", budget))
    return "".join(parts)


# --stat is data, not text laid out for 80 columns: a line per file, `ADDED\tDELETED\t"PATH"`,
# the path as a JSON string (a path may hold tabs and newlines; the sandbox passes no NUL);
# "-" counts for binary or oversized files. The front end lays it out for the terminal it
# has, or gives the numbers as JSON.
def _stat_record(added: object, deleted: object, name: str) -> str:
    import json

    return f"{added}\t{deleted}\t{json.dumps(name)}\n"


def _numstat(diff: Diff, repo: Repository | None) -> str:
    records = []
    for index, delta in enumerate(diff.deltas):
        name = delta.new_file.path or delta.old_file.path
        big = repo is not None and max(_size(repo, delta.old_file), _size(repo, delta.new_file)) > 4 * DIFF_FILE_CAP
        patch = None if big or delta.is_binary else diff[index]
        if patch is None or patch.delta.is_binary:
            records.append(_stat_record("-", "-", name))
            continue
        _, added, deleted = patch.line_stats
        records.append(_stat_record(added, deleted, name))
    return "".join(records)


def _spend(text: str, budget: Budget) -> str:
    if len(text) > budget.left:
        text = text[: max(budget.left, 0)] + "\n" + TRUNCATED.format(what="this diff", limit=_mib(DIFF_TOTAL_CAP))
    budget.left -= len(text)
    return text


def _mib(size: int) -> str:
    return f"{size >> 20} MiB"


def staged_diff(repo: Repository, stat_only: bool = False, budget: Budget | None = None) -> str:
    if repo.head_is_unborn:
        names = sorted(entry.path for entry in repo.index)
        if stat_only:
            return "".join(_stat_record("-", "-", name) for name in names)
        return "".join(f"new file (staged): {name}\n" for name in names)
    return _diff_text(repo.diff("HEAD", cached=True), stat_only, budget, repo)


def worktree_diff(repo: Repository, stat_only: bool = False, budget: Budget | None = None) -> str:
    """Index -> working tree, untracked files included with their content."""
    import pygit2

    flags = pygit2.enums.DiffOption
    diff = repo.diff(flags=flags.INCLUDE_UNTRACKED | flags.RECURSE_UNTRACKED_DIRS | flags.SHOW_UNTRACKED_CONTENT)
    return _diff_text(diff, stat_only, budget, repo)


def commits_between(
    repo: Repository,
    head: str | None,
    hide: list[str],
    stat_only: bool = False,
    limit: int = 200,
    budget: Budget | None = None,
) -> list[CommitPatch]:
    """Commits reachable from head and from none of `hide` (upstream, base), newest first."""
    import pygit2

    if not head:
        return []
    walker = repo.walk(pygit2.Oid(hex=head), pygit2.enums.SortMode.TOPOLOGICAL)
    for oid in hide:
        with contextlib.suppress(KeyError, ValueError, pygit2.GitError):
            walker.hide(pygit2.Oid(hex=oid))
    commits: list[CommitPatch] = []
    budget = budget if budget is not None else Budget()
    for commit in walker:
        if len(commits) >= limit or budget.left <= 0:
            break
        diff = repo.diff(commit.parents[0], commit) if commit.parents else commit.tree.diff_to_tree(swap=True)
        author = f"{commit.author.name} <{commit.author.email}>"
        summary = commit.message.splitlines()[0] if commit.message else ""
        commits.append(CommitPatch(str(commit.id), summary, author, _diff_text(diff, stat_only, budget, repo)))
    return commits


# --- writing: commits in a session, as root, made to look like the code owner's work ---------


def links_inside(git_dir: Path) -> list[str]:
    """Symbolic links inside a git dir. git never makes them; a session might, to aim our writes."""
    found = []
    for dirpath, dirnames, filenames, dirfd in os.fwalk(git_dir, follow_symlinks=False):
        for name in dirnames + filenames:
            if stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode):
                found.append(os.path.join(dirpath, name))
    return found


def commit_all(repo: Repository, message: str, name: str, email: str) -> str | None:
    """Stage everything (new, modified, deleted; .gitignore respected) and commit on HEAD.

    Returns the new commit id, or None when there was nothing to commit.
    """
    import pygit2

    index = repo.index
    index.add_all()
    index.write()
    tree = index.write_tree()
    parents = [] if repo.head_is_unborn else [repo.head.target]
    if parents and repo.head.peel(pygit2.Commit).tree_id == tree:
        return None
    signature = pygit2.Signature(name, email)
    oid = repo.create_commit("HEAD", signature, signature, message, tree, parents)
    return str(oid)


def set_reference(repo: Repository, name: str, target: str, message: str) -> None:
    import pygit2

    repo.create_reference_direct(name, pygit2.Oid(hex=target), True, message=message)


def give_new_files_to(top: Path, uid: int, gid: int, since: float) -> int:
    """chown what we just wrote under top (ctime >= since) to uid:gid, never following a link.

    fd-relative (fwalk), so a directory swapped for a symlink meanwhile cannot redirect the chown.
    """
    changed = 0
    for _dirpath, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        for name in [*dirnames, *filenames]:
            info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            if (info.st_uid, info.st_gid) != (uid, gid) and info.st_ctime >= since:
                os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
                changed += 1
    info = os.lstat(top)
    if (info.st_uid, info.st_gid) != (uid, gid) and info.st_ctime >= since and not stat.S_ISLNK(info.st_mode):
        os.chown(top, uid, gid, follow_symlinks=False)
    return changed


def remote_tracking(repo: Repository) -> dict[str, str]:
    """'origin/main' -> commit id for every remote-tracking ref."""
    import pygit2

    tips = {}
    for name in repo.references:
        if name.startswith("refs/remotes/") and not name.endswith("/HEAD"):
            with contextlib.suppress(KeyError, ValueError, pygit2.GitError):  # a dangling or broken ref
                tips[name[len("refs/remotes/") :]] = str(repo.references[name].resolve().target)
    return tips


def head_file(repo: Repository, path: str, limit: int) -> tuple[int, bytes] | None:
    """(file mode, content) of path in the HEAD commit, or None when HEAD has no such blob.

    What is committed, not what the working tree holds: an uncommitted edit is never read.
    """
    import pygit2

    try:
        tree = repo.head.peel(pygit2.Commit).tree
        entry = tree[path]
    except (KeyError, ValueError, pygit2.GitError):
        return None
    if entry.type_str != "blob":
        return None
    blob = repo[entry.id]
    if not isinstance(blob, pygit2.Blob):
        return None
    if blob.size > limit:
        raise HerodevError(f"{path} is larger than {limit} bytes")
    return entry.filemode, bytes(blob.data)
