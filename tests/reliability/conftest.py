"""The reliability suite's counters and its closing summary line.

Every number in the summary is counted while the cases run: a case calls `tally.fault()`
when it injects a fault, `tally.hostile()` per hostile input, and `tally.check_kept()` to
compare the work it expects to survive with what is on disk (each missing or altered file is
data lost, and the case then fails).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import HerodevEnv, init_world, new_prefix, traversable_base


@dataclass
class Tally:
    faults: int = 0
    hostile_inputs: int = 0
    files_checked: int = 0
    data_lost: int = 0
    lost: list[str] = field(default_factory=list)

    def fault(self, count: int = 1) -> None:
        self.faults += count

    def hostile(self, count: int = 1) -> None:
        self.hostile_inputs += count

    def check_kept(self, expected: Mapping[Path, str]) -> None:
        """Every file in expected still holds its text; counts and then fails on any loss."""
        missing = []
        for path, text in expected.items():
            self.files_checked += 1
            try:
                ok = path.read_text() == text
            except OSError:
                ok = False
            if not ok:
                missing.append(str(path))
        self.data_lost += len(missing)
        self.lost += missing
        assert not missing, f"work lost: {missing}"


TALLY = Tally()


@pytest.fixture
def tally() -> Tally:
    return TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = 0
    for key in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(key, []):
            if getattr(report, "when", "call") == "call" and "reliability/" in report.nodeid:
                ran += 1
    if ran == 0:
        return
    terminalreporter.write_sep(
        "=",
        f"reliability: {ran} cases run, {TALLY.faults} faults injected, "
        f"{TALLY.hostile_inputs} hostile inputs tried, {TALLY.files_checked} files checked, "
        f"data lost: {TALLY.data_lost}",
    )
    for path in TALLY.lost:
        terminalreporter.write_line(f"  lost: {path}")


# --- a world whose session users can reach the code root -------------------------------------


def make_world(base: Path, **env: str) -> HerodevEnv:
    """An initialised world with a non-root code owner and a git-free tree of owner files."""
    world, owner = init_world(base, with_owner=True, **env)
    assert owner is not None
    world.extra_env["TEST_OWNER"] = world.user("owner")
    tree = world.code_root / "org" / "repo"
    tree.mkdir(parents=True)
    (tree / "file").write_text("original\n")
    for path in (world.code_root / "org", tree, tree / "file"):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return world


def reachable_base() -> contextlib.AbstractContextManager[Path]:
    return traversable_base("herodev-rel-")


@contextlib.contextmanager
def world_at(base: Path, **env: str) -> Iterator[HerodevEnv]:
    world = HerodevEnv(base, new_prefix())
    try:
        world = make_world(base, **env)
        yield world
    finally:
        world.cleanup()


@pytest.fixture(scope="module")
def rworld() -> Iterator[HerodevEnv]:
    with reachable_base() as base, world_at(base) as world:
        yield world
