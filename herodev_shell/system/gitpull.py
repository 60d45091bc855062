"""git for `pull`, run as the repository's owner (never as root in a tree someone else controls:
a repository's config such as core.sshCommand would otherwise run as root)."""

from __future__ import annotations

import os
from pathlib import Path

from herodev_shell.errors import _last_meaningful_line
from herodev_shell.system.git import GitOutcome, as_owner
from herodev_shell.system.runner import Result, Runner

TIMEOUT = 300.0


def _run(repo: Path, args: list[str], runner: Runner, changes: bool = False) -> Result:
    prefix, env = as_owner(repo)
    return runner.run([*prefix, "-C", os.fspath(repo), *args], changes=changes, check=False, env=env, timeout=TIMEOUT)


def current_branch(repo: Path, runner: Runner) -> str:
    result = _run(repo, ["symbolic-ref", "--quiet", "--short", "HEAD"], runner)
    return result.stdout.strip() if result.ok else ""


def upstream_of(repo: Path, runner: Runner) -> str:
    result = _run(repo, ["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"], runner)
    return result.stdout.strip() if result.ok else ""


def fetch(repo: Path, runner: Runner) -> GitOutcome:
    result = _run(repo, ["fetch", "--quiet", "--no-recurse-submodules"], runner, changes=True)
    if result.ok:
        return GitOutcome(True, "")
    return GitOutcome(False, _last_meaningful_line(result.stderr) or f"git fetch exited {result.returncode}")


def has_local_changes(repo: Path, runner: Runner) -> bool:
    """Staged or modified tracked files (untracked ones: git itself refuses to overwrite them)."""
    result = _run(repo, ["status", "--porcelain", "--untracked-files=no"], runner)
    return not result.ok or bool(result.stdout.strip())


def ahead_behind(repo: Path, runner: Runner) -> tuple[int, int]:
    result = _run(repo, ["rev-list", "--left-right", "--count", "HEAD...@{u}"], runner)
    ahead, _, behind = result.stdout.strip().partition("\t")
    return int(ahead or 0), int(behind or 0)


def fast_forward(repo: Path, runner: Runner) -> GitOutcome:
    result = _run(repo, ["merge", "--ff-only", "--quiet", "@{u}"], runner, changes=True)
    if result.ok:
        return GitOutcome(True, "")
    return GitOutcome(False, _last_meaningful_line(result.stderr) or f"git merge exited {result.returncode}")
