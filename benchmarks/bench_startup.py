#!/usr/bin/env python3
"""Start-up cost: process start to exit for the commands people and completion scripts run
most, each as a ratio to `python -c pass` measured in the same run, plus the import-time
profile of the slowest, and in-process completion with 500 sessions and 1,000 repositories.

Uses the installed console script (`herodev` beside this Python, as pip installs it) when it
exists, else `python -m herodev_shell`; the report says which. Sessions are metadata files in
a temporary code root (no btrfs, no root needed). Bytecode caching is left on for the
children (PYTHONDONTWRITEBYTECODE is dropped), as on an installed system. Asserts nothing.

Samples are equal and interleaved: each round runs every command once (bare Python included),
in an order rotated from round to round, so a change in machine load hits all of them alike.
The first round is a warm-up and is dropped (the report says so). A command's ratio is taken
within each round (its time / bare Python's time in the same round), and the median of those
is reported with the middle half's range. The report states the conditions: interpreter,
CPUs, the load average before and after, and the number of rounds.

    python3 benchmarks/bench_startup.py [--runs 20] [--sessions 500] [--repos 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL = 3.0  # --version and __complete within 3x of bare Python


def make_tree(base: Path, sessions: int, repos: int) -> Path:
    code = base / "code"
    meta_dir = code / ".sessions"
    meta_dir.mkdir(parents=True)
    for index in range(sessions):
        name = f"s{index:04d}"
        (meta_dir / f"dev_{name}.json").write_text(json.dumps({"name": name, "created": "2026-01-01T00:00:00Z"}))
    for index in range(repos):
        (code / f"git.example.com/org{index // 50:02d}/repo{index:04d}" / ".git").mkdir(parents=True)
    return code


def herodev_argv() -> tuple[list[str], str]:
    script = Path(sys.executable).parent / "herodev"
    if script.exists():
        return [str(script)], f"console script {script}"
    return [sys.executable, "-m", "herodev_shell"], f"{sys.executable} -m herodev_shell"


def run_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def interleaved(cases: list[tuple[str, list[str]]], env: dict[str, str], rounds: int) -> dict[str, list[float]]:
    """label -> one wall-time sample per round; round 0 (the warm-up) is run and dropped."""
    samples: dict[str, list[float]] = {label: [] for label, _ in cases}
    for round_index in range(rounds + 1):
        shift = round_index % len(cases)
        for label, argv in cases[shift:] + cases[:shift]:
            seconds = run_once(argv, env)
            if round_index > 0:
                samples[label].append(seconds)
    return samples


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 4:
        middle = statistics.median(values)
        return min(values), middle, max(values)
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return q1, q2, q3


def import_profile(argv: list[str], env: dict[str, str], top: int = 12) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) of the heaviest top-level imports, from -X importtime."""
    # The console script is a Python file: run it under the same interpreter with -X importtime.
    command = [sys.executable, "-X", "importtime", *(argv[1:] if argv[0] == sys.executable else argv)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    rows = []
    for line in result.stderr.splitlines():
        parts = line[len("import time:") :].split("|") if line.startswith("import time:") else []
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2][1:]
        depth = (len(name) - len(name.lstrip())) // 2
        if depth <= 1:  # top-level imports and what they import directly: a readable view
            rows.append((int(parts[1]), name.strip()))
    return sorted(rows, reverse=True)[:top]


def in_process(code: Path) -> list[tuple[str, float]]:
    from herodev_shell.cli import completion_data
    from herodev_shell.core.settings import Settings

    settings = Settings(code_root=code)
    results = []
    start = time.perf_counter()
    names = completion_data.session_names(settings)
    results.append((f"session names ({len(names)})", time.perf_counter() - start))
    start = time.perf_counter()
    repos = completion_data.repo_paths(settings, max_age=0)
    results.append((f"repository paths, cold ({len(repos)})", time.perf_counter() - start))
    start = time.perf_counter()
    completion_data.repo_paths(settings)
    results.append(("repository paths, cached", time.perf_counter() - start))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--repos", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="herodev-startup-") as tmp:
        base = Path(tmp)
        code = make_tree(base, args.sessions, args.repos)
        (base / "config.toml").write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERODEV_") and k != "PYTHONDONTWRITEBYTECODE"}
        env.update(HERODEV_CODE_ROOT=str(code), HERODEV_CONFIG=str(base / "config.toml"), NO_COLOR="1")
        env.update(HERODEV_AUDIT_LOG=str(base / "audit.jsonl"), HERODEV_USER_PREFIX="dev_")
        herodev, how = herodev_argv()

        cases = [
            ("herodev --version", [*herodev, "--version"]),
            (f"herodev __complete sessions ({args.sessions})", [*herodev, "__complete", "sessions"]),
            (f"herodev __complete repos ({args.repos})", [*herodev, "__complete", "repos"]),
            ("herodev help (builds the cmd2 shell)", [*herodev, "help"]),
        ]
        listing = subprocess.run([*herodev, "list", "--json"], env=env, capture_output=True, text=True, check=False)
        if listing.returncode == 0:
            cases.append((f"herodev list --json ({args.sessions})", [*herodev, "list", "--json"]))

        bare_label = "python -c pass"
        timed_cases = [(bare_label, [sys.executable, "-c", "pass"]), *cases]
        load_before = os.getloadavg()
        samples = interleaved(timed_cases, env, args.runs)
        load_after = os.getloadavg()
        print(f"herodev run as: {how}")
        print(
            f"conditions: Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), kernel {os.uname().release}, "
            f"load average {load_before[0]:.2f} before / {load_after[0]:.2f} after; "
            f"{args.runs} interleaved rounds (each command once per round, order rotated), 1 warm-up round dropped"
        )
        print(f"{'command':<44} {'median ms':>9} {'x bare':>7} {'x bare, middle half':>20}")
        slowest: tuple[float, list[str]] = (0.0, [])
        for label, argv in timed_cases:
            times = samples[label]
            ratios = [t / b for t, b in zip(times, samples[bare_label], strict=True)]
            low, ratio, high = quartiles(ratios)
            goal = ""
            if "--version" in label or "__complete" in label:
                goal = "  (goal <= 3x: met)" if ratio <= GOAL else "  (goal <= 3x: MISSED)"
            spread = f"{low:.2f}-{high:.2f}"
            print(f"{label:<44} {statistics.median(times) * 1000:9.1f} {ratio:7.2f} {spread:>20}{goal}")
            if label != bare_label:
                slowest = max(slowest, (statistics.median(times), argv))
        if listing.returncode != 0:
            print(f"(list --json not timed: it exited {listing.returncode}: {listing.stderr.strip()[:120]})")
        if max(load_before[0], load_after[0]) > (os.cpu_count() or 1):
            print("note: the machine was loaded (load average above the CPU count): ratios run high")

        shown = " ".join(slowest[1][-3:] if slowest[1][0] == sys.executable else ["herodev", *slowest[1][1:]])
        print(f"\nimport-time profile of the slowest, {shown} (cumulative, top-level imports):")
        for cumulative, name in import_profile(slowest[1], env):
            print(f"  {cumulative / 1000:8.1f} ms  {name}")

        print("\nin-process completion data (what one Tab costs in the shell):")
        for label, seconds in in_process(code):
            print(f"  {label:<40} {seconds * 1000:8.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
