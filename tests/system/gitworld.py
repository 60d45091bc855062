"""Helpers for the repository tests: real bare remotes, clones in a world's code root owned by a
real non-root code owner, a `git daemon` on 127.0.0.1, and work done in a session as its user."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import HerodevEnv, init_world, make_traversable_dir

# Root's test git may read repositories the code owner owns (remotes, clones). safe.directory
# from the global file, unlike `-c`, also reaches the upload-pack and receive-pack that local
# transports and `git daemon` start (git clears GIT_CONFIG_PARAMETERS for local transports).
TEST_GITCONFIG = Path(tempfile.gettempdir()) / "herodev-tests.gitconfig"
TEST_GITCONFIG.write_text("[safe]\n\tdirectory = *\n")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Tester",
    "GIT_AUTHOR_EMAIL": "tester@example.com",
    "GIT_COMMITTER_NAME": "Tester",
    "GIT_COMMITTER_EMAIL": "tester@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": str(TEST_GITCONFIG),
    "HOME": "/nonexistent",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
}


def git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    result = subprocess.run(
        ["git", "-c", "safe.directory=*", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def remove_world(world: HerodevEnv) -> None:
    world.cleanup()
    shutil.rmtree(world.base, ignore_errors=True)


def make_git_world(base: Path) -> tuple[HerodevEnv, pwd.struct_passwd]:
    """An initialised world whose code belongs to a real non-root user (named with the prefix)."""
    world, owner = init_world(base, with_owner=True)
    assert owner is not None
    (base / "remotes").mkdir(exist_ok=True)
    return world, owner


@contextmanager
def git_world(prefix: str) -> Iterator[tuple[HerodevEnv, pwd.struct_passwd]]:
    """make_git_world in its own traversable dir, removed (users, mounts, files) afterwards."""
    world, owner = make_git_world(make_traversable_dir(prefix))
    try:
        yield world, owner
    finally:
        remove_world(world)


def make_remote(world: HerodevEnv, name: str, files: dict[str, str] | None = None) -> Path:
    """A bare repository with one commit on main, owned by the code owner (the operator) as a
    bare repository on the same server would be."""
    remote = world.base / "remotes" / f"{name}.git"
    seed = world.base / "remotes" / f"{name}.seed"
    git("init", "-q", "--bare", str(remote))
    git("init", "-q", str(seed))
    for path, text in (files or {"README": f"{name}\n"}).items():
        (seed / path).parent.mkdir(parents=True, exist_ok=True)
        (seed / path).write_text(text)
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "initial", cwd=seed)
    git("push", "-q", str(remote), "main", cwd=seed)
    if world.owner is not None:
        subprocess.run(["chown", "-R", f"{world.owner.pw_uid}:{world.owner.pw_gid}", str(remote)], check=True)
    return remote


def clone_into_code(world: HerodevEnv, owner: pwd.struct_passwd, url: str, relative: str) -> Path:
    target = world.code_root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    git("clone", "-q", url, str(target))
    chown_tree(world.code_root, owner)
    return target


def chown_tree(root: Path, owner: pwd.struct_passwd) -> None:
    """The code belongs to the code owner (except the sessions dir, which is root's)."""
    for entry in root.iterdir():
        if entry.name == ".sessions":
            continue
        subprocess.run(["chown", "-R", "-h", f"{owner.pw_uid}:{owner.pw_gid}", str(entry)], check=True)


def session_dir(world: HerodevEnv, name: str) -> Path:
    return world.sessions_dir / world.user(name)


def in_session(world: HerodevEnv, name: str, script: str) -> str:
    """Run a shell script as the session's user, inside the session (cwd = code root)."""
    result = world.run("enter", name, "--", "sh", "-c", f"cd {world.code_root} && {script}")
    if result.returncode != 0:
        raise AssertionError(f"in session {name}: {script}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def session_git(world: HerodevEnv, name: str, relative: str, *args: str) -> str:
    """git as the session's user inside the session (its own config and hooks: its business)."""
    quoted = " ".join(f"'{a}'" for a in args)
    env = "GIT_AUTHOR_NAME=S GIT_AUTHOR_EMAIL=s@x GIT_COMMITTER_NAME=S GIT_COMMITTER_EMAIL=s@x"
    return in_session(world, name, f"cd {relative} && env {env} git {quoted}")


def changes_json(world: HerodevEnv, name: str, *extra: str) -> dict[str, dict[str, object]]:
    result = world.run("changes", "-s", name, "--json", *extra, check=True)
    return {row["path"]: row for row in json.loads(result.stdout)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def git_daemon(base_path: Path) -> Iterator[str]:
    """`git daemon --export-all --enable=receive-pack` on 127.0.0.1; yields git://127.0.0.1:PORT.

    It runs as root and serves repositories the operator owns (TEST_GITCONFIG's safe.directory)."""
    port = free_port()
    process = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--enable=receive-pack",
            "--reuseaddr",
            "--init-timeout=10",  # bounded: a connection that says nothing, or hangs, is dropped
            "--timeout=120",
            "--max-connections=8",
            f"--base-path={base_path}",
            f"--port={port}",
            "--listen=127.0.0.1",
            str(base_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=GIT_ENV,
        start_new_session=True,  # its own process group: teardown ends the daemon and its children
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("git daemon did not start")
        yield f"git://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
