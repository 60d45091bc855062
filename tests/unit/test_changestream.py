"""The btrfs change stream parser: escapes, orphan names folded back, repository mapping."""

from __future__ import annotations

import subprocess
from pathlib import Path

from herodev_shell.core.changestream import changed_paths, map_to_repositories, unescape

# Shaped like real `btrfs receive --dump` output (btrfs-progs 6.2).
DUMP = r"""snapshot        ./scan                          uuid=5311 transid=9 parent_uuid=124c parent_transid=7
unlink          ./scan/a/r1/.git/HEAD
update_extent   ./scan/a/r1/f                   offset=0 len=4
chmod           ./scan/a/r1/f                   mode=755
utimes          ./scan/a/r1/f                   atime=2026-11-27T03:22:55+0000 mtime=x ctime=x
rename          ./scan/a/r1/sub                 dest=./scan/a/r1/sub2
unlink          ./scan/a/r1/sub2/sp\ ace\\nx
mkdir           ./scan/o315-9-0
mkfile          ./scan/o315-9-0/inner
rename          ./scan/o315-9-0                 dest=./scan/newdir
mkfile          ./scan/o317-9-0
rename          ./scan/o317-9-0                 dest=./scan/tab\t\303\251
rename          ./scan/gone                     dest=./scan/o400-9-0
unlink          ./scan/o400-9-0/child
rmdir           ./scan/o400-9-0
symlink         ./scan/o500-9-0                 dest=/etc/passwd
rename          ./scan/o500-9-0                 dest=./scan/link
utimes          ./scan/                         atime=x mtime=x ctime=x
utimes          ./scan/untouched                atime=x mtime=x ctime=x
"""


def test_unescape_handles_spaces_backslashes_controls_and_octal_bytes() -> None:
    assert unescape(r"sp\ ace") == "sp ace"
    assert unescape(r"back\\slash") == "back\\slash"
    assert unescape(r"tab\t\303\251") == "tab\té"
    assert unescape(r"raw\377") == "raw\udcff"  # not UTF-8: a surrogate, as os.fsdecode gives


def test_changed_paths_fold_orphans_and_ignore_timestamps() -> None:
    assert changed_paths(DUMP) == [
        "a/r1/.git/HEAD",
        "a/r1/f",
        "a/r1/sub",
        "a/r1/sub2",
        "a/r1/sub2/sp ace\\nx",
        "gone",
        "link",
        "newdir",
        "newdir/inner",
        "tab\té",
    ]


def test_paths_map_to_the_deepest_repository_and_git_dirs_count(tmp_path: Path) -> None:
    for repo in ("a/r1", "a/r1/vendor/nested", "b/r2"):
        subprocess.run(["git", "init", "-q", str(tmp_path / repo)], check=True)
    (tmp_path / "b" / "r2" / "dir").mkdir()
    (tmp_path / "escape").symlink_to(tmp_path / "b")
    mapped = map_to_repositories(
        tmp_path,
        [
            "a/r1/f",
            "a/r1/.git/refs/heads/x",
            "a/r1/vendor/nested/file",
            "b/r2/dir/new",
            "escape/r2/file",
            "loose.txt",
            "gone/r3/file",
        ],
    )
    assert mapped.repos == {
        "a/r1": ["a/r1/f", "a/r1/.git/refs/heads/x"],
        "a/r1/vendor/nested": ["a/r1/vendor/nested/file"],
        "b/r2": ["b/r2/dir/new"],
    }
    assert mapped.outside == ["escape/r2/file", "loose.txt", "gone/r3/file"]
