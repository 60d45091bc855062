#!/usr/bin/env python3
"""exec round trip against `enter -- true`, the cost of joining a cgroup, and finding setup hooks.

One loopback btrfs world (tests/conftest.py helpers: its own code root, image, users, fleet
cgroup), removed at the end. Samples are interleaved (exec, enter, exec, enter, ...) so load
from other users of the machine falls on both alike. Prints medians; asserts nothing.

    sudo python3 benchmarks/bench_agents.py [--runs 20] [--repos 300]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from herodev_shell.core import execution, hooks, limits
from herodev_shell.core.settings import load_settings
from herodev_shell.system import cgroups
from herodev_shell.system.runner import Runner
from tests.conftest import init_world, new_prefix, traversable_base


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def interleaved(runs: int, actions: dict[str, Callable[[], object]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for action in actions.values():
        action()  # warm: caches, bytecode, the cgroup made once
    for _ in range(runs):
        for name, action in actions.items():
            samples[name].append(timed(action))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repos", type=int, default=300)
    options = parser.parse_args()
    with traversable_base("herodev-bench-") as base:
        from tests.conftest import HerodevEnv

        world = HerodevEnv(base, new_prefix())
        try:
            world, _ = init_world(base)
            env = world.env()
            settings = load_settings(environ=env)
            runner = Runner()
            world.run("create", "bench", "--no-setup", check=True)
            world.run("create", "limited", "--memory", "1G", "--cpus", "1", "--tasks", "500", "--no-setup", check=True)

            def cli(*args: str) -> Callable[[], object]:
                argv = [sys.executable, "-m", "herodev_shell", *args]
                return lambda: subprocess.run(argv, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)

            whole = interleaved(
                options.runs,
                {
                    "python -c pass": lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
                    "herodev exec NAME -- true": cli("exec", "bench", "--", "true"),
                    "herodev enter NAME -- true": cli("enter", "bench", "--", "true"),
                    "herodev exec (limited session) -- true": cli("exec", "limited", "--", "true"),
                },
            )
            core = interleaved(
                options.runs,
                {
                    "exec_in_session(true)": lambda: execution.exec_in_session(settings, runner, "bench", ["true"]),
                    "enter_session(true)": lambda: _enter_quietly(settings, runner),
                    "session cgroup made/mended (limits.prepare_group)": lambda: limits.prepare_group(
                        settings, "limited", cgroups.Limits(1 << 30, 1.0, 500)
                    ),
                },
            )
            for index in range(options.repos):
                (world.code_root / f"host/org{index // 50}/repo{index}/.git").mkdir(parents=True)
            walk = interleaved(
                options.runs, {f"find_hooks ({options.repos} repositories)": lambda: hooks.find_hooks(settings)}
            )
            print(f"{'measure':58} {'median':>10}")
            for name, value in {**whole, **core, **walk}.items():
                print(f"{name:58} {value * 1000:8.1f} ms")
            ratio = whole["herodev exec NAME -- true"] / whole["herodev enter NAME -- true"]
            print(f"exec / enter (whole process): {ratio:.2f}")
            inner = core["exec_in_session(true)"] / core["enter_session(true)"]
            print(f"exec_in_session / enter_session (in-process): {inner:.2f}")
        finally:
            for name in ("bench", "limited"):
                world.run("delete", "-f", name)
            world.cleanup()
    return 0


def _enter_quietly(settings: object, runner: Runner) -> int:
    """enter_session with no terminal: its pipes stand in for the tty (as under CI)."""
    return execution.enter_session(settings, runner, "bench", ["true"])  # type: ignore[arg-type]


if __name__ == "__main__":
    raise SystemExit(main())
