#!/usr/bin/env python3
"""How long `create` takes for a small and a large code root, against `cp -a` and `git worktree
add` of the same tree in the same run; and how long `list` takes with 500 sessions.

Needs root, btrfs-progs and loop devices. Makes its own loopback images, code roots and
users (prefix bn<hex>_) and removes them at the end. Prints a table; asserts nothing.

    sudo python3 benchmarks/bench_create.py [--large 100000] [--sessions 500] [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from herodev_shell.core import layout, sessions
from herodev_shell.core.settings import Settings, load_settings
from herodev_shell.system import users
from herodev_shell.system.runner import Runner


class World:
    def __init__(self, base: Path, size: str = "4G") -> None:
        self.base = base
        self.prefix = f"bn{secrets.token_hex(2)[:3]}_"
        (base / "config.toml").write_text("")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HERODEV_")},
            "HERODEV_CODE_ROOT": str(base / "code"),
            "HERODEV_IMAGE": str(base / "img"),
            "HERODEV_IMAGE_SIZE": size,
            "HERODEV_FSTAB": str(base / "fstab"),
            "HERODEV_USER_PREFIX": self.prefix,
            "HERODEV_CONFIG": str(base / "config.toml"),
            "HERODEV_AUDIT_LOG": str(base / "audit.jsonl"),
            "NO_COLOR": "1",
        }
        self.env.pop("SUDO_UID", None)
        self.env.pop("SUDO_GID", None)
        self.settings: Settings = load_settings(environ=self.env)

    def herodev(self, *args: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "herodev_shell", *args], env=self.env, check=True, capture_output=True)
        return time.perf_counter() - start

    def cleanup(self) -> None:
        for user in users.users_with_prefix(self.prefix):
            subprocess.run(["userdel", "-r", "-f", user.name], capture_output=True, check=False)
        code = self.base / "code"
        if subprocess.run(["umount", str(code)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(code)], capture_output=True, check=False)
        out = subprocess.run(["losetup", "-j", str(self.base / "img")], capture_output=True, text=True).stdout
        for line in out.splitlines():
            subprocess.run(["losetup", "-d", line.split(":")[0]], capture_output=True, check=False)


@contextlib.contextmanager
def world(size: str = "4G") -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="herodev-bench-", dir="/var/tmp"))
    os.chmod(base, 0o711)
    w = World(base, size)
    try:
        w.herodev("-f", "init", "--no-packages")
        yield w
    finally:
        w.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def populate(repo: Path, files: int) -> None:
    """files small files, 100 per directory, committed to one git repository."""
    repo.mkdir(parents=True)
    for index in range(files):
        directory = repo / f"d{index // 100:05d}"
        if index % 100 == 0:
            directory.mkdir()
        (directory / f"f{index % 100:02d}.txt").write_text(f"file {index}\n")
    git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "tree"], check=True)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure_tree(files: int, runs: int) -> dict[str, float]:
    with world() as w:
        populate(w.settings.code_root / "org" / "repo", files)
        os.sync()
        runner = Runner()
        # No delete between runs: dropping a snapshot keeps btrfs busy (qgroup accounting)
        # and would be billed to the next create.
        # One create first, untimed: it pays for committing the freshly written tree (and, with
        # quotas on, accounting its extents), which is the cost of writing files, not of create.
        sessions.create_session(w.settings, runner, "warm")
        creates = [timed(lambda i=i: sessions.create_session(w.settings, runner, f"q{i}")) for i in range(runs)]
        cli_create = w.herodev("create", "cli")
        scratch = w.settings.code_root / ".bench"
        scratch.mkdir()
        cp = timed(
            lambda: runner.run(["cp", "-a", str(w.settings.code_root / "org"), str(scratch / "cp")], timeout=None)
        )
        repo = w.settings.code_root / "org" / "repo"
        worktree = timed(
            lambda: runner.run(
                ["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(scratch / "wt"), "HEAD"], timeout=None
            )
        )
        # The same without btrfs quotas (init turns them on for `df` and `create --quota`).
        runner.run(["btrfs", "quota", "disable", str(w.settings.code_root)])
        os.sync()  # cp -a and the worktree just wrote a copy of the tree: not create's cost either
        sessions.create_session(w.settings, runner, "warm2")
        plain = [timed(lambda i=i: sessions.create_session(w.settings, runner, f"n{i}")) for i in range(runs)]
        return {
            "create": statistics.median(creates),
            "create_noquota": statistics.median(plain),
            "create_cli": cli_create,
            "cp": cp,
            "worktree": worktree,
        }


def measure_list(count: int) -> dict[str, float]:
    """count real sessions (user, snapshot, base, metadata), made in bulk, then list them."""
    with world("2G") as w:
        populate(w.settings.code_root / "org" / "repo", 100)
        runner = Runner()
        for index in range(count):
            sessions.create_session(w.settings, runner, f"s{index:04d}")
        assert len(layout.session_names(w.settings)) == count
        in_process = statistics.median(timed(lambda: sessions.list_sessions(w.settings)) for _ in range(5))
        cli = statistics.median(w.herodev("list") for _ in range(3))
        cli_json = statistics.median(w.herodev("list", "--json") for _ in range(3))
        baseline = statistics.median(w.herodev("--version") for _ in range(3))
        return {"list": in_process, "list_cli": cli, "list_json_cli": cli_json, "startup": baseline}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("benchmarks need root (users, loop devices, btrfs)", file=sys.stderr)
        return 1
    btrfs_ok = shutil.which("btrfs") is not None
    if not btrfs_ok:
        print("needs btrfs-progs", file=sys.stderr)
        return 1

    small = measure_tree(args.small, args.runs)
    large = measure_tree(args.large, args.runs)
    print(f"\ncreate (median of {args.runs}, in-process: useradd + 2 snapshots + metadata; quotas on unless said)")
    print(f"{'':28}{args.small:>12,} files{args.large:>12,} files{'ratio':>10}")
    rows = [
        ("herodev create (core)", "create"),
        ("  same, btrfs quotas off", "create_noquota"),
        ("herodev create (CLI, 1 run)", "create_cli"),
        ("cp -a", "cp"),
        ("git worktree add", "worktree"),
    ]
    for label, key in rows:
        ratio = large[key] / small[key] if small[key] else float("nan")
        print(f"{label:28}{small[key] * 1000:>15.1f} ms{large[key] * 1000:>15.1f} ms{ratio:>10.2f}")
    print(
        f"large tree: create is {large['cp'] / large['create']:.0f}x faster than cp -a, "
        f"{large['worktree'] / large['create']:.0f}x faster than git worktree add"
    )

    listed = measure_list(args.sessions)
    print(f"\nlist with {args.sessions} sessions (median)")
    print(f"{'list_sessions() in-process':36}{listed['list'] * 1000:>10.1f} ms")
    print(f"{'herodev list (CLI, table)':36}{listed['list_cli'] * 1000:>10.1f} ms")
    print(f"{'herodev list --json (CLI)':36}{listed['list_json_cli'] * 1000:>10.1f} ms")
    print(f"{'herodev --version (startup only)':36}{listed['startup'] * 1000:>10.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
