"""push's `git upload-pack` on the session side, run in the sandbox as the session user.

The trusted `git fetch` runs in the code root's repository and starts its `--upload-pack`
command with the session repository's path appended; that command is this module. It sets up
the same view as the sandbox child (the session's frozen tree idmapped, nosymfollow, read-only,
the code root covered), drops to the session user with no capabilities and no_new_privs, and
execs git upload-pack there: whatever the session's repository says (hooks, alternates,
commondir, includes) is read with the session user's rights only.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path

from herodev_shell.system import sandbox

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
_BOOT = (
    f"import sys; sys.path.insert(0, {_PACKAGE_PARENT!r}); "
    "from herodev_shell.system.sandbox_exec import main; main(sys.argv[1:])"
)
GIT_PATH = "/usr/local/bin:/usr/bin:/bin"


def upload_pack_command(spec: sandbox.Spec) -> str:
    """The shell command git fetch runs as `--upload-pack` (git appends the repository path)."""
    ident = spec.identity
    argv = [sys.executable, "-I", "-c", _BOOT, "--uid", str(ident.uid), "--gid", str(ident.gid)]
    if ident.owner_uid is not None and ident.owner_gid is not None:
        argv += ["--owner", f"{ident.owner_uid}:{ident.owner_gid}"]
    for tree in spec.trees:
        argv += ["--tree", os.fspath(tree)]
    if spec.cover is not None:
        argv += ["--cover", os.fspath(spec.cover)]
    argv += ["--timeout", f"{spec.limits.timeout:g}", "--"]
    return shlex.join(argv)


def _parse(argv: list[str]) -> tuple[sandbox.Spec, list[str]]:
    uid = gid = -1
    owner: tuple[int, int] | None = None
    trees: list[Path] = []
    cover: Path | None = None
    timeout = sandbox.DEFAULT_TIMEOUT
    rest = list(argv)
    while rest and rest[0] != "--":
        key, value = rest[0], rest[1]
        rest = rest[2:]
        if key == "--uid":
            uid = int(value)
        elif key == "--gid":
            gid = int(value)
        elif key == "--owner":
            a, b = value.split(":")
            owner = (int(a), int(b))
        elif key == "--tree":
            trees.append(Path(value))
        elif key == "--cover":
            cover = Path(value)
        elif key == "--timeout":
            timeout = float(value)
        else:
            raise SystemExit(f"sandbox_exec: unknown option {key}")
    identity = sandbox.Identity("session", uid, gid, *(owner or (None, None)))
    # pack-objects on a large repository needs more than a scan: git's own limits, plus ours
    limits = sandbox.Limits(timeout=timeout, address_space=16 << 30, cpu_seconds=3600)
    spec = sandbox.Spec(identity, tuple(trees), cover, False, limits)
    return spec, rest[1:]


def main(argv: list[str]) -> None:
    spec, args = _parse(argv)
    if len(args) != 1 or not any(Path(args[0]) == t or t in Path(args[0]).parents for t in spec.trees):
        sys.stderr.write("fatal: herodev's sandboxed upload-pack reads only the session's own tree\n")
        raise SystemExit(128)
    try:
        sandbox._attach(spec)
        with contextlib.suppress(OSError):
            os.setsid()  # no controlling terminal to reach
        os.closerange(3, 1 << 16)
        sandbox._drop(spec.identity, spec.limits)
    except OSError as exc:
        sys.stderr.write(f"fatal: cannot set up the session's sandbox: {exc.strerror or exc}\n")
        raise SystemExit(128) from None
    env = {"PATH": GIT_PATH, "HOME": "/nonexistent", "LC_ALL": "C.UTF-8", "GIT_CONFIG_NOSYSTEM": "1"}
    timeout = str(max(int(spec.limits.timeout), 30))
    os.execvpe("git", ["git", "upload-pack", f"--timeout={timeout}", args[0]], env)
