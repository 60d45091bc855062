"""The session's terminal: a new pty (or pipes), never the operator's own tty.

A process of the session that could reach the operator's terminal as its controlling tty
could push keystrokes into it with TIOCSTI after `enter` returns (the root shell or the
REPL would run them). So the session always starts in a new session (`setsid`) and gets:

- on a terminal (stdin and stdout are ttys): the slave of a new pty pair as its controlling
  terminal; herodev relays bytes both ways and the window size (SIGWINCH), with the
  caller's terminal in raw mode, restored afterwards (pending input dropped: nothing the
  session made the terminal answer is read by the caller afterwards);
- otherwise: a pipe in place of each of fds 0-2 that is a tty; fds that are files or pipes
  are handed over as they are (no ioctl of a pipe reaches a terminal).

Every other fd is closed before exec, so no fd of the caller's tty crosses into the session.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import struct
import termios
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

_CHUNK = 65536
_DRAIN_QUIET = 0.05  # after the command exits: stop when the output has been quiet this long
_DRAIN_MAX = 1.0  # and never wait longer than this for a leftover process that keeps writing


class RelayStopped(Exception):
    """SIGTERM or SIGHUP arrived while relaying: cleaned up, then the signal is re-raised."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass
class Plan:
    """What the child gets on fds 0-2, decided (and opened) before the fork."""

    use_pty: bool
    master: int = -1
    slave: int = -1
    # fd in the child (0, 1, 2) -> (child's end, parent's end) for each tty replaced by a pipe
    pipes: dict[int, tuple[int, int]] = field(default_factory=dict)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _winsize(fd: int) -> bytes | None:
    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
    except OSError:
        return None


def plan() -> Plan:
    if _isatty(0) and _isatty(1):
        master, slave = os.openpty()
        os.set_inheritable(master, False)
        os.set_inheritable(slave, False)
        size = _winsize(0)
        if size is not None:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
        return Plan(use_pty=True, master=master, slave=slave)
    result = Plan(use_pty=False)
    for fd in (0, 1, 2):
        if _isatty(fd):
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            result.pipes[fd] = (read_end, write_end) if fd == 0 else (write_end, read_end)
    return result


def _close_other_fds(keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))


def attach_child(p: Plan) -> None:
    """In the forked child, first thing: a new session, then fds 0-2 from the plan."""
    os.setsid()
    if p.use_pty:
        os.close(p.master)
        fcntl.ioctl(p.slave, termios.TIOCSCTTY, 0)
        os.dup2(p.slave, 0)
        os.dup2(p.slave, 1)
        if _isatty(2):
            os.dup2(p.slave, 2)
        os.close(p.slave)
        return
    for fd, (child_end, parent_end) in p.pipes.items():
        os.close(parent_end)
        os.dup2(child_end, fd)  # dup2 clears close-on-exec on the copy
        os.close(child_end)


def seal_child(report_fd: int) -> None:
    """Just before exec: nothing but fds 0-2 (and the close-on-exec report pipe) stays open."""
    _close_other_fds(report_fd)


def parent_side(p: Plan) -> None:
    """In the parent after the fork: drop the child's ends."""
    if p.use_pty:
        os.close(p.slave)
    for _fd, (child_end, _parent_end) in p.pipes.items():
        os.close(child_end)


def discard(p: Plan) -> None:
    """The child never ran the command (setup failed): close what the plan opened."""
    for fd in (p.master, *(parent for _c, parent in p.pipes.values())):
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:
            select.select([], [fd], [], 1.0)


def _exit_watch(pid: int) -> tuple[int, Callable[[], None]]:
    try:
        fd = os.pidfd_open(pid)
        return fd, lambda: os.close(fd)
    except OSError:
        return -1, lambda: None


def _exited(pid: int, status: list[int]) -> bool:
    if status:
        return True
    try:
        done, code = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        status.append(0)
        return True
    if done:
        status.append(code)
        return True
    return False


class _Forward:
    """Bytes from one fd to another; writes to the child's side never block the loop."""

    def __init__(self, src: int, dst: int, to_child: bool) -> None:
        self.src, self.dst, self.to_child = src, dst, to_child
        self.pending = b""
        self.open = True
        if to_child:
            os.set_blocking(dst, False)

    def read(self) -> bool:
        """False when the source is done (EOF, or EIO: every slave fd closed)."""
        try:
            data = os.read(self.src, _CHUNK)
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self.open = False
            return False
        if self.to_child:
            self.pending += data
            self.flush()
        else:
            _write_all(self.dst, data)
        return True

    def flush(self) -> None:
        try:
            while self.pending:
                self.pending = self.pending[os.write(self.dst, self.pending) :]
        except BlockingIOError:
            pass
        except OSError:
            self.pending = b""  # the child closed its end: what it did not read is dropped


def _relay(pid: int, p: Plan) -> int:
    inputs: list[_Forward] = []
    outputs: list[_Forward] = []
    if p.use_pty:
        inputs.append(_Forward(0, p.master, to_child=True))
        outputs.append(_Forward(p.master, 1, to_child=False))
    else:
        for fd, (_child_end, parent_end) in p.pipes.items():
            if fd == 0:
                inputs.append(_Forward(0, parent_end, to_child=True))
            else:
                outputs.append(_Forward(parent_end, fd, to_child=False))
    watch, unwatch = _exit_watch(pid)
    status: list[int] = []
    try:
        while not _exited(pid, status):
            poller = select.poll()
            for f in inputs:
                if f.open and len(f.pending) < _CHUNK:
                    poller.register(f.src, select.POLLIN)
                if f.pending:
                    poller.register(f.dst, select.POLLOUT)
            for f in outputs:
                poller.register(f.src, select.POLLIN)
            if watch >= 0:
                poller.register(watch, select.POLLIN)
            ready = dict(poller.poll(None if watch >= 0 else 100))
            for f in list(inputs):
                if f.pending and f.dst in ready:
                    f.flush()
                if f.open and f.src in ready and not f.read():
                    inputs.remove(f)
                    if not p.use_pty:
                        os.close(f.dst)  # EOF on our stdin: the child's stdin ends too
                        p.pipes.pop(0, None)
            for f in list(outputs):
                if f.src in ready and not f.read():
                    outputs.remove(f)
        _drain(outputs)
    finally:
        unwatch()
    return status[0]


def _drain(outputs: list[_Forward]) -> None:
    """What the command wrote just before it ended (a pty pushes output asynchronously)."""
    deadline = time.monotonic() + _DRAIN_MAX
    while outputs and time.monotonic() < deadline:
        ready, _, _ = select.select([f.src for f in outputs], [], [], _DRAIN_QUIET)
        if not ready:
            return
        for f in list(outputs):
            if f.src in ready and not f.read():
                outputs.remove(f)


def _raise_stopped(signum: int, _frame: object) -> None:
    raise RelayStopped(signum)


def run(pid: int, p: Plan) -> int:
    """Relay until the child exits; its raw wait status. The caller's terminal is restored."""
    if not p.use_pty and not p.pipes:
        return _wait_forwarding(pid)
    saved = termios.tcgetattr(0) if p.use_pty else None
    handlers: dict[int, object] = {}

    def resize(_signum: int, _frame: object) -> None:
        size = _winsize(0)
        if size is not None:
            with contextlib.suppress(OSError):
                fcntl.ioctl(p.master, termios.TIOCSWINSZ, size)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            os.killpg(pid, signum)  # the child leads its own session and group

    try:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            handlers[signum] = signal.signal(signum, _raise_stopped)
        if p.use_pty:
            handlers[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resize)
            tty.setraw(0, termios.TCSANOW)
        else:
            for signum in (signal.SIGINT, signal.SIGQUIT):
                handlers[signum] = signal.signal(signum, forward)
        return _relay(pid, p)
    finally:
        if saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(0, termios.TCSAFLUSH, saved)  # also drops unread input
        for number, handler in handlers.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        discard(p)


def _wait_forwarding(pid: int) -> int:
    """No terminal anywhere, nothing to relay: wait, handing SIGINT, SIGQUIT (a script's
    Ctrl-C, `timeout -s INT`), SIGTERM and SIGHUP (`kill`, `timeout`, a closed ssh) to the
    child's group, which no terminal reaches (it has its own session). Ignored, SIGINT would
    let the command run on and end 0; left to their default, SIGTERM/SIGHUP would end herodev
    alone and leave the command running until `delete`. Once the command has ended, SIGTERM or
    SIGHUP goes on to the caller (RelayStopped), as in run(): herodev ends 128+N."""
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if signum in (signal.SIGTERM, signal.SIGHUP):
            stopping.append(signum)
        with contextlib.suppress(OSError):
            os.killpg(pid, signum)

    forwarded = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP)
    handlers = {signum: signal.signal(signum, forward) for signum in forwarded}
    try:
        status = _waitpid(pid)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    if stopping:
        raise RelayStopped(stopping[0])
    return status


def _waitpid(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
