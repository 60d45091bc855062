"""Attacks on how root touches a session's content (issue 9, classes 2, 4 and 7).

Every read and write of a session runs in the sandbox child as the session user: these attacks
aim git configuration, links, FIFOs and broken or huge repositories at herodev and assert the
safe outcome. Several also bypass herodev's explicit refusals and drive the sandbox directly,
to show the class is closed by where and as whom the code runs, not only by a check.
"""

from __future__ import annotations

import json
import os
import pwd
import resource
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from herodev_shell.core.settings import Settings, load_settings
from tests.conftest import HerodevEnv
from tests.system.gitworld import clone_into_code, git, git_world, make_remote, session_dir

pytestmark = pytest.mark.system

APP = "example.com/org/app"
OTHER = "example.com/org/other"


@pytest.fixture
def sw() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd]]:
    with git_world("herodev-sandbox-") as (world, owner):
        yield world, owner


def _settings(world: HerodevEnv) -> Settings:
    return load_settings(environ=world.env())


def _own(owner: pwd.struct_passwd, *paths: Path) -> None:
    """What a session writes is stored as the code owner on disk (idmapped)."""
    for path in paths:
        os.lchown(path, owner.pw_uid, owner.pw_gid)


def _world_with(world: HerodevEnv, owner: pwd.struct_passwd, *sessions: str) -> Path:
    trusted = make_remote(world, "trusted")
    clone_into_code(world, owner, str(trusted), APP)
    clone_into_code(world, owner, str(make_remote(world, "other")), OTHER)
    for name in sessions:
        world.run("create", name, check=True)
    return trusted


def _root_only(world: HerodevEnv) -> Path:
    secret = world.base / "rootonly"
    secret.mkdir(mode=0o700)
    (secret / "secret.txt").write_text("ROOT-ONLY-SECRET\n")
    return secret


def _unpushed_commit(world: HerodevEnv, owner: pwd.struct_passwd, name: str, message: str) -> str:
    repo = session_dir(world, name) / APP
    (repo / "work.txt").write_text(message + "\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)
    subprocess.run(["chown", "-R", f"{owner.pw_uid}:{owner.pw_gid}", str(repo)], check=True)
    return git("rev-parse", "HEAD", cwd=repo)


def _sandboxed_fetch(
    world: HerodevEnv, name: str, repo: Path, branch: str = "main"
) -> subprocess.CompletedProcess[str]:
    """push's fetch from the session, by hand, with herodev's sandboxed upload-pack and none of
    its checks: what git itself can reach from inside the sandbox."""
    from herodev_shell.core import session_sandbox
    from herodev_shell.system.sandbox_exec import upload_pack_command

    target = world.base / f"fetched-{name}.git"
    git("init", "-q", "--bare", str(target))
    command = upload_pack_command(session_sandbox.spec(_settings(world), name, [session_dir(world, name)]))
    return subprocess.run(
        ["git", "-C", str(target), "fetch", f"--upload-pack={command}", str(repo), f"+{branch}:refs/x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- the sandbox itself -------------------------------------------------------------------------


def test_the_sandbox_is_the_session_user_and_sees_only_its_own_session(
    sw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    world, owner = sw
    _world_with(world, owner, "alice", "bob")
    secret = _root_only(world)
    settings = _settings(world)
    alice = pwd.getpwnam(world.user("alice"))
    tree = session_dir(world, "alice")
    from herodev_shell.core import session_sandbox

    def probe() -> dict[str, object]:
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        try:
            (secret / "secret.txt").read_text()
            read_secret = "read"
        except OSError as exc:
            read_secret = type(exc).__name__
        try:
            (tree / "planted").write_text("x")
            wrote = "wrote"
        except OSError as exc:
            wrote = type(exc).__name__
        return {
            "ids": [*os.getresuid(), *os.getresgid()],
            "groups": os.getgroups(),
            "caps": [status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb")],
            "nnp": status["NoNewPrivs"].strip(),
            "sessions": sorted(os.listdir(settings.sessions_dir)),
            "code_root": sorted(os.listdir(settings.code_root)),
            "owner_of_app": os.stat(tree / APP / "README").st_uid,
            "secret": read_secret,
            "write": wrote,
            "tty": os.isatty(0) or os.isatty(1) or os.isatty(2),
            "sid": os.getsid(0) == os.getpid(),
            "dumpable": __import__("ctypes").CDLL(None).prctl(3, 0, 0, 0, 0),
            "env": sorted(k for k in os.environ if not k.startswith("HERODEV_")),
        }

    seen = session_sandbox.read(settings, "alice", [tree], probe, dict[str, object])
    assert seen["ids"] == [alice.pw_uid] * 3 + [alice.pw_gid] * 3
    assert seen["groups"] == []
    assert seen["caps"] == ["0000000000000000"] * 4 and seen["nnp"] == "1"
    assert seen["sessions"] == [world.user("alice")]  # no other session, no metadata, no base
    assert seen["code_root"] == [".sessions"]  # the code root itself is covered
    assert seen["owner_of_app"] == alice.pw_uid  # the same idmapped view as enter
    assert seen["secret"] == "PermissionError"
    assert seen["write"] == "OSError"  # a read-only view (EROFS)
    assert seen["tty"] is False and seen["sid"] is True
    assert seen["dumpable"] == 0  # no ptrace, no /proc/PID/mem for the session's processes
    assert set(seen["env"]) <= {"PATH", "LANG", "LC_ALL", "HOME"}  # type: ignore[arg-type]
    assert not (tree / "planted").exists()
    # a write lands as the session user's own writes do: stored as the code owner, no chown
    wrote = session_sandbox.write(settings, "alice", lambda: (tree / APP / "new.txt").write_text("x"), int)
    assert wrote == 1 and (tree / APP / "new.txt").stat().st_uid == owner.pw_uid
    checked = world.run("check").stdout
    assert "session sandbox\tpass" in checked and "uid 65534, capabilities 0000000000000000" in checked
    # control: as root, here, the secret and bob's session are right there
    assert (secret / "secret.txt").read_text() and (settings.sessions_dir / world.user("bob")).is_dir()
    world.run("delete", "-f", "alice", check=True)
    world.run("delete", "-f", "bob", check=True)


def test_a_subverted_child_cannot_hand_root_anything_but_checked_data(
    sw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    """The answer is JSON decoded against the expected type: no pickle, no objects, no paths out."""
    world, owner = sw
    _world_with(world, owner, "alice")
    from herodev_shell.core import changes, session_sandbox
    from herodev_shell.system import sandbox

    settings = _settings(world)
    tree = session_dir(world, "alice")
    with pytest.raises(sandbox.BadAnswer):
        session_sandbox.read(settings, "alice", [tree], lambda: {"path": 1}, changes.RepoChange)
    rows = changes.inspect_session(settings, "alice", tree, None, [APP])
    assert rows[0].path == APP and not rows[0].error
    found = session_sandbox.read_each(settings, "alice", [tree], lambda r: {"nope": r}, [APP], changes.RepoChange)
    assert isinstance(found[0], sandbox.Failure)
    world.run("delete", "-f", "alice", check=True)


# --- class 4: git configuration aimed outside the session ---------------------------------------


def test_core_worktree_at_a_root_only_dir_is_never_read_or_committed(
    sw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    world, owner = sw
    _world_with(world, owner, "mallory")
    secret = _root_only(world)
    repo = session_dir(world, "mallory") / APP
    git("config", "--file", str(repo / ".git/config"), "core.worktree", str(secret))
    (repo / "README").write_text("edit\n")
    _own(owner, repo / ".git/config", repo / "README")

    outputs = [
        world.run("changes", "-s", "mallory", "--json"),
        world.run("diff", "-s", "mallory"),
        world.run("commit", "-s", "mallory", "-m", "steal", APP),
        world.run("commit", "-s", "mallory", "-m", "steal"),
        world.run("push", "-s", "mallory"),
    ]
    for result in outputs:
        assert "ROOT-ONLY-SECRET" not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
    assert "secret.txt" not in git("ls-tree", "-r", "--name-only", "HEAD", cwd=repo)
    assert "secret.txt" in git("status", "--porcelain", cwd=repo)  # control: root's git reads it
    assert git("log", "-1", "--format=%s", cwd=repo) == "initial"
    # by construction: the sandbox itself, with no check in the way, cannot read the worktree
    import pygit2

    from herodev_shell.core import session_sandbox

    def status_without_checks() -> str:
        try:
            return str(pygit2.Repository(str(repo)).status())
        except (OSError, pygit2.GitError) as exc:
            return f"refused: {exc}"

    seen = session_sandbox.read(
        _settings(world), "mallory", [session_dir(world, "mallory")], status_without_checks, str
    )
    assert seen.startswith("refused") and "secret.txt" not in seen
    world.run("delete", "-f", "mallory", check=True)


def test_include_path_of_another_sessions_config_shows_nothing_of_it(sw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = sw
    _world_with(world, owner, "alice", "bob")
    bob_config = session_dir(world, "bob") / APP / ".git/config"
    git("config", "--file", str(bob_config), "remote.origin.url", "https://bob:TOKEN-OF-BOB@example.com/org/app.git")
    alice_repo = session_dir(world, "alice") / APP
    git("config", "--file", str(alice_repo / ".git/config"), "include.path", str(bob_config))
    git("config", "--file", str(alice_repo / ".git/config"), "--unset", "remote.origin.url")
    (alice_repo / "README").write_text("edit\n")
    _own(owner, alice_repo / ".git/config", alice_repo / "README", bob_config)

    for args in (["changes", "-s", "alice", "--json"], ["repos", "-s", "alice", "--json"], ["diff", "-s", "alice"]):
        result = world.run(*args)
        assert "TOKEN-OF-BOB" not in result.stdout + result.stderr, args
    # control: as root on the host, that include would have been read
    assert "TOKEN-OF-BOB" in git("config", "--file", str(alice_repo / ".git/config"), "--includes", "--list")
    world.run("delete", "-f", "alice", check=True)
    world.run("delete", "-f", "bob", check=True)


def test_commondir_with_a_trailing_space_delivers_no_other_sessions_commits(
    sw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    """commondir 'inside \\n': a check that strips sees the plain directory `inside`; git keeps
    the space and follows `inside ` (a link to bob's git dir) to push bob's unpushed work."""
    world, owner = sw
    trusted = _world_with(world, owner, "alice", "bob")
    _unpushed_commit(world, owner, "bob", "bob's unpushed work")
    bob_git = session_dir(world, "bob") / APP / ".git"
    git_dir = session_dir(world, "alice") / APP / ".git"
    (git_dir / "inside").mkdir()
    (git_dir / "inside ").symlink_to(bob_git)
    (git_dir / "commondir").write_text("inside \n")
    (git_dir / "README").write_text("x")
    _own(owner, git_dir / "inside", git_dir / "inside ", git_dir / "commondir")

    pushed = world.run("push", "-s", "alice", "--json")
    assert "Traceback" not in pushed.stderr
    assert "bob's unpushed work" not in git("log", "--format=%s", "main", cwd=trusted)
    # by construction: git upload-pack in the sandbox, with no herodev check at all
    fetched = _sandboxed_fetch(world, "alice", session_dir(world, "alice") / APP)
    assert fetched.returncode != 0
    assert "bob's unpushed work" not in git("log", "--all", "--format=%s", cwd=world.base / "fetched-alice.git")
    # control: root's git on the host keeps the space, follows the link and sees bob's work
    assert git("log", "-1", "--format=%s", "main", cwd=session_dir(world, "alice") / APP) == "bob's unpushed work"
    world.run("delete", "-f", "alice", check=True)
    world.run("delete", "-f", "bob", check=True)


def test_quoted_alternates_borrow_no_other_sessions_objects(sw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    """`"/…/dev_bob/…/objects"` in alternates: a check that does not unquote sees a relative
    path inside the repository; git unquotes it and borrows bob's objects."""
    world, owner = sw
    trusted = _world_with(world, owner, "alice", "bob")
    stolen = _unpushed_commit(world, owner, "bob", "bob's unpushed work")
    bob_objects = session_dir(world, "bob") / APP / ".git/objects"
    alice_repo = session_dir(world, "alice") / APP
    alternates = alice_repo / ".git/objects/info/alternates"
    alternates.write_text(f'"{bob_objects}"\n')
    (alice_repo / ".git/refs/heads/main").write_text(stolen + "\n")
    _own(owner, alternates, alice_repo / ".git/refs/heads/main")

    pushed = world.run("push", "-s", "alice", "--json")
    assert "Traceback" not in pushed.stderr
    assert "bob's unpushed work" not in git("log", "--format=%s", "main", cwd=trusted)
    fetched = _sandboxed_fetch(world, "alice", alice_repo)
    assert fetched.returncode != 0
    assert "bob's unpushed work" not in git("log", "--all", "--format=%s", cwd=world.base / "fetched-alice.git")
    # control: root's git on the host follows the quoted alternate to bob's commit
    assert git("cat-file", "-t", stolen, cwd=alice_repo) == "commit"
    world.run("delete", "-f", "alice", check=True)
    world.run("delete", "-f", "bob", check=True)


def test_the_explicit_refusals_parse_as_git_does() -> None:
    from herodev_shell.system import gitlib

    assert gitlib.commondir_readings("inside \n") == {"inside ", "inside"}
    assert gitlib.commondir_readings("../x\r\n") == {"../x"}
    assert "/a b/objects" in gitlib.alternates_readings('"/a b/objects"\n# c\n')
    assert "/x\n/y" in gitlib.alternates_readings('"/x\\n/y"')
    assert gitlib.unquote_c_style('"\\101\\t"') == "A\t"
    assert gitlib.unquote_c_style('"open') is None
    assert gitlib.gitfile_readings("gitdir: x \n") >= {"x ", "x"}


# --- class 2: a symlink aims root's writes ---------------------------------------------------------


def test_reorganize_in_a_session_creates_nothing_through_a_planted_link(
    sw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    world, owner = sw
    _world_with(world, owner, "mallory")
    victim = world.base / "rootdir"
    victim.mkdir(mode=0o755)
    root = session_dir(world, "mallory")
    repo = root / APP
    git("config", "--file", str(repo / ".git/config"), "remote.origin.url", "https://evil.example.net/x/app.git")
    (root / "evil.example.net").symlink_to(victim)
    _own(owner, repo / ".git/config", root / "evil.example.net")
    before = victim.stat().st_mtime_ns

    result = world.run("reorganize", "-s", "mallory", "--json")
    assert "Traceback" not in result.stderr
    assert list(victim.iterdir()) == []  # nothing created through the link ...
    # ... not even for a moment: root's old reorganize made victim/x there, failed the rename
    # across filesystems and removed it again, which left the directory's mtime changed
    assert victim.stat().st_mtime_ns == before
    assert (repo / ".git").is_dir()  # and the repository stayed where it was
    rows = {r["path"]: r for r in json.loads(result.stdout)}
    assert rows[APP]["status"] in ("failed", "skipped")
    world.run("delete", "-f", "mallory", check=True)


def test_a_link_swapped_in_during_commits_leads_no_write_out(sw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    """While commits run, the session keeps swapping its reflog directory for a link to a
    directory outside (world-writable, so only the kernel's nosymfollow stands in the way)."""
    import threading

    world, owner = sw
    _world_with(world, owner, "mallory")
    target = world.base / "outside"
    target.mkdir(mode=0o777)
    target.chmod(0o777)
    repo = session_dir(world, "mallory") / APP
    logs, parked = repo / ".git/logs", repo / ".git/logs.real"
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            try:
                logs.rename(parked)
                logs.symlink_to(target)
                time.sleep(0.001)
                logs.unlink()
                parked.rename(logs)
            except OSError:
                pass

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        kernel_refused = False
        for index in range(40):  # until the swap wins the race past herodev's own check
            (repo / "README").write_text(f"edit {index}\n")
            _own(owner, repo / "README")
            result = world.run("commit", "-s", "mallory", "-m", f"c{index}", APP)
            assert "Traceback" not in result.stderr
            if "Too many levels of symbolic links" in result.stdout:
                kernel_refused = True
                break
    finally:
        stop.set()
        swapper.join()
    if not logs.exists() and parked.exists():
        logs.unlink(missing_ok=True)
        parked.rename(logs)
    assert list(target.iterdir()) == []  # nothing written through the link, ever
    # the link was there when libgit2 wrote (herodev's check had passed): the kernel said no
    assert kernel_refused
    world.run("delete", "-f", "mallory", check=True)


# --- class 7: denial of service ----------------------------------------------------------------


FIFO_PLACES = ["HEAD", "index", "config", "packed-refs", "refs/heads/main"]


@pytest.mark.parametrize("place", FIFO_PLACES)
def test_a_fifo_where_git_expects_a_file_hangs_no_command(sw: tuple[HerodevEnv, pwd.struct_passwd], place: str) -> None:
    world, owner = sw
    _world_with(world, owner, "mallory")
    root = session_dir(world, "mallory")
    trap = root / APP / ".git" / place
    trap.unlink(missing_ok=True)
    os.mkfifo(trap)
    (root / APP / "README").write_text("edit\n")
    (root / OTHER / "README").write_text("other edit\n")
    _own(owner, trap, root / APP / "README", root / OTHER / "README")
    env = {"HERODEV_READ_TIMEOUT": "2"}
    commands = [
        ["changes", "-s", "mallory", "--json"],
        ["repos", "-s", "mallory", "--json"],
        ["diff", "-s", "mallory"],
        ["diff", "-s", "mallory", APP],
        ["commit", "-s", "mallory", "-m", "m", APP],
        ["-n", "reorganize", "-s", "mallory"],
        ["reorganize", "-s", "mallory"],
        ["-n", "repair"],
        ["repair"],
        ["commit", "-s", "mallory", "-m", "m"],
    ]
    for args in commands:
        started = time.monotonic()
        result = world.run(*args, timeout=90, **env)
        took = time.monotonic() - started
        assert took < 45, (args, took)
        assert result.returncode in (0, 1), (args, result.stderr)
        assert "Traceback" not in result.stderr, args
    found = {r["path"]: r for r in json.loads(world.run("changes", "-s", "mallory", "--json", **env).stdout)}
    assert found[APP]["error"]  # the trapped repository is a row with its error ...
    assert not found[OTHER]["error"]  # ... and the others are read as usual
    assert git("log", "-1", "--format=%s", cwd=root / OTHER) == "m"  # commit went on for the rest
    world.run("delete", "-f", "mallory", check=True, timeout=90, **env)
    assert not root.exists()


def test_a_broken_head_or_missing_parent_is_a_row_and_delete_still_works(
    sw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    world, owner = sw
    _world_with(world, owner, "mallory")
    root = session_dir(world, "mallory")
    (root / APP / ".git/HEAD").write_text("ref: refs/heads/..broken\n")
    other = root / OTHER
    tree = git("rev-parse", "HEAD^{tree}", cwd=other)
    fake = f"tree {tree}\nparent {'1' * 40}\nauthor M <m@x> 1 +0000\ncommitter M <m@x> 1 +0000\n\norphaned\n"
    orphan = subprocess.run(
        [
            "git",
            "-c",
            "safe.directory=*",
            "-C",
            str(other),
            "hash-object",
            "-t",
            "commit",
            "-w",
            "--literally",
            "--stdin",
        ],
        input=fake,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (other / ".git/refs/heads/main").write_text(orphan + "\n")
    subprocess.run(["chown", "-R", f"{owner.pw_uid}:{owner.pw_gid}", str(root / "example.com")], check=True)

    changes = world.run("changes", "-s", "mallory", "--json")
    assert changes.returncode in (0, 1) and "Traceback" not in changes.stderr
    rows = {r["path"]: r for r in json.loads(changes.stdout)}
    assert APP in rows and rows[APP]["error"]
    assert OTHER in rows
    for args in (["push", "-s", "mallory"], ["diff", "-s", "mallory"], ["repos", "-s", "mallory", "--json"], ["prune"]):
        result = world.run(*args)
        assert result.returncode in (0, 1) and "Traceback" not in result.stderr, args
    refused = world.run("delete", "mallory")
    assert refused.returncode == 1 and "not deleted" in refused.stderr
    world.run("delete", "-f", "mallory", check=True)
    assert not root.exists()


def test_a_huge_diff_is_capped_in_memory_and_output(sw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = sw
    _world_with(world, owner, "mallory")
    repo = session_dir(world, "mallory") / APP
    for index in range(3):
        (repo / f"big{index}.txt").write_text(f"line {index}\n" * 6_000_000)  # ~50 MB, a few hundred KB packed
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", f"big {index}", cwd=repo)
        (repo / f"big{index}.txt").unlink()
    git("gc", "-q", cwd=repo)
    (repo / "README").write_text("y\n" * 3_000_000)  # and a large unstaged change
    subprocess.run(["chown", "-R", f"{owner.pw_uid}:{owner.pw_gid}", str(repo)], check=True)
    packed = sum(p.stat().st_size for p in (repo / ".git/objects").rglob("*") if p.is_file())
    assert packed < 4 << 20

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = world.run("diff", "-s", "mallory", timeout=300)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) < 40 << 20  # was 410 MB
    assert "truncated" in result.stdout
    assert max(peak_kib, before) < 1 << 20  # KiB: under 1 GiB resident (was 1.2 GB)
    world.run("delete", "-f", "mallory", check=True)


# --- locks ------------------------------------------------------------------------------------------


def test_one_sessions_lock_holds_up_no_other_and_a_wait_names_the_holder(
    sw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    import fcntl

    from herodev_shell.core import locks

    world, owner = sw
    _world_with(world, owner, "alice", "bob")
    settings = _settings(world)
    path = locks.scan_lock_path(settings, "alice")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} scan of alice\t10:00:00\n".encode(), 0)
        waiting = subprocess.Popen(
            [*_herodev(), "changes", "-s", "alice"], env=world.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        started = time.monotonic()
        other = world.run("changes", "-s", "bob", timeout=60)
        assert other.returncode == 0 and time.monotonic() - started < 30  # bob never waits for alice
        time.sleep(max(0.0, 2.5 - (time.monotonic() - started)))
        assert waiting.poll() is None  # alice's scan waits for its own lock
    finally:
        os.close(fd)
    _out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0
    assert f"held by pid {os.getpid()} (scan of alice" in err.decode()
    world.run("delete", "-f", "alice", check=True)
    world.run("delete", "-f", "bob", check=True)


def _herodev() -> list[str]:
    import sys

    return [sys.executable, "-m", "herodev_shell"]


def test_the_sandbox_child_runs_in_the_sessions_cgroup(sw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    """Root's reads and writes of a session's content run in the session's cgroup, so its
    memory and tasks limits bound them too (hostile content cannot make root's read take the
    host's memory); a session whose group is gone gets it back, made as enter makes it."""
    world, owner = sw
    _world_with(world, owner, "alice")
    settings = _settings(world)
    tree = session_dir(world, "alice")
    from herodev_shell.core import limits, session_sandbox

    wanted = f"{world.cgroup}/{world.user('alice')}"

    def groups() -> list[str]:
        """The memory and pids controllers' groups (cgroup v1), or the unified one (v2)."""
        lines = Path("/proc/self/cgroup").read_text().splitlines()
        v1 = [line for line in lines if line.split(":")[1] in ("pids", "memory")]
        return v1 or [line for line in lines if line.startswith("0::")]

    try:
        seen = session_sandbox.read(settings, "alice", [tree], groups, list[str])
        assert seen and all(line.endswith(wanted) for line in seen), seen
        limits.remove_session_group(settings, "alice")
        assert limits.group_members(settings, "alice") == []
        wrote = session_sandbox.write(settings, "alice", groups, list[str])
        assert wrote and all(line.endswith(wanted) for line in wrote), wrote
        # control: this process (root, the parent) is in no session's group
        assert not any(line.endswith(wanted) for line in groups())
    finally:
        world.run("delete", "-f", "alice", check=True)
