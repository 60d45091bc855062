"""Finding the cgroup layout from a mount table, and the limits' text forms (no machine state)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from herodev_shell.core import limits
from herodev_shell.errors import UsageError
from herodev_shell.system import cgroups

HYBRID = """\
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
35 30 0:31 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
36 30 0:32 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_hybrid_host_uses_the_v1_controllers() -> None:
    found = cgroups.detect(HYBRID)  # unified has no controllers readable here: v1
    assert found.version == 1
    assert found.v1_root("memory") == Path("/sys/fs/cgroup/memory")
    assert found.v1_root("freezer") == Path("/sys/fs/cgroup/freezer")
    group = cgroups.session_group(found, "herodev", "dev_alice")
    assert group.dir_of("pids") == Path("/sys/fs/cgroup/pids/herodev/dev_alice")
    assert "/sys/fs/cgroup/memory/herodev/dev_alice/cgroup.procs" in group.procs_files()


def test_co_mounted_v1_controllers_share_a_directory() -> None:
    table = "31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    table += "33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    found = cgroups.detect(table)
    assert found.v1_root("cpu") == found.v1_root("cpuacct") == Path("/sys/fs/cgroup/cpu,cpuacct")


def test_unified_with_controllers_is_v2(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    table = f"30 25 0:26 / {tmp_path} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    found = cgroups.detect(table)
    assert found.version == 2 and found.v2_root == tmp_path
    group = cgroups.session_group(found, "herodev.slice/x.service/fleet", "dev_bob")
    assert group.procs_files() == (f"{tmp_path}/herodev.slice/x.service/fleet/dev_bob/cgroup.procs",)


def test_nothing_mounted_is_not_usable() -> None:
    assert not cgroups.detect("").usable


def test_limit_text() -> None:
    base = cgroups.Limits(memory=1 << 30, cpus=2.0, tasks=100)
    assert limits.parse_limits("512M", None, None, base) == cgroups.Limits(512 << 20, 2.0, 100)
    assert limits.parse_limits("none", "0.5", "max", base) == cgroups.Limits(None, 0.5, None)
    for bad in (("lots", None, None), (None, "0", None), (None, "-1", None), (None, None, "0"), (None, "nan", None)):
        with pytest.raises(UsageError):
            limits.parse_limits(*bad)
    assert limits.from_meta({"limits": {"memory": -5, "cpus": "2", "tasks": 10}}) == cgroups.Limits(None, None, 10)
    assert limits.from_meta({"limits": limits.to_meta(base)}) == base


def test_a_subtree_is_delegated_when_systemd_marked_it(tmp_path: Path) -> None:
    top = tmp_path / "herodev.slice" / "herodev-sessions.service"
    (top / "fleet").mkdir(parents=True)
    hierarchy = cgroups.Hierarchy(2, v2_root=tmp_path)
    assert not cgroups.delegated(hierarchy, "herodev.slice/herodev-sessions.service/fleet")
    try:
        os.setxattr(top, "user.delegate", b"1")
    except OSError:
        pytest.skip("this filesystem keeps no user xattrs")
    assert cgroups.delegated(hierarchy, "herodev.slice/herodev-sessions.service/fleet")
    assert not cgroups.delegated(hierarchy, "herodev")
    assert not cgroups.delegated(cgroups.Hierarchy(1), "herodev.slice/herodev-sessions.service/fleet")
