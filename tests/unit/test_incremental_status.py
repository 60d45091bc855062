"""Property: the incremental status (base status + changed paths) equals the full walk.

Real git repositories in a temporary directory (no btrfs, no root): a base repository with
some state of its own (staged, modified, untracked, ignored files), a copy of it as the
session (`cp -a`, as a snapshot would be), random edits in the session, and the changed paths
found by comparing the two trees the way the btrfs change stream reports them (a directory
that exists on one side only is one path, not its files; timestamps alone are no change).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from herodev_shell.system import gitstatus

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@x",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@x",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}
FILES = [f"d{i % 3}/sub{i % 2}/f{i}.txt" for i in range(12)] + ["top.txt", "d0/x.log"]


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "core.fsmonitor=false", "-c", "init.defaultBranch=main", *args],
        cwd=repo,
        env=GIT_ENV,
        check=True,
        capture_output=True,
    )


def make_base(root: Path, pre: list[tuple[str, int]]) -> Path:
    base = root / "base"
    base.mkdir()
    git(base, "init", "-q")
    (base / ".gitignore").write_text("*.log\nbuild/\n")
    for index, path in enumerate(FILES):
        target = base / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{path} {index}\n")
    git(base, "add", "-A")
    git(base, "commit", "-qm", "one")
    (base / "top.txt").write_text("second\n")
    git(base, "commit", "-qam", "two")
    for op, pick in pre:  # the base's own uncommitted state
        apply(base, op, pick)
    return base


# --- edits ------------------------------------------------------------------------------------

OPS = [
    "modify",
    "create",
    "create_dir",
    "delete",
    "delete_dir",
    "rename_dir",
    "add",
    "add_all",
    "rm_cached",
    "commit",
    "chmod",
    "file_to_dir",
    "refresh",
    "symlink",
    "reset_soft",
    "branch",
    "ignored",
    "touch",
    "stash",
]


def _files(repo: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            if not name.startswith(".git"):  # edits of the ignore rules are tested on their own
                found.append(os.path.relpath(os.path.join(dirpath, name), repo))
    return found


def _dirs(repo: Path) -> list[str]:
    found = []
    for dirpath, dirnames, _ in os.walk(repo):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        found += [os.path.relpath(os.path.join(dirpath, d), repo) for d in dirnames]
    return found


def apply(repo: Path, op: str, pick: int) -> None:
    # an edit that does not fit the tree as it is now (a file where a directory is) is skipped
    with contextlib.suppress(OSError):
        _apply(repo, op, pick)


def _apply(repo: Path, op: str, pick: int) -> None:
    files, dirs = _files(repo), _dirs(repo)
    some = files[pick % len(files)] if files else None
    somedir = dirs[pick % len(dirs)] if dirs else None
    if op == "modify" and some:
        with open(repo / some, "a") as handle:
            handle.write(f"more {pick}\n")
    elif op == "create":
        target = repo / (somedir or ".") / f"new{pick}.txt"
        if not target.is_dir():
            target.write_text(f"new {pick}\n")
    elif op == "create_dir":
        target = repo / f"fresh{pick}" / "inner"
        target.mkdir(parents=True, exist_ok=True)
        (target / "a.txt").write_text("a\n")
        (target.parent / "b.txt").write_text("b\n")
    elif op == "delete" and some:
        (repo / some).unlink()
    elif op == "delete_dir" and somedir:
        shutil.rmtree(repo / somedir)
    elif op == "rename_dir" and somedir and not (repo / f"moved{pick}").exists():
        os.rename(repo / somedir, repo / f"moved{pick}")
    elif op == "add" and some:
        subprocess.run(["git", "add", "--", some], cwd=repo, env=GIT_ENV, capture_output=True)  # ignored: refused
    elif op == "add_all":
        git(repo, "add", "-A")
    elif op == "rm_cached" and some:
        subprocess.run(["git", "rm", "-q", "--cached", "--", some], cwd=repo, env=GIT_ENV, capture_output=True)
    elif op == "commit":
        subprocess.run(["git", "commit", "-qam", f"c{pick}"], cwd=repo, env=GIT_ENV, capture_output=True)
    elif op == "chmod" and some and not os.path.islink(repo / some):
        os.chmod(repo / some, 0o755)
    elif op == "file_to_dir" and some and not os.path.islink(repo / some):
        (repo / some).unlink()
        (repo / some).mkdir()
        (repo / some / "inside.txt").write_text("inside\n")
    elif op == "refresh":
        git(repo, "status", "--porcelain")  # rewrites the index (stat data) and nothing else
    elif op == "symlink" and some:
        link = repo / f"link{pick}"
        if not os.path.lexists(link):
            os.symlink(some, link)
    elif op == "reset_soft":
        subprocess.run(["git", "reset", "-q", "--soft", "HEAD~1"], cwd=repo, env=GIT_ENV, capture_output=True)
    elif op == "branch":
        subprocess.run(["git", "checkout", "-q", "-b", f"b{pick}"], cwd=repo, env=GIT_ENV, capture_output=True)
    elif op == "ignored":
        if not (repo / (somedir or ".") / f"junk{pick}.log").is_dir():
            (repo / (somedir or ".") / f"junk{pick}.log").write_text("ignored\n")
        (repo / "build").mkdir(exist_ok=True)
        (repo / "build" / f"out{pick}").write_text("ignored\n")
    elif op == "touch" and some and not os.path.islink(repo / some):
        os.utime(repo / some, (1_000_000_000 + pick, 1_000_000_000 + pick))
    elif op == "stash":
        subprocess.run(["git", "stash", "-q", "-u"], cwd=repo, env=GIT_ENV, capture_output=True)


# --- the change stream, emulated ----------------------------------------------------------------


def _entry(path: Path) -> tuple[str, int, bytes] | None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if os.path.islink(path):
        return ("link", 0, os.readlink(path).encode())
    if os.path.isdir(path):
        return ("dir", info.st_mode & 0o7777, b"")
    return ("file", info.st_mode & 0o7777, path.read_bytes())


def changed_paths(base: Path, session: Path, relative: str = "") -> list[str]:
    """Paths that differ (content, type, mode; not times). A directory on one side only is one
    path, as btrfs send names a created, deleted or renamed tree."""
    names: set[str] = set()
    for side in (base, session):
        where = side / relative
        if where.is_dir() and not where.is_symlink():
            names.update(os.listdir(where))
    found = []
    for name in sorted(names):
        path = f"{relative}/{name}" if relative else name
        old, new = _entry(base / path), _entry(session / path)
        if old == new and old is not None and old[0] != "dir":
            continue
        if old is not None and new is not None and old[0] == new[0] == "dir":
            if old[1] != new[1]:
                found.append(path)
            found += changed_paths(base, session, path)
            continue
        found.append(path)
    return found


# --- the property ----------------------------------------------------------------------------

edits = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 1000)), min_size=1, max_size=6)
RULES = {"ignore_rules"}


@settings(
    max_examples=int(os.environ.get("HERODEV_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    pre=st.lists(
        st.tuples(st.sampled_from(["modify", "create", "add", "delete", "ignored"]), st.integers(0, 99)), max_size=3
    ),
    session_edits=edits,
)
def test_incremental_status_equals_the_full_walk(
    pre: list[tuple[str, int]], session_edits: list[tuple[str, int]]
) -> None:
    with tempfile.TemporaryDirectory(prefix="herodev-incr-") as top:
        root = Path(top)
        base = make_base(root, pre)
        session = root / "session"
        subprocess.run(["cp", "-a", str(base), str(session)], check=True)
        for op, pick in session_edits:
            apply(session, op, pick)
        changed = changed_paths(base, session)
        base_repo = pygit2.Repository(str(base))
        session_repo = pygit2.Repository(str(session))
        before = gitstatus.base_status(base_repo)
        assert not before.full_only
        fast = gitstatus.incremental(session_repo, before, changed)
        full = gitstatus.full_status(session_repo)
        assert fast is not None, changed  # no edit here touches the ignore rules or .git/config
        assert fast == full, (session_edits, changed)
        if gitstatus.only_index_refreshed(str(session), before, changed):  # the skip: the base's status
            assert before.entries == full, (session_edits, changed)


def test_a_changed_gitignore_or_config_asks_for_the_full_walk() -> None:
    with tempfile.TemporaryDirectory(prefix="herodev-incr-") as top:
        base = make_base(Path(top), [])
        repo = pygit2.Repository(str(base))
        before = gitstatus.base_status(repo)
        assert gitstatus.incremental(repo, before, ["d0/.gitignore"]) is None
        assert gitstatus.incremental(repo, before, [".git/config"]) is None
        assert gitstatus.incremental(repo, before, [".git/info/exclude"]) is None
        assert gitstatus.incremental(repo, before, [".git/refs/heads/main", ".git/logs/HEAD"]) == before.entries


def test_one_edit_in_a_large_repository_reads_only_that_path() -> None:
    """Cost follows the changes: status_file is asked about the edited path only (counted)."""
    with tempfile.TemporaryDirectory(prefix="herodev-incr-") as top:
        base = make_base(Path(top), [])
        for index in range(2000):
            target = base / "bulk" / f"d{index % 40}" / f"f{index}.txt"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("x\n")
        git(base, "add", "-A")
        git(base, "commit", "-qm", "bulk")
        before = gitstatus.base_status(pygit2.Repository(str(base)))
        (base / "bulk" / "d3" / "f3.txt").write_text("changed\n")
        asked: list[str] = []

        class Counting(pygit2.Repository):  # type: ignore[misc]
            def status_file(self, path: str) -> int:
                asked.append(path)
                return int(super().status_file(path))

        result = gitstatus.incremental(Counting(str(base)), before, ["bulk/d3/f3.txt"])
        assert result == {"bulk/d3/f3.txt": int(pygit2.enums.FileStatus.WT_MODIFIED)}
        assert asked == ["bulk/d3/f3.txt"]


# --- an index rewritten by `git status`: same entries, new stat data ----------------------------


def _session_of(base: Path) -> Path:
    session = base.parent / "session"
    subprocess.run(["cp", "-a", str(base), str(session)], check=True)
    return session


def _rows(session: Path, base: Path, changed: list[str]) -> tuple[object, object, list[Path]]:
    """changes.inspect of the session with the skip allowed, and with it refused (the full
    computation); the repositories the first one opened."""
    from dataclasses import replace

    from herodev_shell.core import changes
    from herodev_shell.system import gitlib

    status = changes._base_status_of(base, ".")
    assert status.row_known and status.index_digest
    opened: list[Path] = []
    real = gitlib.open_repo

    def counting(workdir: Path, root: Path) -> pygit2.Repository:
        opened.append(workdir)
        return real(workdir, root)

    gitlib.open_repo = counting
    try:
        fast = changes.inspect(session, ".", base, changed, status)
    finally:
        gitlib.open_repo = real
    slow = changes.inspect(session, ".", base, changed, replace(status, row_known=False))
    return fast, slow, opened


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_an_index_rewritten_with_the_same_entries_is_the_base_status_without_opening_anything(
    version: str,
) -> None:
    with tempfile.TemporaryDirectory(prefix="herodev-incr-") as top:
        base = make_base(Path(top), [])
        (base / "top.txt").write_text("modified\n")
        (base / "d0/sub0/f0.txt").write_text("staged\n")
        (base / "untracked.txt").write_text("untracked\n")
        git(base, "add", "d0/sub0/f0.txt")
        git(base, "update-index", "--index-version", version)
        git(base, "status", "--porcelain")
        session = _session_of(base)
        git(session, "status", "--porcelain")  # new inodes: every entry's stat data rewritten
        assert (session / ".git/index").read_bytes() != (base / ".git/index").read_bytes()
        changed = changed_paths(base, session)
        assert changed == [".git/index"]
        before = gitstatus.base_status(pygit2.Repository(str(base)))
        assert gitstatus.only_index_refreshed(str(session), before, changed)
        assert gitstatus.full_status(pygit2.Repository(str(session))) == before.entries
        fast, slow, opened = _rows(session, base, changed)
        assert opened == []  # the skip: no repository opened
        assert fast == slow
        assert fast.staged and fast.modified and fast.untracked  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "change",
    [
        ["add", "extra.txt"],  # an untracked file of the base staged
        ["rm", "-q", "--cached", "top.txt"],
        ["update-index", "--chmod=+x", "d0/sub0/f0.txt"],
        # a flag, no content: hides the base's edit of a file no changed path names (full walk)
        ["update-index", "--assume-unchanged", "d1/sub1/f1.txt"],
        ["update-index", "--skip-worktree", "d1/sub1/f1.txt"],
        ["restore", "--staged", "d2/sub0/f2.txt"],  # the base's staged file unstaged
    ],
)
def test_an_index_rewritten_with_a_staged_change_is_not_skipped(change: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="herodev-incr-") as top:
        base = make_base(Path(top), [])
        (base / "extra.txt").write_text("extra\n")
        (base / "d2/sub0/f2.txt").write_text("staged in the base\n")
        git(base, "add", "d2/sub0/f2.txt")
        (base / "d1/sub1/f1.txt").write_text("modified in the base\n")
        git(base, "status", "--porcelain")
        session = _session_of(base)
        git(session, *change)
        changed = changed_paths(base, session)
        assert [p for p in changed if not p.startswith(".git/objects/")] == [".git/index"], changed
        before = gitstatus.base_status(pygit2.Repository(str(base)))
        # the entries tell, whatever else changed (git add also writes an object)
        assert not gitstatus.only_index_refreshed(str(session), before, [".git/index"])
        fast, slow, opened = _rows(session, base, changed)
        assert opened  # computed, not skipped
        assert fast == slow
        full = gitstatus.full_status(pygit2.Repository(str(session)))
        assert full != before.entries
        from herodev_shell.core import changes

        # what `changes --full` computes for this repository (no change stream: the full walk)
        assert fast == changes.inspect(session, ".", base, None, changes._base_status_of(base, "."))
        fast_flags = gitstatus.incremental(pygit2.Repository(str(session)), before, changed)
        if "--assume-unchanged" in change or "--skip-worktree" in change:
            assert fast_flags is None  # the flags changed: the full walk, not the base's edit
        else:
            assert fast_flags == full


def test_an_index_the_digest_cannot_vouch_for_is_never_skipped() -> None:
    """A bad checksum, a FIFO or a link where the index was, an index this parser does not
    know: "cannot tell", so the repository is computed as before."""
    from herodev_shell.system import gitindex

    with tempfile.TemporaryDirectory(prefix="herodev-incr-") as top:
        base = make_base(Path(top), [])
        git(base, "status", "--porcelain")
        data = (base / ".git/index").read_bytes()
        assert gitindex.entries_digest(data)
        assert gitindex.entries_digest(data[:-1] + bytes([data[-1] ^ 1])) == ""
        assert gitindex.entries_digest(data[:40] + bytes([data[40] ^ 1]) + data[41:]) == ""  # checksum
        assert gitindex.entries_digest(b"DIRC" + b"\0" * 40) == ""
        before = gitstatus.base_status(pygit2.Repository(str(base)))
        session = _session_of(base)
        index = session / ".git/index"
        index.unlink()
        os.mkfifo(index)
        assert not gitstatus.only_index_refreshed(str(session), before, [".git/index"])  # and no hang
        index.unlink()
        os.symlink(base / ".git/index", index)
        assert not gitstatus.only_index_refreshed(str(session), before, [".git/index"])
        index.unlink()
        shutil.copy(base / ".git/index", index)
        assert gitstatus.only_index_refreshed(str(session), before, [".git/index"])
        assert not gitstatus.only_index_refreshed(str(session), before, [".git/index", "top.txt"])
        assert not gitstatus.only_index_refreshed(str(session), before, [".git", ".git/index"])


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_the_flags_digest_names_the_path_and_the_flag(version: str) -> None:
    """v4 stores paths as a change to the previous one: the digest rebuilds them, so the same
    flag on another path, or the other flag on the same path, is a different digest."""
    from herodev_shell.system import gitindex

    with tempfile.TemporaryDirectory(prefix="herodev-incr-") as top:
        base = make_base(Path(top), [])
        git(base, "update-index", "--index-version", version)
        index = base / ".git/index"
        seen = [gitindex.flags_digest(index.read_bytes())]
        for flag, path in [
            ("assume-unchanged", "d1/sub1/f1.txt"),
            ("assume-unchanged", "d1/sub0/f4.txt"),
            ("skip-worktree", "d1/sub0/f4.txt"),
        ]:
            git(base, "update-index", f"--{flag}", path)
            seen.append(gitindex.flags_digest(index.read_bytes()))
            git(base, "update-index", "--index-version", "3" if version == "4" else "4")
            assert gitindex.flags_digest(index.read_bytes()) == seen[-1]  # whole paths, any version
            git(base, "update-index", "--index-version", version)
            git(base, "update-index", f"--no-{flag}", path)
            assert gitindex.flags_digest(index.read_bytes()) == seen[0]
        assert all(seen) and len(set(seen)) == 4
