#!/usr/bin/env python3
"""`create` against a raw pair of `btrfs subvolume snapshot` calls and `cp -a`, for a code root
of 100 and of 100,000 files, warm and after churn, in the default quota mode (simple where the
kernel has it).

For each tree size, in a fresh loopback world (benchmarks/realworld.py), samples interleaved,
equal counts, after one untimed create (it pays for committing the freshly written tree):
  create (CLI)   the whole `herodev create NAME` process (Python start-up, useradd, the quota
                 group, two snapshots, metadata)
  create (core)  sessions.create_session() in this process: the same minus start-up
  raw pair       `btrfs subvolume snapshot -r CODE BASE` + `btrfs subvolume snapshot BASE SNAP`
  cp -a          of the tree, on the same filesystem (coreutils reflinks)
"warm": nothing deleted before. "after churn": 5 sessions wrote 5,000 files each and were
deleted just before the samples (what the kernel has left to clean up is billed to them).

Run as root: python3 benchmarks/bench_create.py [--runs 5] [--large 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realworld import World, big_repository, load, summary, world

from herodev_shell.core import sessions
from herodev_shell.system.runner import Runner


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def churn(w: World) -> None:
    write = "mkdir churn && cd churn && i=0; while [ $i -lt 5000 ]; do echo $i > f$i; i=$((i+1)); done"
    for index in range(5):
        w.herodev("create", f"churn{index}")
        w.in_session(f"churn{index}", write)
    for index in range(5):
        w.herodev("-f", "delete", "-f", f"churn{index}")


def samples(w: World, runs: int, tag: str) -> dict[str, list[float]]:
    runner = Runner()
    sessions_dir = w.settings.sessions_dir
    scratch = w.code / ".bench"
    scratch.mkdir(exist_ok=True)
    found: dict[str, list[float]] = {"create (CLI)": [], "create (core)": [], "raw pair": [], "cp -a": []}
    for index in range(runs):
        found["create (CLI)"].append(w.herodev("create", f"{tag}c{index}")[0])
        found["create (core)"].append(timed(lambda i=index: sessions.create_session(w.settings, runner, f"{tag}k{i}")))
        base, snap = sessions_dir / f"raw{tag}{index}.base", sessions_dir / f"raw{tag}{index}"

        def pair(base: Path = base, snap: Path = snap) -> None:
            subprocess.run(
                ["btrfs", "subvolume", "snapshot", "-r", str(w.code), str(base)], check=True, capture_output=True
            )
            subprocess.run(["btrfs", "subvolume", "snapshot", str(base), str(snap)], check=True, capture_output=True)

        found["raw pair"].append(timed(pair))
        target = scratch / f"cp{tag}{index}"
        found["cp -a"].append(
            timed(lambda t=target: subprocess.run(["cp", "-a", str(w.code / "org"), str(t)], check=True))
        )
        shutil.rmtree(target)
    return found


def measure(files: int, runs: int) -> dict[str, dict[str, float]]:
    with world("16G") as w:
        big_repository(w.code / "org" / "repo", files)
        subprocess.run(["btrfs", "filesystem", "sync", str(w.code)], check=True, capture_output=True)
        w.herodev("create", "warmup")
        warm = samples(w, runs, "w")
        churn(w)
        after = samples(w, runs, "a")
    return {
        "warm": {k: summary(v)[0] for k, v in warm.items()},
        "after churn": {k: summary(v)[0] for k, v in after.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("benchmarks need root (users, loop devices, btrfs)", file=sys.stderr)
        return 1
    results = {n: measure(n, args.runs) for n in (args.small, args.large)}
    print(f"\ncreate, median of {args.runs} (interleaved), quota mode simple; load {load()}")
    keys = ["create (CLI)", "create (core)", "raw pair", "cp -a"]
    header = "".join(f"{f'{n:,} {c}':>22}" for n in results for c in ("warm", "after churn"))
    print(f"{'':16}{header}")
    for key in keys:
        row = "".join(f"{results[n][c][key] * 1000:>19.0f} ms" for n in results for c in ("warm", "after churn"))
        print(f"{key:16}{row}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
