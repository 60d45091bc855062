"""Shared test helpers: real loopback btrfs code roots, real users, the real herodev binary.

System tests never touch /code, /etc/fstab or users they did not create: each gets its own
code root, image, fstab and user prefix through the environment, and cleans up even when it
fails. Where the machine cannot run them they are skipped, except under
HERODEV_REQUIRE_SYSTEM_TESTS=1 (CI), where that skip is a failure.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRE_SYSTEM = os.environ.get("HERODEV_REQUIRE_SYSTEM_TESTS") == "1"


def _system_blocker() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not shutil.which("mkfs.btrfs") or not shutil.which("btrfs"):
        return "needs btrfs-progs"
    if "btrfs" not in Path("/proc/filesystems").read_text():
        return "the kernel has no btrfs"
    if not shutil.which("losetup"):
        return "needs losetup"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    blocker = _system_blocker()
    if blocker is None:
        return
    if REQUIRE_SYSTEM and any("system" in item.keywords for item in items):
        raise pytest.UsageError(f"HERODEV_REQUIRE_SYSTEM_TESTS=1 but system tests cannot run here: {blocker}")
    for item in items:
        if "system" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=f"system test: {blocker}"))


# --- cleaning up the machine ----------------------------------------------------------------


def mounts_under(directory: Path) -> list[str]:
    prefix = os.path.realpath(directory).rstrip("/") + "/"
    targets = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4].replace("\\040", " ")
        if target.startswith(prefix) or target == prefix.rstrip("/"):
            targets.append(target)
    return targets


def unmount_all_under(directory: Path) -> None:
    for target in sorted(mounts_under(directory), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)


def detach_loops_of(image: Path) -> None:
    if not image.exists():
        return
    out = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        device = line.split(":", 1)[0]
        subprocess.run(["losetup", "-d", device], check=False, capture_output=True)


def remove_users_with_prefix(prefix: str) -> None:
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix):
            subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], check=False, capture_output=True)
            subprocess.run(["userdel", "-r", "-f", entry.pw_name], check=False, capture_output=True)
            subprocess.run(["groupdel", entry.pw_name], check=False, capture_output=True)


def remove_cgroups(parent: str) -> None:
    """Kill and remove a test world's fleet cgroup and every session group under it."""
    from herodev_shell.system import cgroups

    hierarchy = cgroups.detect()
    if not hierarchy.usable:
        return
    fleet = cgroups.fleet_group(hierarchy, parent)
    for _, directory in fleet.dirs():
        if directory.is_dir():
            for child in [p for p in directory.iterdir() if p.is_dir()]:
                with contextlib.suppress(Exception):
                    cgroups.remove(cgroups.Group(hierarchy, f"{parent}/{child.name}"))
    with contextlib.suppress(Exception):
        cgroups.remove(fleet)


# --- the environment a test runs herodev in ------------------------------------------------


@dataclass
class HerodevEnv:
    """One isolated herodev world: its own code root, image, fstab, config and user prefix."""

    base: Path
    prefix: str
    extra_env: dict[str, str] = field(default_factory=dict)
    owner: pwd.struct_passwd | None = None  # the code owner, when not root (init_world(with_owner=True))

    @property
    def code_root(self) -> Path:
        return self.base / "code"

    @property
    def image(self) -> Path:
        return self.base / "btrfs-code.img"

    @property
    def fstab(self) -> Path:
        return self.base / "fstab"

    @property
    def config(self) -> Path:
        return self.base / "config.toml"

    @property
    def sessions_dir(self) -> Path:
        return self.code_root / ".sessions"

    def user(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERODEV_")}
        env.update(
            HERODEV_CODE_ROOT=str(self.code_root),
            HERODEV_IMAGE=str(self.image),
            HERODEV_IMAGE_SIZE="1G",
            HERODEV_FSTAB=str(self.fstab),
            HERODEV_USER_PREFIX=self.prefix,
            HERODEV_CONFIG=str(self.config),
            HERODEV_AUDIT_LOG=str(self.base / "audit.jsonl"),
            NO_COLOR="1",
            COLUMNS="200",
            HOME=str(self.base / "home"),
            PROMPT_TOOLKIT_NO_CPR="1",
            HERODEV_CGROUP=self.cgroup,
        )
        env.pop("SUDO_UID", None)
        # The development shell sets PYTHONDONTWRITEBYTECODE: every herodev process would then
        # compile all its modules from source (0.3-0.5 s each on the shared machine).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("SUDO_GID", None)
        env.update(self.extra_env)
        env.update(extra)
        return env

    def run(
        self, *args: str, input: str | None = None, check: bool | int = False, timeout: float = 300, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the real `herodev` (as `python -m herodev_shell`) in this world."""
        result = subprocess.run(
            [sys.executable, "-m", "herodev_shell", *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=timeout,
            check=False,
        )
        expected = 0 if check is True else check
        if check is not False and result.returncode != expected:
            raise AssertionError(
                f"herodev {' '.join(args)} exited {result.returncode}, expected {expected}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    @property
    def cgroup(self) -> str:
        """The world's own fleet cgroup, so that no test touches the real `herodev` group."""
        return f"herodev-test-{self.prefix.rstrip('_')}"

    def cleanup(self) -> None:
        remove_cgroups(self.cgroup)
        remove_users_with_prefix(self.prefix)
        unmount_all_under(self.base)
        detach_loops_of(self.image)


def new_prefix() -> str:
    # t + 3 hex + _ : unique per test world, short enough to leave 27 characters for names.
    return f"t{secrets.token_hex(2)[:3]}_"


def make_traversable_dir(prefix: str = "herodev-test-") -> Path:
    """A world's base directory that session users can traverse to its code root.

    Not under pytest's basetemp: every pytest run (another engineer's too) resets
    /tmp/pytest-of-root to 0700, which would lock session users out of a world there. Not
    under /tmp either: a session gets a private /tmp, which would hide a code root there.
    """
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    os.chmod(base, 0o711)
    return base


@contextlib.contextmanager
def traversable_base(prefix: str = "herodev-test-") -> Iterator[Path]:
    base = make_traversable_dir(prefix)
    try:
        yield base
    finally:
        if not mounts_under(base):  # never rmtree through a mount that failed to go
            shutil.rmtree(base, ignore_errors=True)


def init_world(base: Path, with_owner: bool = False, **env: str) -> tuple[HerodevEnv, pwd.struct_passwd | None]:
    """An initialised world at base; with_owner: the code belongs to a real non-root user.

    The owner is named with the world's prefix (`<prefix>owner`), so cleanup removes it too.
    """
    world = HerodevEnv(base, new_prefix())
    world.extra_env.update(env)
    world.config.write_text("")
    (base / "home").mkdir(exist_ok=True)
    try:
        if not with_owner:
            world.run("-f", "init", "--no-packages", check=True)
            return world, None
        subprocess.run(["useradd", "--no-create-home", "--user-group", world.user("owner")], check=True)
        owner = pwd.getpwnam(world.user("owner"))
        world.owner = owner
        world.run("-f", "init", "--no-packages", check=True, SUDO_UID=str(owner.pw_uid), SUDO_GID=str(owner.pw_gid))
        return world, owner
    except BaseException:
        world.cleanup()  # the caller never gets this world: nothing of it may stay behind
        raise


@pytest.fixture
def hd_env() -> Iterator[HerodevEnv]:
    """An isolated world, not yet initialised."""
    with traversable_base() as base:
        world = HerodevEnv(base, new_prefix())
        world.config.write_text("")
        (base / "home").mkdir()
        try:
            yield world
        finally:
            world.cleanup()


@contextlib.contextmanager
def _initialised_world() -> Iterator[HerodevEnv]:
    with traversable_base() as base:
        world = HerodevEnv(base, new_prefix())
        try:
            world, _ = init_world(base)
            yield world
        finally:
            world.cleanup()


@pytest.fixture
def hd_world() -> Iterator[HerodevEnv]:
    """An initialised world: a fresh 1G loopback btrfs mounted at its own code root."""
    with _initialised_world() as world:
        yield world


@pytest.fixture(scope="module")
def hd_module_world() -> Iterator[HerodevEnv]:
    """One initialised world shared by a test module (a loopback image per module)."""
    with _initialised_world() as world:
        yield world
