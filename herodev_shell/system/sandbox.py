"""The sandbox child: the only way herodev reads or writes a session's tree.

Root never touches session content itself. Each call forks a child that
  1. enters a private mount namespace, clones the session's tree (the frozen scan snapshot for
     reads, the live session for writes) and its base through the same id mapping `enter` uses,
     `nosymfollow,nosuid,nodev` (read-only for reads), covers the code root with an empty tmpfs
     (no other session, no base code root) and attaches the clones at their own paths in it;
  2. detaches from the operator's terminal (setsid, stdio on /dev/null, every other fd closed);
  3. drops to the session user: bounding set and ambient capabilities cleared, no
     supplementary groups, setresgid/setresuid, no_new_privs; refuses to go on as uid 0;
  4. runs under rlimits (address space, CPU seconds, file size, no core dumps).
So a `core.worktree`, `commondir`, `include.path` or alternates aimed outside the session fails
for lack of permission or of the path itself, not because a check caught it.

Answers come back as length-prefixed JSON frames (never pickle: the child may be subverted, and
the parent decodes them as data), one per item, each under a deadline; a child past its deadline
is killed with its process group and reaped, and the item becomes an error. The total answer is
capped. `decode` turns frames back into dataclasses, checking every field's type.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import resource
import select
import signal
import struct
import time
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from herodev_shell.errors import HerodevError
from herodev_shell.system import cgroups, idmap, libc

DEFAULT_TIMEOUT = 20.0  # seconds per item (HERODEV_READ_TIMEOUT)
ANSWER_CAP = 64 << 20  # bytes a child may send back in one call
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_DUMPABLE = 4
_KEPT_ENV = ("PATH", "LANG", "LC_ALL")
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4


class Timeout(HerodevError):
    """A sandboxed call ran past its deadline and was killed."""


@dataclass(frozen=True)
class Identity:
    """Who the child becomes. owner_* set: the trees are idmapped (code owner <-> session user),
    as in `enter`; None: the chown fallback, the trees are mounted as they are."""

    user: str
    uid: int
    gid: int
    owner_uid: int | None = None
    owner_gid: int | None = None


@dataclass(frozen=True)
class Limits:
    timeout: float = DEFAULT_TIMEOUT  # per item
    address_space: int = 2 << 30  # pygit2 maps packs; a runaway diff stops here
    cpu_seconds: int = 600
    file_size: int = 8 << 30
    answer: int = ANSWER_CAP


@dataclass(frozen=True)
class Spec:
    identity: Identity
    trees: tuple[Path, ...]  # attached at their own paths; the first is the session's
    cover: Path | None  # covered with an empty tmpfs first (the code root); trees live under it
    writable: bool = False
    limits: Limits = Limits()
    cgroup_procs: tuple[str, ...] = ()  # the session's cgroup.procs files, joined as root first


# --- the child --------------------------------------------------------------------------------


def _prctl(option: int, arg: int) -> int:
    return libc.prctl(option, arg)


def _attach(spec: Spec) -> None:
    libc.unshare(libc.CLONE_NEWNS)
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    ident = spec.identity
    userns = None
    if ident.owner_uid is not None and ident.owner_gid is not None:
        userns = idmap.user_namespace(
            idmap.swap_map(ident.owner_uid, ident.uid), idmap.swap_map(ident.owner_gid, ident.gid)
        )
    attrs = libc.MOUNT_ATTR_NOSUID | libc.MOUNT_ATTR_NODEV | libc.MOUNT_ATTR_NOSYMFOLLOW | libc.MOUNT_ATTR_NOATIME
    clones = []
    try:
        for index, tree in enumerate(spec.trees):
            extra = attrs if (spec.writable and index == 0) else attrs | libc.MOUNT_ATTR_RDONLY
            fd = libc.open_tree(tree, libc.OPEN_TREE_CLONE | libc.OPEN_TREE_CLOEXEC)
            libc.mount_setattr(
                fd, extra | (libc.MOUNT_ATTR_IDMAP if userns is not None else 0), userns or 0, libc.MOUNT_ATTR__ATIME
            )
            clones.append((fd, tree))
    finally:
        if userns is not None:
            os.close(userns)
    if spec.cover is not None:
        flags = libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC
        libc.mount("herodev-sandbox", os.fspath(spec.cover), "tmpfs", flags, "size=64k,mode=0755")
    for fd, tree in clones:
        if spec.cover is not None:
            os.makedirs(tree, mode=0o755, exist_ok=True)
        libc.move_mount(fd, tree)
        os.close(fd)
    if spec.cover is not None:
        remount = libc.MS_REMOUNT | libc.MS_RDONLY | flags
        libc.mount(None, os.fspath(spec.cover), None, remount, "size=64k,mode=0755")


def _detach(keep: int) -> None:
    os.setsid()  # no controlling terminal: TIOCSTI and job-control signals cannot reach ours
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 16)  # lock fds, the terminal, pipes of other children


def _drop(identity: Identity, limits: Limits) -> None:
    if identity.uid == 0 or identity.gid == 0:
        raise PermissionError(1, "refusing to run session content as root")
    for cap in range(64):
        if _prctl(_PR_CAPBSET_DROP, cap) != 0 and libc.errno() == 22:  # EINVAL: past the last
            break
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    os.setgroups([])
    os.setresgid(identity.gid, identity.gid, identity.gid)
    os.setresuid(identity.uid, identity.uid, identity.uid)
    if _prctl(_PR_SET_NO_NEW_PRIVS, 1) != 0:
        raise PermissionError(libc.errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    # Not dumpable: a session process with the same uid can neither ptrace this child nor read
    # its memory (a copy of root's, from the fork) through /proc.
    _prctl(_PR_SET_DUMPABLE, 0)
    for key in list(os.environ):
        if key not in _KEPT_ENV and not key.startswith("HERODEV_"):
            del os.environ[key]
    if 0 in os.getresuid() or 0 in os.getresgid() or _effective_caps() != 0:
        raise PermissionError(1, "the sandbox still has root's privileges")
    for which, value in (
        (resource.RLIMIT_AS, limits.address_space),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_FSIZE, limits.file_size),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(which, (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    os.umask(0o022)
    os.chdir("/")


def _effective_caps() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return -1


def _frame(fd: int, payload: object) -> None:
    data = json.dumps(payload, separators=(",", ":")).encode()
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _error_payload(exc: BaseException) -> list[object]:
    if isinstance(exc, HerodevError):
        return ["error", exc.message, exc.hint]
    if isinstance(exc, OSError):
        text = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
        return ["error", text, None]
    if isinstance(exc, MemoryError):
        return ["error", "ran out of memory (the sandbox's address-space limit)", None]
    return ["error", f"{type(exc).__name__}: {exc}", None]


def _child(spec: Spec, work: Callable[[Any], object], items: Sequence[Any], write_fd: int) -> None:
    """Never returns."""
    try:
        _detach(write_fd)
        try:
            # The session's memory and tasks limits bound this read of its content as they bound
            # its own processes; joining takes root, so before anything is dropped.
            cgroups.join(spec.cgroup_procs)
            _attach(spec)
            _drop(spec.identity, spec.limits)
        except OSError as exc:
            _frame(write_fd, ["setup", f"cannot set up the sandbox: {exc.strerror or exc}"])
            os._exit(0)
        for item in items:
            try:
                payload: list[object] = ["ok", work(item)]
            except BaseException as exc:  # one item's failure is that item's answer
                payload = _error_payload(exc)
            _frame(write_fd, payload)
    finally:
        os._exit(0)


# --- the parent -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """An item the child could not answer: its error, or the deadline."""

    message: str
    hint: str | None = None


def _kill(pid: int) -> None:
    for target in (-pid, pid):  # its process group (setsid), then itself if that is gone
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def _read_exact(fd: int, size: int, deadline: float) -> bytes | None:
    chunks, missing = [], size
    while missing:
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _start(spec: Spec, work: Callable[[Any], object], items: Sequence[Any]) -> tuple[int, int]:
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(spec, work, items, write_fd)
    os.close(write_fd)
    return pid, read_fd


def run_each(spec: Spec, work: Callable[[Any], object], items: Sequence[Any]) -> Iterator[object | Failure]:
    """work(item) in the sandbox for each item, in order: its JSON value, or a Failure.

    An item past the deadline is killed; the rest go on in a fresh child. A setup failure (the
    kernel refuses a mount, the user is gone) raises."""
    remaining = list(items)
    budget = spec.limits.answer
    while remaining:
        pid, fd = _start(spec, work, remaining)
        answered = 0
        try:
            while answered < len(remaining):
                deadline = time.monotonic() + spec.limits.timeout
                try:
                    header = _read_exact(fd, 4, deadline)
                    if header is None:
                        raise HerodevError("the sandbox child died without an answer")
                    (size,) = struct.unpack(">I", header)
                    if size > budget:
                        raise HerodevError(
                            f"the sandbox's answer exceeds {spec.limits.answer >> 20} MiB: stopped",
                            hint="too much output from the session (the rest was truncated)",
                        )
                    body = _read_exact(fd, size, deadline)
                except TimeoutError:
                    _kill(pid)
                    pid = 0
                    yield Failure(
                        f"stopped after {spec.limits.timeout:g}s (HERODEV_READ_TIMEOUT)",
                        "a FIFO or device where git expects a file, or a very large repository",
                    )
                    answered += 1
                    break
                if body is None:
                    raise HerodevError("the sandbox child died without an answer")
                budget -= size
                try:
                    payload = json.loads(body)
                except ValueError:
                    raise HerodevError("the sandbox child sent something that is not JSON") from None
                if not isinstance(payload, list) or not payload:
                    raise HerodevError("the sandbox child sent a malformed answer")
                if payload[0] == "setup":
                    raise HerodevError(str(payload[1]) if len(payload) > 1 else "cannot set up the sandbox")
                answered += 1
                if payload[0] == "ok" and len(payload) == 2:
                    yield payload[1]
                elif payload[0] == "error" and len(payload) == 3:
                    hint = payload[2] if isinstance(payload[2], str) else None
                    yield Failure(str(payload[1]), hint)
                else:
                    raise HerodevError("the sandbox child sent a malformed answer")
        finally:
            os.close(fd)
            if pid:
                _kill(pid)
        remaining = remaining[answered:]


def run(spec: Spec, work: Callable[[], object]) -> object:
    """work() in the sandbox: its JSON value, or its error raised here as a HerodevError."""
    (answer,) = list(run_each(spec, lambda _item: work(), [None]))
    if isinstance(answer, Failure):
        cls = Timeout if answer.message.startswith("stopped after") else HerodevError
        raise cls(answer.message, hint=answer.hint)
    return answer


# --- data across the boundary -----------------------------------------------------------------


def encode(value: object) -> object:
    """Dataclasses, tuples and lists as plain JSON values (what the child sends)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{type(value).__name__} cannot leave the sandbox")


class BadAnswer(HerodevError):
    """The child's answer does not have the shape the parent expects."""


@functools.cache
def _type_hints(kind: type) -> dict[str, Any]:
    """A dataclass's field types, resolved once: typing.get_type_hints evaluates every string
    annotation anew, which was a third of a 301-repository `changes` (two answers each)."""
    return typing.get_type_hints(kind)


def decode(kind: Any, data: object, where: str = "answer") -> Any:
    """data (from the child) checked against the type `kind` and rebuilt; BadAnswer if it does not fit."""
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(data, dict):
            raise BadAnswer(f"sandbox {where}: expected an object")
        hints = _type_hints(kind)
        values = {}
        for f in dataclasses.fields(kind):
            if f.name in data:
                values[f.name] = decode(hints[f.name], data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise BadAnswer(f"sandbox {where}: {f.name} missing")
        return kind(**values)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(kind):
            try:
                return decode(option, data, where)
            except BadAnswer:
                continue
        raise BadAnswer(f"sandbox {where}: unexpected {type(data).__name__}")
    if origin in (list, tuple):
        args = typing.get_args(kind)
        if not isinstance(data, list):
            raise BadAnswer(f"sandbox {where}: expected a list")
        items = [decode(args[0], v, where) for v in data]
        return items if origin is list else tuple(items)
    if origin is dict:
        key_type, value_type = typing.get_args(kind)
        if not isinstance(data, dict):
            raise BadAnswer(f"sandbox {where}: expected an object")
        return {decode(key_type, k, where): decode(value_type, v, where) for k, v in data.items()}
    if kind is type(None):
        if data is not None:
            raise BadAnswer(f"sandbox {where}: expected null")
        return None
    if kind is Any or kind is object:
        return data
    if kind is bool:
        if not isinstance(data, bool):
            raise BadAnswer(f"sandbox {where}: expected a boolean")
        return data
    if kind is int:
        if isinstance(data, bool) or not isinstance(data, int) or not -(1 << 63) <= data < (1 << 63):
            raise BadAnswer(f"sandbox {where}: expected an integer")
        return data
    if kind is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise BadAnswer(f"sandbox {where}: expected a number")
        return float(data)
    if kind is str:
        if not isinstance(data, str) or "\x00" in data:
            raise BadAnswer(f"sandbox {where}: expected a string")
        return data
    raise BadAnswer(f"sandbox {where}: cannot decode {kind!r}")


def plain_relative(path: str) -> bool:
    """A repository path as a session may report it: relative, no '..', no empty part."""
    if path == ".":
        return True
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..") for p in parts)
