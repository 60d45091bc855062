#!/usr/bin/env python3
"""`changes` on a realistic code root, idle and under churn, per quota mode; and against the
`git status` loops a user would run in the same session.

World (benchmarks/realworld.py): 300 clones with real histories, 50,000+ files, plus one
repository of 100,000 files, on a loopback btrfs code root.

(b) loops, quota mode simple, three cases in fresh sessions:
    3 repositories changed | every index refreshed (the session ran `git status` in every
    repository: that rewrites each index) | one file changed in the 100,000-file repository.
    herodev: `herodev --json changes -s NAME`, the whole process. Loops: run inside the session
    as its user (`herodev exec`), timed inside by the shell, over every repository:
    `git --no-optional-locks -c core.checkStat=minimal status --porcelain` (warm: nothing
    re-hashed, nothing written), one after the other, and two at a time (`xargs -P2`).
    Samples interleaved, equal counts, after one untimed run of each.
(a) churn, per quota mode (switched with `init --quotas`; full waits for its rescan):
    a probe session with 2 repositories changed; `changes` idle (1 s apart), then back to
    back (what the previous scan left for btrfs's cleaner is billed to the next); then 5 sessions
    write 5,000 files each and are deleted; then for --seconds, `changes`, `create` and
    `delete` in turn. Median and p95 of each.

Run as root: python3 benchmarks/bench_changes.py [--seconds 60] [--runs 7] [--modes simple,off,full]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realworld import (
    World,
    big_repository,
    clone_world,
    load,
    make_seeds,
    repositories,
    summary,
    world,
)

BIG = "big.example.com/org/monorepo"
GIT = "git --no-optional-locks -c core.checkStat=minimal status --porcelain"


def ms(value: float) -> str:
    return f"{value * 1000:,.0f} ms"


def loop_seconds(w: World, name: str, repos: list[str], parallel: bool) -> float:
    if parallel:
        body = f"printf '%s\\n' {' '.join(repos)} | xargs -P2 -I{{}} {GIT.replace('status', '-C {} status')} >/dev/null"
    else:
        body = f"for r in {' '.join(repos)}; do {GIT.replace('status', '-C $r status')} >/dev/null; done"
    out = w.in_session(name, f"s=$(date +%s%N); {body}; e=$(date +%s%N); echo $((e - s))")
    return int(out.strip().splitlines()[-1]) / 1e9


def compare(w: World, name: str, repos: list[str], runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"herodev": [], "sequential": [], "parallel": []}
    w.herodev("--json", "changes", "-s", name)  # warm
    loop_seconds(w, name, repos, False)
    loop_seconds(w, name, repos, True)
    for _ in range(runs):
        samples["herodev"].append(w.herodev("--json", "changes", "-s", name)[0])
        samples["sequential"].append(loop_seconds(w, name, repos, False))
        samples["parallel"].append(loop_seconds(w, name, repos, True))
    return samples


def bench_loops(w: World, repos: list[str], runs: int) -> None:
    print(f"\n(b) changes vs git status loops over {len(repos)} repositories (median of {runs}, load {load()})")
    small = [r for r in repos if r != BIG]
    cases = []
    w.herodev("create", "three")
    w.in_session("three", " && ".join(f"echo edit >> {r}/README.md 2>/dev/null || echo e > {r}/NEW" for r in small[:3]))
    cases.append(("3 repositories changed", compare(w, "three", repos, runs)))
    w.herodev("create", "refresh")
    w.in_session("refresh", f"for r in {' '.join(repos)}; do git -C $r status >/dev/null; done")
    w.in_session("refresh", " && ".join(f"echo e > {r}/NEW" for r in small[:3]))
    cases.append(("every index refreshed (+3 changed)", compare(w, "refresh", repos, runs)))
    w.herodev("create", "onefile")
    w.in_session("onefile", f"echo edit >> {BIG}/d00001/f07.txt")
    cases.append(("1 file in the 100,000-file repository", compare(w, "onefile", repos, runs)))
    print(f"{'case':40}{'herodev':>12}{'git loop':>12}{'2-way loop':>12}")
    for label, samples in cases:
        h, s, p = (summary(samples[k])[0] for k in ("herodev", "sequential", "parallel"))
        print(f"{label:40}{ms(h):>12}{ms(s):>12}{ms(p):>12}")
    for name in ("three", "refresh", "onefile"):
        w.herodev("-f", "delete", "-f", name)


def switch_mode(w: World, mode: str) -> None:
    w.herodev("-f", "init", "--no-packages", "--quotas", mode)
    if mode == "full":
        subprocess.run(["btrfs", "quota", "rescan", "-w", str(w.code)], capture_output=True, check=False)
    subprocess.run(["btrfs", "filesystem", "sync", str(w.code)], capture_output=True, check=False)


def bench_churn(w: World, repos: list[str], mode: str, seconds: float) -> dict[str, tuple[float, float, int]]:
    switch_mode(w, mode)
    w.herodev("create", "probe")
    w.in_session("probe", f"echo e > {repos[len(repos) // 3]}/NEW && echo e > {repos[2 * len(repos) // 3]}/NEW")
    idle, back_to_back = [], []
    for _ in range(8):
        idle.append(w.herodev("--json", "changes", "-s", "probe")[0])
        time.sleep(1)
    # What a scan leaves for the kernel (its deleted snapshot) must not slow the next one.
    for _ in range(8):
        back_to_back.append(w.herodev("--json", "changes", "-s", "probe")[0])
    write = "mkdir churn && cd churn && i=0; while [ $i -lt 5000 ]; do echo $i > f$i; i=$((i+1)); done"
    for index in range(5):
        w.herodev("create", f"churn{index}")
        w.in_session(f"churn{index}", write)
    for index in range(5):
        w.herodev("-f", "delete", "-f", f"churn{index}")
    found: dict[str, list[float]] = {"changes": [], "create": [], "delete": []}
    end = time.monotonic() + seconds
    count = 0
    while time.monotonic() < end:
        found["changes"].append(w.herodev("--json", "changes", "-s", "probe")[0])
        found["create"].append(w.herodev("create", f"t{count}")[0])
        found["delete"].append(w.herodev("-f", "delete", f"t{count}")[0])
        count += 1
    w.herodev("-f", "delete", "-f", "probe")
    result = {"changes idle": (*summary(idle), len(idle))}
    result["changes back-to-back"] = (*summary(back_to_back), len(back_to_back))
    result.update({f"{k} after churn": (*summary(v), len(v)) for k, v in found.items()})
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=300)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--modes", default="simple,off,full")
    parser.add_argument("--skip-loops", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("benchmarks need root (users, loop devices, btrfs)", file=sys.stderr)
        return 1
    started = time.monotonic()
    with world("24G") as w, tempfile.TemporaryDirectory(prefix="herodev-seeds-", dir="/var/tmp") as seeds_dir:
        seeds = make_seeds(Path(seeds_dir))
        files = clone_world(w.code, seeds, args.repos, args.files)
        big_repository(w.code / BIG, args.big)
        repos = repositories(w.code)
        # As on a code root people work in: each index refreshed once, after its files were
        # written (a fresh clone's entries are "racily clean" and git would re-hash them all).
        time.sleep(1.1)
        for relative in repos:
            subprocess.run(["git", "-C", str(w.code / relative), "status", "--porcelain"], capture_output=True)
        subprocess.run(["btrfs", "filesystem", "sync", str(w.code)], check=True, capture_output=True)
        print(
            f"world: {len(repos)} repositories ({args.repos} clones of {len(seeds)} seeds, {files:,} files, "
            f"+ {args.big:,} in {BIG}), built in {time.monotonic() - started:.0f} s; load {load()}"
        )
        if not args.skip_loops:
            bench_loops(w, repos, args.runs)
        modes = [m for m in args.modes.split(",") if m]
        if modes:
            print(
                f"\n(a) churn: {args.seconds:.0f} s of changes/create/delete after 5 x 5,000 files written and deleted"
            )
            print(f"{'mode':8}{'what':24}{'median':>12}{'p95':>12}{'n':>5}  load")
        for mode in modes:
            for what, (median, p95, n) in bench_churn(w, [r for r in repos if r != BIG], mode, args.seconds).items():
                print(f"{mode:8}{what:24}{ms(median):>12}{ms(p95):>12}{n:>5}  {load()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
