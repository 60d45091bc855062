"""enter: a private mount namespace where the code root shows a session's snapshot, as its user.

The child unshares a mount namespace, makes every mount private (nothing propagates back),
mounts the snapshot on the code root (idmapped, or a plain bind when the kernel cannot),
hides the sessions dir under an empty read-only tmpfs, drops to the session user and execs.
Setup errors travel back over a close-on-exec pipe, so the parent reports them like any
other herodev error; once exec succeeds the pipe closes empty.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, replace
from pathlib import Path

from herodev_shell.errors import HerodevError
from herodev_shell.system import cgroups, idmap, libc, ptyrelay

SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXIT_NOT_FOUND = 127
EXIT_CANNOT_RUN = 126
_RESET_SIGNALS = ("SIGINT", "SIGQUIT", "SIGPIPE", "SIGXFSZ", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGCHLD")


@dataclass(frozen=True)
class EnterSpec:
    session: str
    snapshot: Path
    code_root: Path
    hide: Path  # the sessions dir as seen inside: covered by an empty read-only tmpfs
    user: str
    uid: int
    gid: int
    home: str
    shell: str
    groups: tuple[int, ...] = ()  # supplementary groups, resolved before the fork
    command: tuple[str, ...] = ()  # empty: a login shell
    userns_fd: int | None = None  # None: bind mount without an id mapping (the chown fallback)
    term: str | None = None
    lang: str = "C.UTF-8"
    cgroup_procs: tuple[str, ...] = ()  # the session's cgroup.procs files: joined before anything else
    private_tmp: Path | None = None  # mounted on /tmp; None: the host's /tmp (a code root under /tmp)


def session_env(spec: EnterSpec) -> dict[str, str]:
    env = {
        "HOME": spec.home,
        "USER": spec.user,
        "LOGNAME": spec.user,
        "SHELL": spec.shell,
        "PATH": SESSION_PATH,
        "LANG": spec.lang,
        "HERODEV_SESSION": spec.session,
    }
    if spec.term:
        env["TERM"] = spec.term
    return env


def _mount_session(spec: EnterSpec) -> None:
    libc.unshare(libc.CLONE_NEWNS)
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    if spec.private_tmp is not None:
        # First: its source lies under the sessions dir, which the snapshot's mount then covers.
        libc.mount(os.fspath(spec.private_tmp), "/tmp", None, libc.MS_BIND)
        libc.mount(None, "/tmp", None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_NOSUID | libc.MS_NODEV)
    target = os.fspath(spec.code_root)
    if spec.userns_fd is not None:
        # noatime: reading a file is not a change (it would show in the change stream).
        attrs = libc.MOUNT_ATTR_NOSUID | libc.MOUNT_ATTR_NODEV | libc.MOUNT_ATTR_NOATIME
        fd = idmap.idmapped_clone(spec.snapshot, spec.userns_fd, attrs, clear=libc.MOUNT_ATTR__ATIME)
        try:
            libc.move_mount(fd, target)
        finally:
            os.close(fd)
    else:
        libc.mount(os.fspath(spec.snapshot), target, None, libc.MS_BIND)
        flags = libc.MS_BIND | libc.MS_REMOUNT | libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOATIME
        libc.mount(None, target, None, flags)
    if spec.hide.is_dir():
        flags = libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC
        libc.mount("herodev", os.fspath(spec.hide), "tmpfs", flags, "size=4k,nr_inodes=1,mode=0555")
    # A proc of its own: other users' processes (other sessions', root's, with their command
    # lines, environments and mount tables) are invisible, not merely unreadable.
    flags = libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC
    libc.mount("proc", "/proc", "proc", flags, "hidepid=invisible")


def become(spec: EnterSpec) -> None:
    """In a forked child: join the session's cgroup, mount its snapshot at the code root in a
    private mount namespace, drop to the session user, cd to the code root. Every way into a
    session (enter, exec, setup hooks) goes through here before it execs session code."""
    cgroups.join(spec.cgroup_procs)  # still root: the write needs it, and every later fork inherits it
    _mount_session(spec)
    os.setgroups(list(spec.groups) or [spec.gid])
    os.setgid(spec.gid)
    os.setuid(spec.uid)
    os.umask(0o022)
    os.chdir(spec.code_root)


def _child(spec: EnterSpec, report_fd: int, stdio: ptyrelay.Plan) -> None:
    """Never returns: execs, or reports why not and exits."""
    code, message = 1, "unknown failure"
    try:
        ptyrelay.attach_child(stdio)  # a new session on a new pty: the caller's tty is out of reach
        for name in _RESET_SIGNALS:
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        if spec.command:
            # We wait without job control: a stopped CMD would hang the terminal, so Ctrl-Z is off.
            signal.signal(signal.SIGTSTP, signal.SIG_IGN)
        become(spec)
        env = session_env(spec)
        if spec.command:
            argv, program = list(spec.command), spec.command[0]
        else:  # a login shell: argv[0] starts with '-'
            argv, program = ["-" + os.path.basename(spec.shell)], spec.shell
        ptyrelay.seal_child(report_fd)
        try:
            if spec.command:
                os.execvpe(program, argv, env)
            os.execve(program, argv, env)
        except FileNotFoundError:
            code, message = EXIT_NOT_FOUND, f"{program}: command not found in the session"
        except PermissionError:
            code, message = EXIT_CANNOT_RUN, f"{program}: permission denied in the session"
    except OSError as exc:
        message = f"cannot enter the session: {exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
    except BaseException as exc:
        message = f"cannot enter the session: {exc}"
    try:
        os.write(report_fd, f"{code}:{message}".encode())
    finally:
        os._exit(code)


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def with_groups(spec: EnterSpec) -> EnterSpec:
    """The user's supplementary groups, resolved before any fork (NSS after fork is unsafe)."""
    return replace(spec, groups=tuple(os.getgrouplist(spec.user, spec.gid)))


def enter(spec: EnterSpec) -> int:
    """Run the session's shell or command; its exit status (128+N when a signal ended it)."""
    if not spec.groups:
        # Resolved here, not in the child: NSS lookups after fork are not safe with threads.
        spec = replace(spec, groups=tuple(os.getgrouplist(spec.user, spec.gid)))
    stdio = ptyrelay.plan()
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        _child(spec, report_w, stdio)
    os.close(report_w)
    ptyrelay.parent_side(stdio)
    # Ctrl-C and Ctrl-\ belong to the session's programs (relayed on its pty, forwarded otherwise).
    previous = {
        signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP)
    }
    stopped = 0
    try:
        with os.fdopen(report_r, "rb") as report:
            failure = report.read()
        if failure:
            ptyrelay.discard(stdio)
            status = ptyrelay.run(pid, ptyrelay.Plan(use_pty=False))
        else:
            status = ptyrelay.run(pid, stdio)
    except ptyrelay.RelayStopped as exc:
        stopped, status = exc.signum, 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stopped:
        os.kill(os.getpid(), stopped)  # the handler the caller had (the REPL's, or the default)
    if failure:
        code, _, message = failure.decode(errors="replace").partition(":")
        raise HerodevError(message, exit_code=int(code) if code.isdigit() else 1)
    return _exit_code(status)


def private_proc_support() -> str | None:
    """Why a /proc with hidepid=invisible cannot be mounted (None: it can), tried for real in a
    forked child's own mount namespace on a throwaway directory (root only)."""
    import tempfile

    where = tempfile.mkdtemp(prefix="herodev-proc-probe-")
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(report_r)
            libc.unshare(libc.CLONE_NEWNS)
            libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
            flags = libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC
            libc.mount("proc", where, "proc", flags, "hidepid=invisible")
        except OSError as exc:
            os.write(report_w, (exc.strerror or str(exc)).encode())
        finally:
            os._exit(0)
    os.close(report_w)
    try:
        with os.fdopen(report_r, "rb") as report:
            failure = report.read().decode(errors="replace")
        os.waitpid(pid, 0)
    finally:
        os.rmdir(where)
    return failure or None


def legacy_tiocsti() -> str:
    """dev.tty.legacy_tiocsti: '1' (TIOCSTI allowed), '0' (refused), '' (the kernel has no such knob)."""
    try:
        with open("/proc/sys/dev/tty/legacy_tiocsti") as handle:
            return handle.read().strip()
    except OSError:
        return ""
