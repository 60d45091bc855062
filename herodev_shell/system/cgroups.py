"""Control groups: a herodev parent group that can cap the fleet, one group per session under it.

Two layouts, chosen from the mount table:

- cgroup v2 (production: systemd, unified hierarchy at /sys/fs/cgroup). herodev writes the
  cgroup fs itself under `<mount>/<parent>`; on a systemd host `parent` must name a subtree
  systemd delegated to herodev (a unit with Delegate=yes; see README "Resource limits"), or
  systemd may rearrange it. Limits: memory.max, cpu.max + cpu.weight, pids.max; usage from
  memory.current, cpu.stat, pids.current; cgroup.kill ends every process at once.
- cgroup v1 (this development machine: no systemd, one hierarchy per controller). The same
  group is made in the memory, cpu, cpuacct, pids and freezer hierarchies. Limits:
  memory.limit_in_bytes, cpu.cfs_quota_us + cpu.shares, pids.max; killing freezes the group
  first so that nothing forks between listing the pids and killing them.

A process joins a group by writing "0" to its cgroup.procs (in every v1 hierarchy): the
session's children do that themselves, as root, before they drop privileges and exec, so
no session code ever runs outside its group. Group names come from validated session user
names only (NAME_RE); nothing here takes a path a session could shape.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.errors import HerodevError

MOUNTINFO = Path("/proc/self/mountinfo")
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer")
V2_CONTROLLERS = ("memory", "cpu", "pids")
CFS_PERIOD_US = 100_000
NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")  # a Linux user name as herodev makes them
PARENT_RE = re.compile(r"^[A-Za-z0-9_.@-]+(/[A-Za-z0-9_.@-]+)*$")


@dataclass(frozen=True)
class Limits:
    memory: int | None = None  # bytes; None: no limit
    cpus: float | None = None  # CPUs' worth of time (quota) and the matching weight
    tasks: int | None = None  # processes and threads


@dataclass(frozen=True)
class Usage:
    memory: int | None = None  # bytes charged now (page cache included)
    memory_peak: int | None = None
    cpu_seconds: float | None = None  # since the group was made
    tasks: int | None = None
    oom_kills: int | None = None


@dataclass(frozen=True)
class Hierarchy:
    """Where the controllers are: v2 (one mount) or v1 (controller -> mount), or none."""

    version: int  # 2, 1, or 0 when neither is usable
    v2_root: Path | None = None
    v1_roots: tuple[tuple[str, Path], ...] = ()

    @property
    def usable(self) -> bool:
        return self.version in (1, 2)

    def v1_root(self, controller: str) -> Path | None:
        return dict(self.v1_roots).get(controller)

    def describe(self) -> str:
        if self.version == 2:
            return f"cgroup v2 at {self.v2_root}"
        if self.version == 1:
            return "cgroup v1 (" + ", ".join(c for c, _ in self.v1_roots) + ")"
        return "no cgroup controllers mounted"


@dataclass(frozen=True)
class Group:
    """One group, as a directory per hierarchy (one for v2, one per controller for v1)."""

    hierarchy: Hierarchy
    relative: str  # "<parent>/<name>", or "<parent>" for the fleet group

    def dirs(self) -> list[tuple[str, Path]]:
        """(controller, directory); v2 has one directory named by the empty controller."""
        if self.hierarchy.version == 2:
            assert self.hierarchy.v2_root is not None
            return [("", self.hierarchy.v2_root / self.relative)]
        return [(c, root / self.relative) for c, root in self.hierarchy.v1_roots]

    def dir_of(self, controller: str) -> Path | None:
        if self.hierarchy.version == 2:
            assert self.hierarchy.v2_root is not None
            return self.hierarchy.v2_root / self.relative
        root = self.hierarchy.v1_root(controller)
        return root / self.relative if root else None

    def procs_files(self) -> tuple[str, ...]:
        """The cgroup.procs files a process writes "0" into to join this group everywhere."""
        return tuple(os.fspath(d / "cgroup.procs") for _, d in self.dirs())

    def exists(self) -> bool:
        return any(d.is_dir() for _, d in self.dirs())


# --- finding the hierarchies ------------------------------------------------------------------


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def detect(mountinfo: str | None = None) -> Hierarchy:
    """v2 when the unified hierarchy has the controllers we need, else v1 when mounted."""
    text = MOUNTINFO.read_text() if mountinfo is None else mountinfo
    v2: list[Path] = []
    v1: dict[str, Path] = {}
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        target, fstype, options = Path(_unescape(fields[4])), tail[0], tail[2].split(",")
        if fstype == "cgroup2":
            v2.append(target)
        elif fstype == "cgroup":
            for controller in V1_CONTROLLERS:
                if controller in options:
                    v1.setdefault(controller, target)
    for root in v2:
        try:
            available = (root / "cgroup.controllers").read_text().split()
        except OSError:
            continue
        if set(V2_CONTROLLERS) <= set(available):
            return Hierarchy(2, v2_root=root)
    if "memory" in v1 or "pids" in v1:
        return Hierarchy(1, v1_roots=tuple(sorted(v1.items())))
    return Hierarchy(0)


def _check_parent(parent: str) -> None:
    if not PARENT_RE.match(parent) or any(part in (".", "..") for part in parent.split("/")):
        raise HerodevError(f"invalid cgroup parent {parent!r}", hint="a relative path such as 'herodev'")


def fleet_group(hierarchy: Hierarchy, parent: str) -> Group:
    _check_parent(parent)
    return Group(hierarchy, parent)


def session_group(hierarchy: Hierarchy, parent: str, name: str) -> Group:
    """The group of one session; name is the session's user name (validated again here)."""
    _check_parent(parent)
    if not NAME_RE.match(name):
        raise HerodevError(f"invalid cgroup name {name!r}")
    return Group(hierarchy, f"{parent}/{name}")


# --- small file helpers -------------------------------------------------------------------


def _write(path: Path, value: str) -> None:
    # O_WRONLY without O_CREAT: a cgroup file that is not there is an error, never a new file.
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None


def _keyed(text: str | None, key: str) -> int | None:
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
            return int(parts[1])
    return None


# --- making groups and setting limits -----------------------------------------------------------


def _enable_v2_controllers(hierarchy: Hierarchy, relative: str) -> None:
    """Every ancestor of relative (root included) hands memory, cpu and pids to its children."""
    assert hierarchy.v2_root is not None
    current = hierarchy.v2_root
    for part in ["", *relative.split("/")[:-1]]:
        current = current / part if part else current
        enabled = (_read(current / "cgroup.subtree_control") or "").split()
        missing = [c for c in V2_CONTROLLERS if c not in enabled]
        if missing:
            try:
                _write(current / "cgroup.subtree_control", " ".join("+" + c for c in missing))
            except OSError as exc:
                raise HerodevError(
                    f"cannot enable {', '.join(missing)} in {current}: {exc.strerror}",
                    hint="on a systemd host give herodev a delegated subtree (README: Resource limits)",
                ) from None


def ensure(group: Group, limits: Limits | None = None, mode: int = 0o711, gid: int = 0) -> Group:
    """Make the group (and its parents) where missing; set limits when given.

    mode and gid are the group directory's: the fleet's is 0711 (nobody lists the sessions'
    groups, so no session sees another's pids or usage); a session's is 0750 with the
    session's group, so its own programs can read their limits (a JVM sizing its heap) and
    nothing else. The files in it stay root's: reading is all a session can do."""
    if not group.hierarchy.usable:
        raise HerodevError("no cgroup controllers are mounted", hint="mount cgroup v2, or the v1 controllers")
    if group.hierarchy.version == 2:
        _enable_v2_controllers(group.hierarchy, group.relative)
    for _, directory in group.dirs():
        try:
            directory.mkdir(parents=True, exist_ok=True)
            info = os.stat(directory, follow_symlinks=False)
            if info.st_gid != gid:
                os.chown(directory, 0, gid, follow_symlinks=False)
            if info.st_mode & 0o7777 != mode:
                os.chmod(directory, mode, follow_symlinks=False)
        except OSError as exc:
            raise HerodevError(f"cannot make cgroup {directory}: {exc.strerror}") from None
    freezer = group.dir_of("freezer") if group.hierarchy.version == 1 else None
    state = freezer / "freezer.state" if freezer is not None else None
    if state is not None and (_read(state) or "").strip() in ("FROZEN", "FREEZING"):
        _write(state, "THAWED")  # a kill_all cut short (herodev killed mid-way) must not leave it frozen
    if limits is not None:
        set_limits(group, limits)
    return group


def _v1_memory(value: int | None) -> str:
    return "-1" if value is None else str(value)


def set_limits(group: Group, limits: Limits) -> None:
    """Write every limit (None lifts it). Lowering memory below use reclaims or fails clearly."""
    writes: list[tuple[Path | None, str]] = []
    quota = None if limits.cpus is None else max(1000, round(limits.cpus * CFS_PERIOD_US))
    if group.hierarchy.version == 2:
        directory = group.dir_of("")
        assert directory is not None
        weight = 100 if limits.cpus is None else min(10_000, max(1, round(limits.cpus * 100)))
        writes = [
            (directory / "memory.max", "max" if limits.memory is None else str(limits.memory)),
            (directory / "cpu.max", f"{'max' if quota is None else quota} {CFS_PERIOD_US}"),
            (directory / "cpu.weight", str(weight)),
            (directory / "pids.max", "max" if limits.tasks is None else str(limits.tasks)),
        ]
        swap = directory / "memory.swap.max"
        if swap.exists():  # a memory cap means RAM: the session must not slow the host by swapping instead
            writes.append((swap, "max" if limits.memory is None else "0"))
    else:
        memory, cpu, pids = group.dir_of("memory"), group.dir_of("cpu"), group.dir_of("pids")
        shares = 1024 if limits.cpus is None else max(2, round(limits.cpus * 1024))
        writes = [
            (memory and memory / "memory.limit_in_bytes", _v1_memory(limits.memory)),
            (cpu and cpu / "cpu.cfs_period_us", str(CFS_PERIOD_US)),
            (cpu and cpu / "cpu.cfs_quota_us", "-1" if quota is None else str(quota)),
            (cpu and cpu / "cpu.shares", str(shares)),
            (pids and pids / "pids.max", "max" if limits.tasks is None else str(limits.tasks)),
        ]
        memsw = memory / "memory.memsw.limit_in_bytes" if memory else None
        if memsw is not None and memsw.exists():
            # RAM + swap = RAM: no swapping past the cap. The kernel keeps memsw >= memory at
            # every step, so the order depends on the direction: try it before and after.
            with contextlib.suppress(OSError):
                _write(memsw, _v1_memory(limits.memory))
            writes.insert(1, (memsw, _v1_memory(limits.memory)))
    for path, value in writes:
        if path is None:
            continue
        try:
            _write(path, value)
        except OSError as exc:
            if exc.errno == errno.EBUSY and path.name.startswith("memory."):
                raise HerodevError(
                    f"cannot lower the memory limit to {value} bytes: the session uses more and it "
                    "could not be reclaimed",
                    hint="end some of its processes first",
                ) from None
            if exc.errno == errno.EINVAL and path.name == "cpu.cfs_quota_us":
                # a child quota above its parent's is refused in v1: say which limit binds
                raise HerodevError(
                    f"cannot set {limits.cpus} CPUs: the fleet's CPU limit is lower", hint="raise the fleet limit first"
                ) from None
            raise HerodevError(f"cannot write {value} to {path}: {exc.strerror}") from None


def read_limits(group: Group) -> Limits:
    """What the kernel enforces now (None where unlimited or unknown)."""
    if group.hierarchy.version == 2:
        directory = group.dir_of("")
        assert directory is not None
        memory = _int(_read(directory / "memory.max"))
        cpu = (_read(directory / "cpu.max") or "max").split()
        tasks = _int(_read(directory / "pids.max"))
        cpus = int(cpu[0]) / int(cpu[1]) if len(cpu) == 2 and cpu[0].isdigit() and cpu[1].isdigit() else None
        return Limits(memory, cpus, tasks)
    memory_dir, cpu_dir, pids_dir = group.dir_of("memory"), group.dir_of("cpu"), group.dir_of("pids")
    memory = _int(_read(memory_dir and memory_dir / "memory.limit_in_bytes"))
    if memory is not None and memory >= (1 << 62):
        memory = None  # v1 says "no limit" as a huge page-aligned number
    quota = _int(_read(cpu_dir and cpu_dir / "cpu.cfs_quota_us"))
    period = _int(_read(cpu_dir and cpu_dir / "cpu.cfs_period_us")) or CFS_PERIOD_US
    tasks = _int(_read(pids_dir and pids_dir / "pids.max"))
    return Limits(memory, None if quota is None else quota / period, tasks)


# --- usage and members ----------------------------------------------------------------------


def usage(group: Group) -> Usage:
    if not group.exists():
        return Usage()
    if group.hierarchy.version == 2:
        directory = group.dir_of("")
        assert directory is not None
        usec = _keyed(_read(directory / "cpu.stat"), "usage_usec")
        return Usage(
            memory=_int(_read(directory / "memory.current")),
            memory_peak=_int(_read(directory / "memory.peak")),
            cpu_seconds=None if usec is None else usec / 1e6,
            tasks=_int(_read(directory / "pids.current")),
            oom_kills=_keyed(_read(directory / "memory.events"), "oom_kill"),
        )
    memory, cpuacct, pids = group.dir_of("memory"), group.dir_of("cpuacct"), group.dir_of("pids")
    nanos = _int(_read(cpuacct and cpuacct / "cpuacct.usage"))
    return Usage(
        memory=_int(_read(memory and memory / "memory.usage_in_bytes")),
        memory_peak=_int(_read(memory and memory / "memory.max_usage_in_bytes")),
        cpu_seconds=None if nanos is None else nanos / 1e9,
        tasks=_int(_read(pids and pids / "pids.current")),
        oom_kills=_keyed(_read(memory and memory / "memory.oom_control"), "oom_kill"),
    )


def members(group: Group) -> list[int]:
    """Every pid in the group, in any hierarchy (a process may have left some but not all)."""
    found: set[int] = set()
    for _, directory in group.dirs():
        text = _read(directory / "cgroup.procs") or ""
        found.update(int(pid) for pid in text.split() if pid.isdigit())
    return sorted(found)


def attach(group: Group, pid: int) -> None:
    """Move pid into the group in every hierarchy (a running process; children join by "0")."""
    for _, directory in group.dirs():
        try:
            _write(directory / "cgroup.procs", str(pid))
        except OSError as exc:
            raise HerodevError(f"cannot move process {pid} into {directory}: {exc.strerror}") from None


def join(procs_files: tuple[str, ...]) -> None:
    """Move the calling process into a group (a forked child, before it execs session code)."""
    for path in procs_files:
        _write(Path(path), "0")


# --- killing and removing -------------------------------------------------------------------


def _wait_frozen(state_file: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if (_read(state_file) or "").strip() == "FROZEN":
            return
        time.sleep(0.01)


def kill_all(group: Group, timeout: float = 10.0) -> int:
    """SIGKILL every process in the group until it is empty; how many were signalled.

    v2: cgroup.kill (the kernel does it atomically, forks included). v1: freeze, kill what is
    listed (a frozen process cannot fork), thaw so the signals are delivered, repeat.
    """
    if not group.exists():
        return 0
    deadline = time.monotonic() + timeout
    signalled: set[int] = set()
    v2_dir = group.dir_of("") if group.hierarchy.version == 2 else None
    kill_file = v2_dir / "cgroup.kill" if v2_dir is not None else None
    freezer = group.dir_of("freezer") if group.hierarchy.version == 1 else None
    while True:
        pids = members(group)
        if not pids:
            return len(signalled)
        if time.monotonic() > deadline:
            raise HerodevError(f"{len(pids)} process(es) of cgroup {group.relative} would not die: {pids[:10]}")
        if kill_file is not None and kill_file.exists():
            _write(kill_file, "1")
            signalled.update(pids)
        else:
            state = freezer / "freezer.state" if freezer and freezer.is_dir() else None
            if state is not None:
                with contextlib.suppress(OSError):
                    _write(state, "FROZEN")
                    _wait_frozen(state, min(deadline, time.monotonic() + 1.0))
            for pid in members(group):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    signalled.add(pid)
            if state is not None:
                with contextlib.suppress(OSError):
                    _write(state, "THAWED")
        time.sleep(0.02)


def remove(group: Group, timeout: float = 10.0) -> None:
    """Kill what is left and remove the group's directories (children first)."""
    kill_all(group, timeout)
    for _, directory in group.dirs():
        if not directory.is_dir():
            continue
        # sub-groups (none made by herodev today, but a future per-exec group) go first
        for child in sorted((p for p in directory.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            _rmdir(child, timeout)
        _rmdir(directory, timeout)


def _rmdir(directory: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            # EBUSY for a moment after the last process died, until it is fully reaped
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise HerodevError(f"cannot remove cgroup {directory}: {exc.strerror}") from None
            time.sleep(0.02)


def systemd_runs() -> bool:
    return Path("/run/systemd/system").is_dir()


def delegated(hierarchy: Hierarchy, relative: str) -> bool:
    """True when relative lies in a subtree systemd delegated (it marks the top of one with the
    trusted.delegate or user.delegate xattr): the only place a non-systemd writer belongs."""
    if hierarchy.version != 2 or hierarchy.v2_root is None:
        return False
    current = hierarchy.v2_root
    for part in relative.split("/"):
        current = current / part
        for name in ("trusted.delegate", "user.delegate"):
            with contextlib.suppress(OSError):
                if os.getxattr(current, name) == b"1":
                    return True
    return False


def group_of_pid(hierarchy: Hierarchy, pid: int, controller: str = "pids") -> str | None:
    """The group path (relative to the hierarchy's root) pid is in, for one controller."""
    text = _read(Path(f"/proc/{pid}/cgroup")) or ""
    for line in text.splitlines():
        _, names, path = line.split(":", 2)
        if hierarchy.version == 2 and names == "":
            return path.lstrip("/")
        if hierarchy.version == 1 and controller in names.split(","):
            return path.lstrip("/")
    return None
