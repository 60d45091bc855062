"""Setup hooks: what a new session needs (services, toolchains, dependencies), declared in a
committed `.herodev/setup` of a repository, or of the code root.

Trust rule: a hook is read from the code root, never from a session. For a repository that is
the blob at `.herodev/setup` in its HEAD commit (mode 100755: committed and executable), so
neither an uncommitted edit in the code root nor anything a session wrote or changed is run;
for the code root itself (which is usually not a repository) it is the regular, executable
file `<code root>/.herodev/setup` owned by root or the code owner. The content is copied into
a sealed memory file and run from there, so the session cannot swap it between our read and
the exec. It runs as the session user, inside the session (its mount namespace, its cgroup
and limits), in that repository's directory as the session sees it, with a deadline.

Output goes to <audit log dir>/setup/<user>.log, which only root can read; a failing hook's
last lines are in the report. A failing hook never undoes `create` or `fork`: the session is
there, the report says what failed, and `setup NAME` runs the hooks again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.core import execution
from herodev_shell.core.clock import now_iso
from herodev_shell.core.repos import find_repository_paths
from herodev_shell.core.settings import Settings, parse_seconds
from herodev_shell.errors import HerodevError
from herodev_shell.system import captured
from herodev_shell.system.runner import Runner

HOOK = ".herodev/setup"
MAX_HOOK_BYTES = 1 << 20
OUTPUT_CAP = 1 << 20  # bytes kept of each stream of one hook
TAIL_LINES = 20
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


@dataclass(frozen=True)
class Hook:
    repo: str  # relative to the code root; "." for the code root itself
    content: bytes


@dataclass(frozen=True)
class HookResult:
    repo: str
    status: int
    timed_out: bool
    duration: float
    tail: str  # the last lines of its output (stdout then stderr)

    @property
    def ok(self) -> bool:
        return self.status == 0 and not self.timed_out


@dataclass(frozen=True)
class SetupReport:
    name: str
    hooks: tuple[HookResult, ...]
    log: str
    skipped: tuple[str, ...] = ()  # hooks found but not run, with the reason

    @property
    def ok(self) -> bool:
        return all(h.ok for h in self.hooks)


def log_path(settings: Settings, name: str) -> Path:
    return settings.audit_log.parent / "setup" / f"{settings.user_for(name)}.log"


# --- finding the hooks (trusted side: the code root) ------------------------------------------


def _code_root_hook(settings: Settings, owner_uids: set[int]) -> tuple[Hook | None, str | None]:
    path = settings.code_root / HOOK
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f".: {HOOK} cannot be opened ({exc.strerror})"
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or not info.st_mode & 0o100:
            return None, f".: {HOOK} is not an executable regular file"
        if info.st_uid not in owner_uids or info.st_mode & 0o022:
            return None, f".: {HOOK} is writable by others or not owned by root or the code owner"
        return Hook(".", handle.read(MAX_HOOK_BYTES + 1)[:MAX_HOOK_BYTES]), None


def find_hooks(settings: Settings) -> tuple[list[Hook], list[str]]:
    """The hooks to run, code root first then repositories by path; and what was skipped, why."""
    from herodev_shell.core.hoststate import read_state
    from herodev_shell.system import gitlib

    owner_uids = {0}
    with contextlib.suppress(HerodevError):
        state = read_state(settings)
        if state is not None and state.code_owner_uid is not None:
            owner_uids.add(state.code_owner_uid)
    hooks: list[Hook] = []
    skipped: list[str] = []
    top, why = _code_root_hook(settings, owner_uids)
    if top:
        hooks.append(top)
    if why:
        skipped.append(why)
    for relative in find_repository_paths(settings.code_root):
        workdir = settings.code_root if relative == "." else settings.code_root / relative
        if relative != "." and not (workdir / ".herodev").is_dir():
            continue  # the common case, without opening the repository
        try:
            found = gitlib.head_file(gitlib.open_repo(workdir, settings.code_root), HOOK, MAX_HOOK_BYTES)
        except HerodevError as exc:
            skipped.append(f"{relative}: {exc.message}")
            continue
        if found is None:
            if (workdir / HOOK).exists():
                skipped.append(f"{relative}: {HOOK} is not committed (only committed hooks run)")
            continue
        mode, content = found
        if mode != 0o100755:
            skipped.append(f"{relative}: {HOOK} is committed without the executable bit")
            continue
        if relative == "." and top is not None:
            continue  # the code root's own file already counts
        hooks.append(Hook(relative, content))
    return hooks, skipped


# --- running them (inside the session) --------------------------------------------------------


def _sealed(content: bytes) -> int:
    """A memory file holding content that nobody, root included, can change any more."""
    fd = os.memfd_create("herodev-setup", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, 0o555)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _log(handle: object, text: str) -> None:
    handle.write(text.encode(errors="replace"))  # type: ignore[attr-defined]


def run_setup_hooks(
    settings: Settings, runner: Runner, name: str, timeout: float | None = None, hooks: list[Hook] | None = None
) -> SetupReport:
    """Run every setup hook of the code root in session `name`; never raises for a failing hook.

    For `create`, `fork` and `setup NAME`. `hooks` defaults to find_hooks(settings); callers
    must never pass hooks read from a session's tree or from a base taken of a session.
    """
    skipped: list[str] = []
    if hooks is None:
        hooks, skipped = find_hooks(settings)
    log = log_path(settings, name)
    if runner.dry_run:
        for hook in hooks:
            runner.say(f"would run {hook.repo}/{HOOK} in session {name}")
        return SetupReport(name, (), os.fspath(log), tuple(skipped))
    if not hooks:
        return SetupReport(name, (), os.fspath(log), tuple(skipped))
    timeout = parse_seconds(settings.setup_timeout, "setup timeout") if timeout is None else timeout
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    results = []
    fd_log = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd_log, "ab") as handle:
        for hook in hooks:
            results.append(_run_one(settings, runner, name, hook, timeout, handle))
    return SetupReport(name, tuple(results), os.fspath(log), tuple(skipped))


def _run_one(settings: Settings, runner: Runner, name: str, hook: Hook, timeout: float, handle: object) -> HookResult:
    started = now_iso()
    _log(handle, f"=== {started} {hook.repo}/{HOOK} in session {name}\n")
    fd = _sealed(hook.content)
    try:
        argv = [f"/proc/self/fd/{fd}"]
        cwd = os.fspath(settings.code_root / hook.repo) if hook.repo != "." else None
        with execution.session_spec(settings, runner, name, argv) as spec:
            try:
                done = captured.run(
                    spec, timeout=timeout, cap=OUTPUT_CAP, keep_fds=(fd,), cwd=cwd, env={"HERODEV_REPO": hook.repo}
                )
            except HerodevError as exc:  # could not start: no such directory in the session, ...
                _log(handle, f"--- could not start: {exc.message}\n=== exit {exc.exit_code}\n")
                return HookResult(hook.repo, exc.exit_code, False, 0.0, exc.message)
    finally:
        os.close(fd)
    out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    _log(handle, out + ("" if not out or out.endswith("\n") else "\n"))
    _log(handle, err + ("" if not err or err.endswith("\n") else "\n"))
    ending = f"timed out after {timeout:.0f}s" if done.timed_out else f"exit {done.status}"
    _log(handle, f"=== {ending} ({done.duration:.1f}s)\n")
    tail = _tail(out + ("\n" if out and not out.endswith("\n") else "") + err)
    return HookResult(hook.repo, done.status, done.timed_out, round(done.duration, 3), tail)
