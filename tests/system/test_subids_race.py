"""Subordinate id ranges stay apart when herodev processes with different code roots assign them
at the same time: they share /etc/subuid, so the per-code-root lock cannot serialise them.

Two users given one range would let `delete` of one session kill the other's processes (it
kills every process running as a session's subordinate ids).
"""

from __future__ import annotations

import itertools
import multiprocessing
import multiprocessing.synchronize
import pwd
import subprocess

import pytest

from herodev_shell.system import subids
from herodev_shell.system.runner import Runner
from tests.conftest import new_prefix, remove_users_with_prefix

pytestmark = pytest.mark.system

WORKERS = 6


def _assign(user: str, start_line: multiprocessing.synchronize.Barrier) -> None:
    start_line.wait()  # every worker reads /etc/subuid at the same moment
    subids.ensure(user, pwd.getpwnam(user).pw_uid, Runner())


def test_concurrent_assignments_never_overlap() -> None:
    prefix = new_prefix()
    users = [f"{prefix}race{i}" for i in range(WORKERS)]
    try:
        for user in users:  # users without ranges, as create makes them
            subprocess.run(
                ["useradd", "--no-create-home", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", user],
                check=True,
            )
        barrier = multiprocessing.Barrier(WORKERS)
        workers = [multiprocessing.Process(target=_assign, args=(u, barrier)) for u in users]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert [w.exitcode for w in workers] == [0] * WORKERS
        for path in (subids.SUBUID, subids.SUBGID):
            ranges = sorted((r for r in subids.read(path) if r.owner in users), key=lambda r: r.start)
            assert sorted(r.owner for r in ranges) == sorted(users)
            overlapping = [(a.owner, b.owner) for a, b in itertools.pairwise(ranges) if b.start <= a.end]
            assert overlapping == [], f"{path}: shared ranges {overlapping}"
    finally:
        remove_users_with_prefix(prefix)
