"""The all-or-nothing file helpers: atomic replace (no stray temp file) and rename without overwrite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from herodev_shell.system import fsops, libc


def test_atomic_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "meta.json"
    target.write_text("old\n")
    fsops.atomic_write_text(target, "new\n", mode=0o600)
    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "meta.json"
    target.write_text("old\n")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        fsops.atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_the_temp_file_is_named_so_repair_finds_a_crash_leftover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        seen.append(os.path.basename(source))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    fsops.atomic_write_text(tmp_path / "x.json", "{}\n")
    assert len(seen) == 1 and seen[0].endswith(".tmp") and seen[0].startswith(".x.json.")


def test_rename_noreplace_refuses_an_existing_target(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").mkdir()  # even an empty directory, which rename(2) would replace
    with pytest.raises(FileExistsError):
        libc.rename_noreplace(tmp_path / "a", tmp_path / "b")
    libc.rename_noreplace(tmp_path / "a", tmp_path / "c")
    assert (tmp_path / "c").read_text() == "a" and not (tmp_path / "a").exists()
