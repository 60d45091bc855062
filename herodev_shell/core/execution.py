"""Running things in a session: the spec every way in shares, and `exec` (no terminal).

`session_spec` is the one place that turns a session into what a child needs to become it:
its user, its snapshot (idmapped at the code root), and its cgroup made from the limits in
its metadata. `enter`, `exec` and the setup hooks all start from it, so all three run in the
session's cgroup with the session's limits.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.core import layout, limits, sessions
from herodev_shell.core.clock import now_iso
from herodev_shell.core.disk_use import human_size
from herodev_shell.core.meta import read_meta, write_meta
from herodev_shell.core.names import name_problem
from herodev_shell.core.settings import Settings, parse_seconds
from herodev_shell.errors import HerodevError
from herodev_shell.system import btrfs, captured, idmap, namespace, privileges, users
from herodev_shell.system.runner import Runner
from herodev_shell.system.subvolinfo import subvolume_info

DEFAULT_CAP = 1 << 20  # bytes kept of each of stdout and stderr (head and tail)


@dataclass(frozen=True)
class ExecResult:
    name: str
    command: tuple[str, ...]
    status: int  # CMD's exit status (128+N for signal N, 124 at the deadline)
    stdout: str
    stderr: str
    timed_out: bool
    duration: float  # seconds
    truncated: bool = False
    left_open: bool = False  # a background process of CMD still held its output when we stopped reading
    oom_killed: bool = False  # SIGKILL by the kernel's OOM killer: the session's memory limit was reached


EXIT_SIGKILL = 128 + 9


class OomWatch:
    """Whether a run ended by the session's memory limit: CMD died of SIGKILL and the session
    cgroup's OOM-kill counter rose meanwhile. The kernel kills without a word (exit 137, empty
    stderr), so this is the only way the caller learns why."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings, self.name = settings, name
        self.before = self._count()

    def _count(self) -> int:
        try:
            return limits.usage(self.settings, self.name).oom_kills or 0
        except (OSError, HerodevError):
            return 0

    def killed(self, status: int) -> bool:
        return status == EXIT_SIGKILL and self._count() > self.before

    def message(self, command: list[str] | tuple[str, ...]) -> str:
        """One line for stderr, with the session's limit when it has one of its own."""
        memory = None
        with contextlib.suppress(OSError, HerodevError):
            memory = limits.from_meta(read_meta(layout.session_paths(self.settings, self.name))).memory
        what = " ".join(command) or "the session's shell"
        if memory is None:
            return f"herodev: {what} was killed: the memory limit was reached (out of memory)"
        size = human_size(memory).replace(".0", "")
        return f"herodev: {what} was killed: the session's memory limit ({size}) was reached"


@contextlib.contextmanager
def session_spec(settings: Settings, runner: Runner, name: str, command: list[str]) -> Iterator[namespace.EnterSpec]:
    """What a child needs to become the session; the id-mapping fd lives as long as the block."""
    privileges.require_root("enter", runner.dry_run)
    # Cheaper than get_session (no /proc pass, no usage): this is on every exec's path.
    paths = layout.session_paths(settings, name)
    meta = read_meta(paths) if not name_problem(name, settings.max_name_length) else None
    if not meta:
        sessions.get_session(settings, name)  # raises the usual NotFound, with its hint
        raise HerodevError(f"session {name}: metadata {paths.meta} is unreadable")
    user = users.lookup(paths.user)
    if user is None or not paths.snapshot.is_dir():
        info = sessions.get_session(settings, name)
        raise HerodevError(
            f"session {name} is half there: {'; '.join(info.problems)}",
            hint=f"'herodev delete -f {name}' cleans it up",
        )
    procs = limits.session_procs_files(settings, name, meta) if not runner.dry_run else ()
    userns_fd = None
    if meta.get("access", sessions.ACCESS_IDMAP) == sessions.ACCESS_IDMAP and not runner.dry_run:
        owner_uid = _int(meta.get("code_owner_uid"))
        owner_gid = _int(meta.get("code_owner_gid"))
        try:
            userns_fd = idmap.user_namespace(idmap.swap_map(owner_uid, user.uid), idmap.swap_map(owner_gid, user.gid))
        except OSError as exc:
            raise HerodevError(f"cannot make the session's id mapping: {exc.strerror}") from None
    try:
        yield namespace.EnterSpec(
            session=name,
            snapshot=paths.snapshot,
            code_root=settings.code_root,
            hide=settings.sessions_dir,
            user=user.name,
            uid=user.uid,
            gid=user.gid,
            home=user.home,
            shell=user.shell or "/bin/bash",
            command=tuple(command),
            userns_fd=userns_fd,
            term=os.environ.get("TERM"),
            lang=os.environ.get("LANG") or "C.UTF-8",
            cgroup_procs=procs,
            private_tmp=None if runner.dry_run else private_tmp(settings, runner, paths),
        )
    finally:
        if userns_fd is not None:
            os.close(userns_fd)


def private_tmp(settings: Settings, runner: Runner, paths: layout.SessionPaths) -> Path | None:
    """The session's /tmp: a subvolume beside its snapshot, made on first use (older sessions and
    forks too). Outside the code tree (changes never see it), in the session's quota group (its
    bytes count as the session's), deleted with the session, seen by no other session."""
    if paths.tmp.is_dir() and not paths.tmp.is_symlink():
        return paths.tmp
    if layout.host_tmp_shared(settings):
        return None  # a code root under /tmp would vanish under the session's own /tmp (check warns)
    try:
        btrfs.create_subvolume(paths.tmp, runner)
    except HerodevError:
        if not paths.tmp.is_dir():  # two enters at once: the other one made it
            raise
    os.chmod(paths.tmp, 0o1777)  # the session user and its subordinate ids (containers) write here
    from herodev_shell.core import checkpoints

    with contextlib.suppress(HerodevError, OSError):
        checkpoints.join_session_group(settings, runner, paths, [subvolume_info(paths.tmp).treeid])
    return paths.tmp


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_env(env: dict[str, str]) -> dict[str, str]:
    """Variables a caller adds to CMD's environment: plain names, no NUL in values."""
    for key, value in env.items():
        if not _ENV_NAME.match(key) or "\0" in value:
            raise HerodevError(
                f"invalid environment variable {key!r}", hint="NAME=VALUE, NAME of A-Z a-z 0-9 _", exit_code=2
            )
    return env


def default_timeout(settings: Settings) -> float:
    return parse_seconds(settings.exec_timeout, "exec timeout")


def exec_in_session(
    settings: Settings,
    runner: Runner,
    name: str,
    argv: list[str],
    timeout: float | None = None,
    *,
    stdin_fd: int | None = None,
    input: bytes | None = None,
    cwd: str | None = None,
    cap: int = DEFAULT_CAP,
    env: dict[str, str] | None = None,
) -> ExecResult:
    """argv as the session user, in its mount namespace and cgroup, with no terminal.

    stdin: stdin_fd (never a terminal: the caller checks), or `input`, or /dev/null. The
    deadline (default: settings.exec_timeout) kills CMD's whole process group. A CMD that
    cannot start (not found: 127, not executable: 126) raises HerodevError with that code.
    """
    if not argv:
        raise HerodevError("exec needs a command", hint="herodev exec NAME -- CMD ARGS...", exit_code=2)
    timeout = default_timeout(settings) if timeout is None else timeout
    if runner.dry_run:
        with session_spec(settings, runner, name, argv):
            runner.say(f"would run in session {name}: {' '.join(argv)}")
        return ExecResult(name, tuple(argv), 0, "", "", False, 0.0)
    with session_spec(settings, runner, name, argv) as spec:
        watch = OomWatch(settings, name)  # after session_spec: the group exists now
        done = captured.run(
            spec, timeout=timeout, cap=cap, stdin_fd=stdin_fd, input=input, cwd=cwd, env=check_env(env or {})
        )
    return ExecResult(
        name=name,
        command=tuple(argv),
        status=done.status,
        stdout=done.stdout.decode(errors="replace"),
        stderr=done.stderr.decode(errors="replace"),
        timed_out=done.timed_out,
        duration=round(done.duration, 3),
        truncated=done.truncated,
        left_open=done.left_open,
        oom_killed=watch.killed(done.status),
    )


# --- enter ----------------------------------------------------------------------------------


def _mark_entered(paths: layout.SessionPaths) -> None:
    """last_entered in the metadata: prune keeps sessions entered recently."""
    meta = read_meta(paths)
    if meta:
        with contextlib.suppress(OSError):  # only a note for prune: a full disk must not stop enter
            write_meta(paths, {**meta, "last_entered": now_iso()})


def enter_session(settings: Settings, runner: Runner, name: str, command: list[str]) -> int:
    """A login shell or command as the session user, with the snapshot at the code root."""
    with session_spec(settings, runner, name, command) as spec:
        if runner.dry_run:
            runner.say(f"would enter session {name} as {spec.user}: {' '.join(command) or spec.shell}")
            return 0
        _mark_entered(layout.session_paths(settings, name))
        return namespace.enter(spec)
