"""Each of these is done in one place; a second copy elsewhere fails here (they drifted before:
the root check was written 8 ways, libc loaded twice, three atomic writes with different
guarantees, a blind suppress(Exception) hiding why git failed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "herodev_shell"

RULES = {
    # what (a regex over the source) -> the one module allowed to do it
    r"geteuid\(\)\s*[!=]=\s*0": "system/privileges.py",  # the root check
    r"\bCDLL\(": "system/libc.py",  # libc, loaded once, argtypes declared once
    r"\bos\.replace\(": "system/fsops.py",  # atomic write: fsync file and directory, no stray temp
    r"\bdatetime\.now\(": "core/clock.py",  # the current time, in the one stored form
    r"\bdef human_size\(": "core/disk_use.py",  # sizes, in one format
    r"\bdef write_error\(": "cli/messages.py",  # `error:` and `hint:` lines
}


@pytest.mark.parametrize(("pattern", "home"), RULES.items())
def test_done_in_one_place(pattern: str, home: str) -> None:
    found = sorted(
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if re.search(pattern, path.read_text())
    )
    assert found == [home]


def test_no_blind_suppress() -> None:
    blind = re.compile(r"suppress\((Base)?Exception\)")
    found = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if blind.search(p.read_text())]
    assert found == []
