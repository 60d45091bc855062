#!/usr/bin/env python3
"""`changes` in a session against a loop of `git status --porcelain`, measured in one run.

A throwaway loopback btrfs code root gets 100, then 250, then 500 repositories of 40 files each
(20,000+ files at 500); at each size a fresh session changes 3 of them, and we time:

  fast      changes.scan() in-process (read-only snapshot + btrfs change stream + pygit2 on 3 repos)
  cli       `herodev changes -s NAME --json` as a process (Python start-up and imports included)
  full      changes.scan(full=True): pygit2 status in every repository
  git loop  `git status --porcelain` in every repository of the session, one process each

and print the ratio git loop / fast (goal: >= 20x) and how each grows with the repository count.
Finally the tree grows to 1,000 repositories and discovery (`repos`) is timed.

The code root is remounted noatime: with relatime, the first read of every file after it changed
rewrites its atime, and each such inode is one more entry in the change stream (seen here: 1,672
entries and 225 ms of `btrfs send` after one `ls -R` + `cat` of a 250-repository session).

Run as root: sudo python3 benchmarks/bench_changes.py [--sizes 100,250,500] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from herodev_shell.core import changes, repos
from herodev_shell.core.settings import load_settings
from herodev_shell.system.runner import Runner
from tests.conftest import HerodevEnv

FILES_PER_REPO = 40
GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x"}


def make_template(base: Path) -> Path:
    template = base / "template"
    for index in range(FILES_PER_REPO):
        path = template / f"dir{index % 5}" / f"file{index}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"line {index}\n" * 20)
    env = {**os.environ, **GIT_ENV}
    # Index written a second after the files: no "racily clean" entries, which git status
    # would re-hash and write back into every index (a change in every repository).
    time.sleep(1.1)
    subprocess.run(["git", "init", "-q", "-b", "main", str(template)], check=True, env=env)
    subprocess.run(["git", "-C", str(template), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(template), "commit", "-qm", "seed"], check=True, env=env)
    return template


def grow(code_root: Path, template: Path, have: int, want: int) -> None:
    for index in range(have, want):
        target = code_root / f"host{index % 7}.example" / f"org{index % 23}" / f"repo{index}"
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--reflink=auto", str(template), str(target)], check=True)
        # a fresh index stat cache, as after a clone
        subprocess.run(["git", "-C", str(target), "update-index", "-q", "--refresh"], check=False)


def timed(function, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def git_loop(session_root: Path, paths: list[str]) -> None:
    for relative in paths:
        subprocess.run(
            [
                "git",
                "-c",
                f"safe.directory={session_root / relative}",
                "-C",
                str(session_root / relative),
                "status",
                "--porcelain",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,250,500")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--discovery", type=int, default=1000, help="repositories for the discovery timing")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root (it makes a loopback btrfs, users and sessions)", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",")]
    base = Path(tempfile.mkdtemp(prefix="herodev-bench-", dir="/tmp"))
    os.chmod(base, 0o711)
    world = HerodevEnv(base, "bch_")
    world.config.write_text("")
    (base / "home").mkdir()
    rows = []
    try:
        world.run("-f", "init", "--no-packages", check=True, HERODEV_IMAGE_SIZE="4G")
        # Sessions are entered noatime; the operator's own reads (this git loop) must not turn
        # into atime changes either, or every later change stream carries one per file read.
        subprocess.run(["mount", "-o", "remount,noatime", str(world.code_root)], check=True)
        settings = load_settings(environ=world.env(HERODEV_IMAGE_SIZE="4G"))
        runner = Runner()
        template = make_template(base)
        have = 0
        for size in sizes:
            grow(world.code_root, template, have, size)
            have = size
            world.run("-f", "create", "bench", check=True)
            session_root = world.sessions_dir / world.user("bench")
            paths = repos.find_repository_paths(session_root)
            for relative in paths[:: max(1, len(paths) // 3)][:3]:
                with open(session_root / relative / "dir0" / "file0.txt", "a") as handle:
                    handle.write("changed\n")
            found = changes.scan(settings, runner, "bench")
            assert len(found.repos) == 3 and found.method == changes.FAST, found
            # Warm the page cache for both sides alike with a read-only pass (the full scan);
            # the git loop goes last, since git status may write an index back.
            changes.scan(settings, runner, "bench", full=True)
            fast = timed(lambda: changes.scan(settings, runner, "bench"), args.runs)
            cli = timed(lambda: world.run("changes", "-s", "bench", "--json", check=True), max(1, args.runs // 2))
            full = timed(lambda: changes.scan(settings, runner, "bench", full=True), max(1, args.runs // 2))
            loop = timed(lambda r=session_root, p=paths: git_loop(r, p), max(1, args.runs // 2))
            after = changes.scan(settings, runner, "bench")
            assert len(after.repos) == 3, "the git loop must not have changed the session"
            rows.append((size, size * (FILES_PER_REPO + 1), fast, cli, full, loop))
            world.run("-f", "delete", "bench", check=True)
        grow(world.code_root, template, have, args.discovery)
        find = timed(lambda: repos.find_repository_paths(world.code_root), args.runs)
        listing = timed(lambda: repos.discover(world.code_root), max(1, args.runs // 2))
    finally:
        world.cleanup()
        shutil.rmtree(base, ignore_errors=True)

    print(
        f"{'repos':>6} {'files':>7} {'fast ms':>8} {'cli ms':>8} {'full ms':>8} {'git loop ms':>11} "
        f"{'loop/fast':>9} {'loop/cli':>8}"
    )
    for size, files, fast, cli, full, loop in rows:
        print(
            f"{size:>6} {files:>7} {fast * 1000:>8.1f} {cli * 1000:>8.1f} {full * 1000:>8.1f} {loop * 1000:>11.1f} "
            f"{loop / fast:>8.1f}x {loop / cli:>7.1f}x"
        )
    first, last = rows[0], rows[-1]
    growth = last[0] / first[0]
    print(
        f"growth {first[0]} -> {last[0]} repositories ({growth:.1f}x): fast {last[2] / first[2]:.2f}x, "
        f"cli {last[3] / first[3]:.2f}x, git loop {last[5] / first[5]:.2f}x"
    )
    print(
        f"discovery of {args.discovery} repositories: find {find * 1000:.1f} ms, "
        f"with remote/branch/upstream {listing * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
