"""Run a command inside a session without a terminal: pipes, a deadline, capped output.

The child is a new session (setsid) with no controlling terminal, so nothing it leaves behind
can reach the operator's tty; it joins the session's cgroup and mount namespace and drops to
the session user through namespace.become, exactly as `enter` does. At the deadline its whole
process group is killed. Output beyond the cap keeps its head and its tail, with a note of
what was cut in between: a failing build's last lines are the ones that matter.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from herodev_shell.errors import HerodevError
from herodev_shell.system import namespace

EXIT_TIMED_OUT = 124  # as timeout(1)
DRAIN_GRACE = 0.5  # seconds we keep reading after CMD exits (a background child may hold the pipe)
STOP_GRACE = 5.0  # seconds CMD gets to end after a forwarded SIGTERM/SIGHUP/SIGINT before SIGKILL
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_READ = 1 << 16


@dataclass(frozen=True)
class Captured:
    status: int  # CMD's exit status; 128+N when signal N ended it; 124 when the deadline did
    stdout: bytes
    stderr: bytes
    timed_out: bool
    duration: float
    truncated: bool = False  # some output was cut (the note is in the text)
    left_open: bool = False  # a background process still held stdout/stderr when we stopped reading


class _Capped:
    """Keeps the first and last cap/2 bytes of a stream and counts what fell between."""

    def __init__(self, cap: int) -> None:
        self.half = max(1, cap // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.cut = 0

    def add(self, data: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self.tail += data
        if len(self.tail) > self.half:
            drop = len(self.tail) - self.half
            del self.tail[:drop]
            self.cut += drop

    def value(self) -> bytes:
        if not self.cut:
            return bytes(self.head + self.tail)
        note = f"\n[herodev: {self.cut} bytes of output cut here]\n".encode()
        return bytes(self.head) + note + bytes(self.tail)


def _child(
    spec: namespace.EnterSpec,
    stdin_fd: int,
    out_w: int,
    err_w: int,
    report_w: int,
    keep: tuple[int, ...],
    cwd: str | None,
    extra_env: dict[str, str] | None,
) -> None:
    code, message = 1, "unknown failure"
    try:
        os.setsid()  # no controlling terminal, and a process group we can kill whole
        os.dup2(stdin_fd, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        # Nothing of ours leaks into the session: every other fd goes (the id-mapping fd is
        # close-on-exec and needed until the mount is made).
        wanted = {report_w, *keep} | ({spec.userns_fd} if spec.userns_fd is not None else set())
        low = 3
        for fd in sorted(wanted):
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 16)
        for fd in keep:
            os.set_inheritable(fd, True)
        for name in ("SIGINT", "SIGQUIT", "SIGPIPE", "SIGXFSZ", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGCHLD"):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        namespace.become(spec)
        if cwd:
            os.chdir(cwd)  # as the session user, relative to the code root: it sees what the user sees
        env = {**namespace.session_env(spec), **(extra_env or {})}
        try:
            os.execvpe(spec.command[0], list(spec.command), env)
        except FileNotFoundError:
            code, message = namespace.EXIT_NOT_FOUND, f"{spec.command[0]}: command not found in the session"
        except PermissionError:
            code, message = namespace.EXIT_CANNOT_RUN, f"{spec.command[0]}: permission denied in the session"
    except OSError as exc:
        message = f"cannot start in the session: {exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
    except BaseException as exc:
        message = f"cannot start in the session: {exc}"
    try:
        os.write(report_w, f"{code}:{message}".encode())
    finally:
        os._exit(code)


def run(
    spec: namespace.EnterSpec,
    *,
    timeout: float,
    cap: int,
    stdin_fd: int | None = None,
    input: bytes | None = None,
    keep_fds: tuple[int, ...] = (),
    cwd: str | None = None,
    env: dict[str, str] | None = None,
) -> Captured:
    """spec.command in the session; stdin is stdin_fd, or input through a pipe, or /dev/null.

    keep_fds stay open (not close-on-exec) in the child: a sealed hook script, for instance.
    env is added to the session's environment (namespace.session_env).
    """
    if not spec.command:
        raise HerodevError("nothing to run")
    if not spec.groups:
        spec = namespace.with_groups(spec)
    started = time.monotonic()
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    in_r = in_w = None
    if input is not None:
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        source = in_r
    elif stdin_fd is not None:
        source = stdin_fd
    else:
        source = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = os.fork()
        if pid == 0:
            _child(spec, source, out_w, err_w, report_w, keep_fds, cwd, env)
    finally:
        for fd in (out_w, err_w, report_w, in_r):
            if fd is not None:
                os.close(fd)
        if input is None and stdin_fd is None:
            os.close(source)
    with _forwarding(pid) as stopping:
        done = _collect(pid, out_r, err_r, report_r, in_w, input or b"", started, timeout, cap, stopping)
    if stopping:
        os.kill(os.getpid(), stopping[0])  # the handler the caller had: the default ends us 128+N
    return done


@contextlib.contextmanager
def _forwarding(pid: int) -> Iterator[_Stopping]:
    """SIGINT, SIGTERM and SIGHUP to herodev (a script's Ctrl-C, `kill`, `timeout`, a dropped
    ssh) go to CMD's group, which nothing else reaches (setsid): left to their default, they
    would end herodev alone and CMD would run on in the session. The list names what came;
    run() re-raises it once CMD is reaped. Signal handlers are the main thread's only."""
    stopping = _Stopping()
    if threading.current_thread() is not threading.main_thread():
        yield stopping
        return

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        with contextlib.suppress(OSError):
            os.killpg(pid, signum)
        with contextlib.suppress(OSError):
            os.write(stopping.wake_w, b"x")  # select's retry would wait out the whole deadline

    stopping.wake_r, stopping.wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    handlers = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    try:
        yield stopping
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        os.close(stopping.wake_r)
        os.close(stopping.wake_w)


class _Stopping(list[int]):
    """The signals forwarded so far, and a pipe the handler writes to so select wakes."""

    wake_r = -1
    wake_w = -1


def _collect(
    pid: int,
    out_r: int,
    err_r: int,
    report_r: int,
    in_w: int | None,
    pending: bytes,
    started: float,
    timeout: float,
    cap: int,
    stopping: _Stopping,
) -> Captured:
    deadline = started + timeout
    stop_deadline: float | None = None  # set once a forwarded signal came: CMD's bounded grace
    # readable when the child exits: one select waits for output, input room and the exit alike
    exited = os.pidfd_open(pid)
    streams = {out_r: _Capped(cap), err_r: _Capped(cap)}
    report = bytearray()
    readers = {out_r, err_r, report_r}
    writers = {in_w} if in_w is not None else set()
    if in_w is not None:
        os.set_blocking(in_w, False)
    status: int | None = None
    timed_out = left_open = False
    stop_reading_at: float | None = None
    try:
        while readers or status is None:
            now = time.monotonic()
            if stopping and stop_deadline is None:
                stop_deadline = now + STOP_GRACE
            if status is None and stop_deadline is not None and now >= stop_deadline:
                _kill_group(pid)  # CMD ignored the forwarded signal
                status = _reap(pid)
                stop_reading_at = time.monotonic() + DRAIN_GRACE
            if status is None and now >= deadline:
                timed_out = True
                _kill_group(pid)
                status = EXIT_TIMED_OUT
                _reap(pid)
                stop_reading_at = time.monotonic() + DRAIN_GRACE
            if status is None:
                done, raw = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = _exit_status(raw)
                    stop_reading_at = time.monotonic() + DRAIN_GRACE
            if status is not None and not readers:
                break  # reaped and every pipe at its end
            if stop_reading_at is not None and time.monotonic() >= stop_reading_at and readers - {report_r}:
                left_open = True
                break
            limit = deadline if stop_reading_at is None else stop_reading_at
            if stop_deadline is not None:
                limit = min(limit, stop_deadline)
            wait = max(0.0, limit - time.monotonic())
            watched = [*readers, exited] if status is None else list(readers)
            if stopping.wake_r >= 0 and stop_deadline is None:
                watched.append(stopping.wake_r)
            ready_r, ready_w, _ = select.select(watched, list(writers), [], wait)
            for fd in ready_w:
                try:
                    pending = pending[os.write(fd, pending[:_READ]) :]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    pending = b""  # CMD stopped reading its input: that is its business
                if not pending:
                    os.close(fd)
                    writers.discard(fd)
            if in_w is not None and not pending and in_w in writers:
                os.close(in_w)
                writers.discard(in_w)
            for fd in ready_r:
                if fd in (exited, stopping.wake_r):
                    continue  # the waitpid at the top of the loop collects it
                chunk = os.read(fd, _READ)
                if not chunk:
                    readers.discard(fd)
                elif fd == report_r:
                    report += chunk
                else:
                    streams[fd].add(chunk)
    finally:
        for fd in (out_r, err_r, report_r, exited, *writers):
            with contextlib.suppress(OSError):
                os.close(fd)
        if status is None:
            _kill_group(pid)
            _reap(pid)
    if report:
        code, _, message = bytes(report).decode(errors="replace").partition(":")
        raise HerodevError(message, exit_code=int(code) if code.isdigit() else 1)
    out, err = streams[out_r], streams[err_r]
    assert status is not None  # the loop ends only once CMD has been reaped
    return Captured(
        status=status,
        stdout=out.value(),
        stderr=err.value(),
        timed_out=timed_out,
        duration=time.monotonic() - started,
        truncated=bool(out.cut or err.cut),
        left_open=left_open,
    )


def _kill_group(pid: int) -> None:
    """The child is its own session and process group (setsid): end the group it leads."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _reap(pid: int) -> int:
    while True:
        try:
            _, raw = os.waitpid(pid, 0)
            return _exit_status(raw)
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue


def _exit_status(raw: int) -> int:
    if os.WIFSIGNALED(raw):
        return 128 + os.WTERMSIG(raw)
    return os.waitstatus_to_exitcode(raw)
