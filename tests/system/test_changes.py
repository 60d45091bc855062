"""changes / diff / commit / push in real sessions, against real bare remotes and a git daemon."""

from __future__ import annotations

import json
import os
import pwd
import shutil
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import HerodevEnv
from tests.system.gitworld import (
    changes_json,
    clone_into_code,
    git,
    git_daemon,
    git_world,
    in_session,
    make_remote,
    session_dir,
    session_git,
)

pytestmark = pytest.mark.system

KINDS = ["modified", "staged", "untracked", "newdir", "deleted", "renamed", "chmod", "commit", "branch", "stash"]


@pytest.fixture(scope="module")
def gw() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd]]:
    with git_world("herodev-changes-") as (world, owner):
        for kind in [*KINDS, "untouched"]:
            remote = make_remote(world, kind, {"README": "hello\n", "src/main.py": "print(1)\n"})
            clone_into_code(world, owner, str(remote), f"example.com/org/{kind}")
        yield world, owner


def make_change(world: HerodevEnv, session: str, kind: str) -> None:
    repo = f"example.com/org/{kind}"
    scripts = {
        "modified": f"echo more >> {repo}/README",
        "staged": f"echo staged >> {repo}/README && cd {repo} && git add README",
        "untracked": f"echo new > {repo}/new.txt",
        "newdir": f"mkdir -p {repo}/newdir/deeper && echo x > {repo}/newdir/deeper/f",
        "deleted": f"rm {repo}/src/main.py",
        "renamed": f"mv {repo}/README {repo}/README.md",
        "chmod": f"chmod +x {repo}/src/main.py",
    }
    if kind in scripts:
        in_session(world, session, scripts[kind])
    elif kind == "commit":
        in_session(world, session, f"echo c >> {repo}/README")
        session_git(world, session, repo, "commit", "-qam", "made in the session")
    elif kind == "branch":
        session_git(world, session, repo, "branch", "feature")
    elif kind == "stash":
        in_session(world, session, f"echo s >> {repo}/README")
        session_git(world, session, repo, "stash", "-q")


def test_each_kind_of_change_is_detected(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, _ = gw
    world.run("create", "kinds", check=True)
    assert changes_json(world, "kinds") == {}  # a clean session reports nothing
    clean = world.run("changes", "-s", "kinds", check=True)
    assert clean.stdout == "" and clean.stderr.strip() == "no changes in session kinds"
    for kind in KINDS:
        make_change(world, "kinds", kind)
    in_session(world, "kinds", "echo loose > notes.txt")
    found = changes_json(world, "kinds")
    org = "example.com/org"
    assert set(found) == {f"{org}/{k}" for k in KINDS}
    assert found[f"{org}/modified"]["modified"] == 1
    assert found[f"{org}/staged"]["staged"] == 1 and found[f"{org}/staged"]["modified"] == 0
    assert found[f"{org}/untracked"]["untracked"] == 1
    assert found[f"{org}/newdir"]["untracked"] == 1
    assert found[f"{org}/deleted"]["deleted"] == 1
    assert found[f"{org}/renamed"]["deleted"] == 1 and found[f"{org}/renamed"]["untracked"] == 1
    assert found[f"{org}/chmod"]["modified"] == 1
    assert found[f"{org}/commit"]["ahead"] == 1 and found[f"{org}/commit"]["commits"] == 1
    assert found[f"{org}/branch"]["branches"] == ["feature"]
    assert found[f"{org}/stash"]["stashes"] == 1 and found[f"{org}/stash"]["modified"] == 0
    for row in found.values():
        assert {"path", "remote", "branch", "staged", "modified", "untracked", "ahead", "behind"} <= set(row)
        assert row["branch"] == "main" and row["remote"].endswith(".git")
    # the full scan agrees with the change stream
    assert changes_json(world, "kinds", "--full") == found
    verbose = world.run("-v", "changes", "-s", "kinds", check=True)
    assert "change stream" in verbose.stderr and "btrfs send" in verbose.stderr
    assert "notes.txt" in verbose.stderr  # outside any repository: said, not hidden

    diff = world.run("diff", "-s", "kinds", check=True).stdout
    assert "+more" in diff and "notes.txt" in diff and "made in the session" in diff
    assert "new file mode" in diff and "+x" in diff  # untracked content is shown
    stat = world.run("diff", "-s", "kinds", "--stat", f"{org}/modified", check=True).stdout
    assert "README" in stat and "+more" not in stat and "untracked" not in stat
    # in a pipe: repository, block, file, added, deleted, tab-separated
    assert f"{org}/modified\tnot staged\tREADME\t1\t0" in stat.splitlines()
    numbers = json.loads(world.run("diff", "-s", "kinds", "--stat", "--json", f"{org}/modified", check=True).stdout)
    assert numbers["repos"][0]["unstaged"] == [{"path": "README", "added": 1, "deleted": 0}]  # numbers, not text
    committed = json.loads(world.run("diff", "-s", "kinds", "--stat", "--json", f"{org}/commit", check=True).stdout)
    assert committed["repos"][0]["commits"][0]["files"] == [{"path": "README", "added": 1, "deleted": 0}]
    data = json.loads(world.run("diff", "-s", "kinds", "--json", check=True).stdout)
    assert {r["path"] for r in data["repos"]} == set(found) and "notes.txt" in data["outside"]
    assert not (session_dir(world, "kinds").parent / f"{world.user('kinds')}.scan").exists()

    refused = world.run("delete", "kinds")
    assert refused.returncode == 1 and f"{org}/commit" in refused.stderr
    world.run("delete", "-f", "kinds", check=True)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["edit", "add", "delete", "mkdir", "chmod", "rename", "outside", "newrepo"]),
            st.integers(0, 4),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_fast_path_and_full_scan_agree(gw: tuple[HerodevEnv, pwd.struct_passwd], steps: list) -> None:
    world, owner = gw
    if not (world.sessions_dir / f"{world.user('prop')}.json").exists():
        world.run("create", "prop", check=True)
    root = session_dir(world, "prop")
    repos = sorted(str(p.parent.relative_to(root)) for p in root.glob("example.com/org/*/.git"))
    for action, number in steps:
        repo = root / repos[number % len(repos)]
        target = repo / "src" / "main.py"
        if action == "edit" and target.exists():
            target.write_text(target.read_text() + "edit\n")
        elif action == "add":
            (repo / f"added{number}.txt").write_text("x\n")
        elif action == "delete" and (repo / "README").exists():
            (repo / "README").unlink()
        elif action == "mkdir":
            (repo / f"dir{number}" / "sub").mkdir(parents=True, exist_ok=True)
            (repo / f"dir{number}" / "sub" / "f").write_text("f\n")
        elif action == "chmod" and target.exists():
            os.chmod(target, target.stat().st_mode ^ 0o100)
        elif action == "rename" and target.exists():
            target.rename(repo / "src" / f"moved{number}.py")
        elif action == "outside":
            (root / f"loose{number}").write_text("x\n")
        elif action == "newrepo":
            git("init", "-q", str(root / "local" / f"new{number}"))
            (root / "local" / f"new{number}" / "f").write_text("f\n")
        for path in root.rglob("*"):
            if ".sessions" not in path.parts:
                os.lchown(path, owner.pw_uid, owner.pw_gid)
    assert changes_json(world, "prop") == changes_json(world, "prop", "--full")


def test_commit_then_push_lands_in_the_remote(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = gw
    remote = make_remote(world, "deliver")
    clone_into_code(world, owner, str(remote), "example.com/org/deliver")
    world.run("create", "ship", check=True)
    in_session(world, "ship", "echo work >> example.com/org/deliver/README && echo n > example.com/org/deliver/new")
    in_session(
        world,
        "ship",
        "echo ignored > example.com/org/deliver/x.log && echo '*.log' > example.com/org/deliver/.gitignore",
    )
    committed = json.loads(world.run("commit", "-s", "ship", "-m", "from the session", "--json", check=True).stdout)
    assert [(o["path"], o["status"]) for o in committed] == [("example.com/org/deliver", "done")]
    repo = session_dir(world, "ship") / "example.com/org/deliver"
    assert git("log", "-1", "--format=%an <%ae>|%s", cwd=repo).startswith(world.user("ship"))
    assert git("log", "-1", "--format=%s", cwd=repo) == "from the session"
    assert "x.log" not in git("show", "--stat", "HEAD", cwd=repo)
    # what root wrote there belongs to the code owner, so the session's user can go on working
    assert all(p.lstat().st_uid == owner.pw_uid for p in (repo / ".git").rglob("*"))
    session_git(world, "ship", "example.com/org/deliver", "commit", "--allow-empty", "-qm", "second")

    pushed = world.run("push", "-s", "ship", "--json", check=True)
    outcome = json.loads(pushed.stdout)
    assert [(o["path"], o["status"]) for o in outcome] == [("example.com/org/deliver", "done")]
    assert git("log", "-1", "--format=%s", "main", cwd=remote) == "second"
    assert git("log", "-2", "--format=%s", "main", cwd=remote).splitlines() == ["second", "from the session"]
    assert changes_json(world, "ship") == {}  # pushed work no longer counts
    assert all(p.lstat().st_uid == owner.pw_uid for p in (repo / ".git").rglob("*"))
    nothing = world.run("push", "-s", "ship", check=True)
    assert "nothing to push" in nothing.stderr
    world.run("delete", "ship", check=True)


def test_rejected_push_keeps_the_commit_and_others_still_push(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = gw
    ok_remote = make_remote(world, "okpush")
    bad_remote = make_remote(world, "badpush")
    clone_into_code(world, owner, str(ok_remote), "example.com/org/okpush")
    clone_into_code(world, owner, str(bad_remote), "example.com/org/badpush")
    world.run("create", "race", check=True)
    # someone else pushes to badpush meanwhile: the session's push is not a fast-forward
    other = world.base / "other-clone"
    git("clone", "-q", str(bad_remote), str(other))
    (other / "README").write_text("theirs\n")
    git("commit", "-qam", "theirs", cwd=other)
    git("push", "-q", "origin", "main", cwd=other)
    shutil.rmtree(other)
    for name in ("okpush", "badpush"):
        in_session(world, "race", f"echo mine >> example.com/org/{name}/README")
    result = world.run("push", "-s", "race", "-m", "mine", "--json")
    assert result.returncode == 1
    rows = {(o["path"], o["action"]): o for o in json.loads(result.stdout)}
    assert rows[("example.com/org/okpush", "push")]["status"] == "done"
    bad = rows[("example.com/org/badpush", "push")]
    assert bad["status"] == "failed" and ("non-fast-forward" in bad["detail"] or "fetch first" in bad["detail"])
    assert "badpush" in result.stderr
    assert git("log", "-1", "--format=%s", "main", cwd=ok_remote) == "mine"
    assert git("log", "-1", "--format=%s", "main", cwd=bad_remote) == "theirs"
    repo = session_dir(world, "race") / "example.com/org/badpush"
    assert git("log", "-1", "--format=%s", cwd=repo) == "mine"  # nothing lost
    left = changes_json(world, "race")
    assert list(left) == ["example.com/org/badpush"] and left["example.com/org/badpush"]["ahead"] == 1
    world.run("delete", "-f", "race", check=True)


def test_push_over_git_daemon_and_a_repository_only_in_the_session(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = gw
    served = world.base / "served"
    served.mkdir()
    seeded = make_remote(world, "netrepo")
    shutil.move(str(seeded), served / "netrepo.git")
    empty = served / "fresh.git"
    git("init", "-q", "--bare", str(empty))
    with git_daemon(served) as url:
        clone_into_code(world, owner, f"{url}/netrepo.git", "127.0.0.1/netrepo")
        world.run("create", "net", check=True)
        in_session(world, "net", "echo net >> 127.0.0.1/netrepo/README")
        in_session(world, "net", "mkdir -p scratch/fresh && cd scratch/fresh && git init -q -b main && echo a > a")
        found = changes_json(world, "net")
        assert found["scratch/fresh"]["session_only"] is True and found["scratch/fresh"]["untracked"] == 1
        # the session-only repository's commit stays behind: exit 1 though the other went out
        result = world.run("push", "-s", "net", "-m", "over the network", "--json", check=1)
        rows = {(o["path"], o["action"]): o for o in json.loads(result.stdout)}
        assert rows[("127.0.0.1/netrepo", "push")]["status"] == "done"
        skipped = rows[("scratch/fresh", "push")]
        assert skipped["status"] == "skipped" and "--remote" in skipped["detail"] and skipped["left_behind"]
        assert "scratch/fresh (skipped)" in result.stderr
        assert git("log", "-1", "--format=%s", "main", cwd=served / "netrepo.git") == "over the network"
        unnamed = world.run("push", "-s", "net", "--remote", f"{url}/fresh.git")
        assert unnamed.returncode == 2 and "REPO" in unnamed.stderr
        named = world.run("push", "-s", "net", "--remote", f"{url}/fresh.git", "scratch/fresh", "--json", check=True)
        assert [o["status"] for o in json.loads(named.stdout)] == ["done"]
        assert git("log", "-1", "--format=%s", "main", cwd=empty) == "over the network"
    world.run("delete", "-f", "net", check=True)


def test_commands_need_a_session_and_name_real_repositories(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, _ = gw
    missing = world.run("commit", "-m", "x")
    assert missing.returncode == 2 and "no session chosen" in missing.stderr
    nosuch = world.run("changes", "-s", "nosuch")
    assert nosuch.returncode == 1 and "nosuch" in nosuch.stderr
    world.run("create", "names", check=True)
    bad = world.run("diff", "-s", "names", "no/such/repo")
    assert bad.returncode == 1 and "no repository" in bad.stderr
    empty = world.run("commit", "-s", "names", "-m", "nothing")
    assert empty.returncode == 0 and "nothing to commit" in empty.stderr
    in_session(world, "names", "echo dry >> example.com/org/untouched/README")
    chained = world.run("--json", "-c", "use names; changes", check=True)  # `use` carries to the next command
    assert [r["path"] for r in json.loads(chained.stdout)] == ["example.com/org/untouched"]
    head = git("rev-parse", "HEAD", cwd=session_dir(world, "names") / "example.com/org/untouched")
    planned = json.loads(world.run("-n", "push", "-s", "names", "-m", "dry", "--json", check=True).stdout)
    assert [(o["action"], o["status"]) for o in planned] == [("commit", "planned"), ("push", "planned")]
    assert git("rev-parse", "HEAD", cwd=session_dir(world, "names") / "example.com/org/untouched") == head
    world.run("delete", "-f", "names", check=True)


def test_changes_without_a_session_reads_the_code_root(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = gw
    repo = clone_into_code(world, owner, str(make_remote(world, "rootdirty")), "example.com/org/rootdirty")
    (repo / "README").write_text("operator edit\n")
    try:
        found = {r["path"]: r for r in json.loads(world.run("changes", "--json", check=True).stdout)}
        assert list(found) == ["example.com/org/rootdirty"] and found["example.com/org/rootdirty"]["modified"] == 1
        assert "+operator edit" in world.run("diff", check=True).stdout
    finally:
        git("checkout", "--", "README", cwd=repo)


def test_changes_in_a_pipe_is_one_line_per_repository(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    """What else a repository has (new commits, branches, an error) is its last column in a
    pipe, never a line of its own that `cut -f1` or `grep` takes for a record; a repository
    that cannot be read has an unknown branch, not "(detached)"."""
    world, _ = gw
    world.run("create", "piped", check=True)
    try:
        make_change(world, "piped", "commit")
        make_change(world, "piped", "branch")
        in_session(world, "piped", "cd example.com/org/untouched && git config include.path /etc/shadow")
        lines = world.run("changes", "-s", "piped", check=True).stdout.splitlines()
        assert lines[0].split("\t")[-1] == "other"
        records = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
        assert all(len(fields) == len(lines[0].split("\t")) for fields in records.values()), lines
        assert set(records) == {f"example.com/org/{k}" for k in ("commit", "branch", "untouched")}, lines
        assert "1 new commit(s)" in records["example.com/org/commit"][-1]
        assert "branch feature" in records["example.com/org/branch"][-1]
        assert records["example.com/org/untouched"][1] == "?" and records["example.com/org/untouched"][-1]
    finally:
        world.run("delete", "-f", "piped")


def test_diff_stat_in_a_pipe_is_one_table_of_whole_records(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    """Each file a line naming its repository and block: no '===' headings, per-block headers or
    totals between records (what a terminal gets), so awk can sum a column."""
    world, _ = gw
    world.run("create", "statpipe", check=True)
    try:
        make_change(world, "statpipe", "commit")
        make_change(world, "statpipe", "modified")
        lines = world.run("diff", "--stat", "-s", "statpipe", check=True).stdout.splitlines()
        assert lines[0].split("\t") == ["repository", "block", "file", "added", "deleted"]
        records = [line.split("\t") for line in lines[1:]]
        assert all(len(r) == 5 for r in records), lines
        blocks = {(r[0], "commit" if r[1].startswith("commit ") else r[1], r[2]) for r in records}
        assert blocks == {
            ("example.com/org/commit", "commit", "README"),
            ("example.com/org/modified", "not staged", "README"),
        }
        assert sum(int(r[3]) for r in records) == 2
    finally:
        world.run("delete", "-f", "statpipe")


def test_diff_stat_counts_a_file_with_a_nul_in_its_first_8000_bytes_as_binary(
    gw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    """git's rule, through the session sandbox: a NUL in the first 8000 bytes makes a file binary
    (--json null counts, '-' in a pipe, as `git diff --numstat`); a NUL later, or the eight
    characters `\\x00\\x01` (what dash's printf writes for '\\x00\\x01': it has no \\x escapes),
    is text, one line added. Untracked, unstaged, staged and committed blocks alike."""
    world, _ = gw
    world.run("create", "binstat", check=True)
    repo = "example.com/org/untracked"
    write = (
        "import sys; d = sys.argv[1]; "
        "open(d + '/blob', 'wb').write(bytes([0, 1])); "
        "open(d + '/src/main.py', 'wb').write(bytes([0, 1])); "
        "open(d + '/committed', 'wb').write(bytes([0, 1])); "
        "open(d + '/edge', 'wb').write(b'a' * 7999 + bytes([0]) + b'\\n'); "
        "open(d + '/late', 'wb').write(b'a' * 8000 + bytes([0]) + b'\\n'); "
        "open(d + '/literal', 'wb').write(bytes.fromhex('5c7830305c783031'))"  # \x00\x01 as text
    )
    try:
        in_session(world, "binstat", f'python3 -c "{write}" {repo}')
        session_git(world, "binstat", repo, "add", "committed")
        session_git(world, "binstat", repo, "commit", "-qm", "a binary file")
        in_session(world, "binstat", f"printf '\\000\\001' > {repo}/README && cd {repo} && git add README")
        data = json.loads(world.run("diff", "--stat", "--json", "-s", "binstat", repo, check=True).stdout)
        (found,) = data["repos"]
        unstaged = {f["path"]: (f["added"], f["deleted"]) for f in found["unstaged"]}
        assert unstaged == {
            "blob": (None, None),
            "src/main.py": (None, None),
            "edge": (None, None),
            "late": (1, 0),
            "literal": (1, 0),
        }, found
        assert [(f["path"], f["added"]) for f in found["staged"]] == [("README", None)], found
        (commit,) = found["commits"]
        assert [(f["path"], f["added"], f["deleted"]) for f in commit["files"]] == [("committed", None, None)]
        piped = world.run("diff", "--stat", "-s", "binstat", repo, check=True).stdout.splitlines()
        records = {(r[1], r[2]): r[3:] for r in (line.split("\t") for line in piped[1:])}
        assert records[("not staged", "blob")] == ["-", "-"] and records[("staged", "README")] == ["-", "-"], piped
        assert records[("not staged", "late")] == ["1", "0"], piped
    finally:
        world.run("delete", "-f", "binstat")
