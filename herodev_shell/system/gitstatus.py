"""A repository's status from its base's status plus the paths that changed: cost ~ the changes.

`git status` (and libgit2's) walks every file of the working tree and every index entry. A
session's repository starts as an exact copy of its base (a read-only snapshot), and the
btrfs change stream names every path written since. So its status is the base's status
(computed once per base: the base never changes) with the entries of these paths recomputed:

  - each changed working-tree path (a directory stands for everything under it, then and now);
  - each path whose HEAD entry moved, when HEAD moved (a tree-to-tree diff: cost ~ what differs);
  - each path whose index entry differs from the base's, when `.git/index` was rewritten
    (the base HEAD tree against the index, both sides: compares object ids, no file is read);
    an index whose assume-valid / skip-worktree flags differ from the base's: the full walk.

Every other path has the same file, the same index entry and the same HEAD entry as in the
base, hence the same status. Changes that alter how *unchanged* files are judged (a
`.gitignore`, `.gitattributes`, `.gitmodules`, `.git/config`, `.git/info/*`) make
`incremental()` answer None: the caller falls back to the full walk. Pure functions over data
and an open repository; they run wherever the caller runs them (the sandbox child).
"""

from __future__ import annotations

import bisect
import os
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from herodev_shell.system import gitindex

if TYPE_CHECKING:
    from pygit2 import Index, Repository

# Files under .git whose change cannot alter any path's status except through HEAD, the
# index or the refs, which are compared directly.
_GIT_HARMLESS = {
    "index",
    "HEAD",
    "ORIG_HEAD",
    "FETCH_HEAD",
    "MERGE_HEAD",
    "MERGE_MSG",
    "MERGE_MODE",
    "AUTO_MERGE",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "COMMIT_EDITMSG",
    "packed-refs",
    "description",
    "gc.pid",
    "gc.log",
    "shallow",
}
_GIT_HARMLESS_DIRS = ("refs/", "logs/", "objects/", "hooks/", "rebase-merge/", "rebase-apply/", "lfs/")
_RULE_FILES = {".gitignore", ".gitattributes", ".gitmodules"}


@dataclass(frozen=True)
class BaseStatus:
    """What the base says, cached per base (it is immutable)."""

    head: str  # commit id of HEAD, "" when unborn
    entries: dict[str, int]  # path -> libgit2 status flags (untracked files listed one by one)
    staged: dict[str, str]  # path -> "status:id:mode" of each base-HEAD-tree -> index delta
    full_only: str = ""  # why this repository always needs the full walk ("" = it does not)
    # What the session's new work is measured against (core/changes.py), so a scan never
    # opens the base repository again: absent from the base, or its refs as they were.
    present: bool = True
    tips: list[str] = field(default_factory=list)  # every ref's commit
    branches: dict[str, str] = field(default_factory=dict)
    stashes: list[str] = field(default_factory=list)
    remotes: dict[str, str] = field(default_factory=dict)
    # The entries of the base's .git/index without stat data (system/gitindex.py), and the
    # base's own row (core/changes.py): a session repository whose only change is an index
    # rewritten with these same entries has exactly this status and row ("" = never skip).
    index_digest: str = ""
    row_known: bool = False
    remote_url: str | None = None
    branch: str | None = None
    upstream: str | None = None
    ahead: int = 0
    behind: int = 0
    commits: int = 0
    # Which entries of the base's index carry assume-valid / skip-worktree (gitindex.flags_digest):
    # incremental() takes a rewritten index as the base's only when these are the same ("" = never).
    index_flags: str = ""


def full_status(repo: Repository) -> dict[str, int]:
    """The exhaustive walk (`changes --full`): every file, every index entry."""
    return {path: int(flags) for path, flags in repo.status(untracked_files="all", ignored=False).items()}


def _index_delta(repo: Repository, head: str, index: Index) -> dict[str, str]:
    """path -> "status:id:mode" for every index entry that differs from the tree of `head`."""
    import pygit2  # (lazy: heavy, and only where a repository is open)

    tree = repo[head].peel(pygit2.Tree)
    found = {}
    for delta in tree.diff_to_index(index).deltas:
        side = delta.old_file if delta.status == pygit2.enums.DeltaStatus.DELETED else delta.new_file
        found[side.path] = f"{int(delta.status)}:{side.id}:{side.mode}"
    return found


def base_status(repo: Repository) -> BaseStatus:
    """The base repository's status, and what incremental() compares the session with."""
    if repo.head_is_unborn:
        return BaseStatus("", {}, {}, full_only="no commit yet")
    if os.path.isfile(os.path.join(repo.workdir, ".git")):
        return BaseStatus("", {}, {}, full_only="a .git file (worktree or submodule)")
    if os.path.lexists(os.path.join(repo.workdir, ".gitmodules")):
        return BaseStatus("", {}, {}, full_only="submodules")
    head = str(repo.head.target)
    index_file = os.path.join(repo.path, "index")
    digest = gitindex.index_digest(index_file)
    flags = gitindex.flags_digest_of(index_file)
    return BaseStatus(
        head, full_status(repo), _index_delta(repo, head, repo.index), index_digest=digest, index_flags=flags
    )


def only_index_refreshed(workdir: str, base: BaseStatus, changed: list[str]) -> bool:
    """The only change is `.git/index`, rewritten with the base's entries (stat data aside):
    then the status is the base's, and nothing else needs opening. `.git` is a directory here
    (it is unchanged, and base_status() leaves a `.git` file to the full walk)."""
    if not changed or any(p != ".git/index" for p in changed) or base.full_only or not base.index_digest:
        return False
    return gitindex.index_digest(os.path.join(workdir, ".git", "index")) == base.index_digest


def _rule_change(path: str) -> bool:
    """A changed path that alters how unchanged files are judged."""
    if path == ".git":
        return False
    if path.startswith(".git/"):
        rest = path[len(".git/") :]
        return not (rest in _GIT_HARMLESS or rest.startswith(_GIT_HARMLESS_DIRS) or rest.endswith(".lock"))
    return path.rsplit("/", 1)[-1] in _RULE_FILES


def _walk_files(workdir: str, top: str) -> list[str]:
    """Files (not directories) at or under `top` in the working tree, never following a link
    and never entering a nested repository or the repository's own .git."""
    found = []
    start = os.path.join(workdir, top)
    try:
        mode = os.lstat(start).st_mode
    except OSError:
        return []
    if not stat.S_ISDIR(mode):
        return [top]
    for dirpath, dirnames, filenames in os.walk(start):
        relative = os.path.relpath(dirpath, workdir)
        relative = "" if relative == "." else relative + "/"
        keep = []
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if name == ".git":
                continue
            if os.path.islink(full):
                found.append(relative + name)  # a link is a file to git
            elif os.path.lexists(os.path.join(full, ".git")):
                found.append(relative + name + "/")  # a nested repository: one entry
            else:
                keep.append(name)
        dirnames[:] = keep
        found += [relative + name for name in filenames]
    return found


def _under(ordered: list[str], prefix: str) -> list[str]:
    """The paths of a sorted list that start with prefix: O(log n + found)."""
    start = bisect.bisect_left(ordered, prefix)
    end = start
    while end < len(ordered) and ordered[end].startswith(prefix):
        end += 1
    return ordered[start:end]


def _index_under(index: Index, prefix: str) -> list[str]:
    """Index entries under prefix, by binary search (the index is sorted by path): O(log n)."""
    low, high = 0, len(index)
    while low < high:
        middle = (low + high) // 2
        if str(index[middle].path) < prefix:
            low = middle + 1
        else:
            high = middle
    found: list[str] = []
    while low < len(index) and (path := str(index[low].path)).startswith(prefix):
        found.append(path)
        low += 1
    return found


def _file_now_directory(repo: Repository, index: Index, path: str) -> int:
    """Status of a path that is a directory in the working tree but a file in the index or in
    HEAD (libgit2's status_file calls it ambiguous): what repo.status() reports for it."""
    import pygit2  # (lazy: heavy, and only where a repository is open)

    fs = pygit2.enums.FileStatus
    try:
        entry = index[path]
    except KeyError:
        entry = None
    try:
        in_head = repo.head.peel(pygit2.Tree)[path]
    except KeyError:
        in_head = None
    if in_head is not None and in_head.filemode == pygit2.enums.FileMode.TREE:
        in_head = None  # a directory in HEAD too: only its files have a status
    if entry is None:
        return int(fs.INDEX_DELETED) if in_head is not None else 0
    flags = int(fs.WT_DELETED)
    if in_head is None:
        return flags | int(fs.INDEX_NEW)
    if in_head.id != entry.id or in_head.filemode != entry.mode:
        flags |= int(fs.INDEX_MODIFIED)
    return flags


def incremental(repo: Repository, base: BaseStatus, changed: list[str]) -> dict[str, int] | None:
    """The status full_status() would give, from base + the changed paths (relative to the
    repository's working tree, `.git/...` included). None: only the full walk can tell."""
    import pygit2  # (lazy: heavy, and only where a repository is open)

    if base.full_only or repo.head_is_unborn:
        return None
    if any(_rule_change(p) for p in changed):
        return None
    index_rewritten = ".git/index" in changed
    dirty = {p for p in changed if p != ".git" and not p.startswith(".git/")}
    head = str(repo.head.target)
    if head != base.head:
        try:
            moved = repo.diff(base.head, head).deltas
        except (KeyError, ValueError, pygit2.GitError):
            return None  # the base's HEAD is gone from the session's object store
        for delta in moved:
            dirty.update((delta.old_file.path, delta.new_file.path))
    index = repo.index
    if index_rewritten:
        # assume-unchanged / skip-worktree hide or reveal a file's edit without the file
        # changing: not in the stream, so any difference from the base's takes the full walk.
        unchecked = gitindex.flags_digest_of(os.path.join(repo.path, "index"))
        if not unchecked or unchecked != base.index_flags:
            return None
        try:
            now = _index_delta(repo, base.head, index)
        except (KeyError, ValueError, pygit2.GitError):
            return None
        dirty.update(p for p in set(now) | set(base.staged) if now.get(p) != base.staged.get(p))
        dirty.update(p for p, flags in base.entries.items() if flags & pygit2.enums.FileStatus.CONFLICTED)
        if index.conflicts is not None:
            for ours_theirs in index.conflicts:
                dirty.update(entry.path for entry in ours_theirs if entry is not None)
    if not dirty:
        return dict(base.entries)
    workdir = repo.workdir
    known = sorted(base.entries)
    candidates: set[str] = set()
    for path in dirty:
        prefix = path.rstrip("/") + "/"
        candidates.add(path)
        candidates.update(_under(known, prefix))
        candidates.update(_walk_files(workdir, path))
        candidates.update(_index_under(index, prefix))  # tracked files of a directory now gone
    result = {p: f for p, f in base.entries.items() if p not in candidates}
    new, drop = pygit2.enums.FileStatus.WT_NEW, pygit2.enums.FileStatus.IGNORED
    for path in candidates:
        if path.endswith("/"):  # a nested repository: libgit2 reports it whole, untracked
            if os.path.isdir(os.path.join(workdir, path)):
                result[path] = base.entries.get(path, int(new))
            continue
        try:
            flags = int(repo.status_file(path))
        except pygit2.AmbiguousError:
            # libgit2's word for a path that is a directory now but a file in the index
            flags = _file_now_directory(repo, index, path)
        except (KeyError, ValueError, pygit2.GitError):
            continue  # nothing there, then or now
        if flags and not flags & drop:
            result[path] = flags
    return result
