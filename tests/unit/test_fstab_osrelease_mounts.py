from pathlib import Path

from herodev_shell.core.host_setup import FAIL, PASS, check_distro
from herodev_shell.system import fstab
from herodev_shell.system.mounts import parse_mountinfo
from herodev_shell.system.packages import parse_os_release

EXISTING = """# /etc/fstab: static file system information.
UUID=abc / ext4 errors=remount-ro 0 1
# a comment that must stay
/swapfile none swap sw 0 0"""


def test_fstab_line_shape() -> None:
    line = fstab.fstab_line(Path("/var/lib/btrfs-code.img"), Path("/code"), "@code")
    assert line.split() == ["/var/lib/btrfs-code.img", "/code", "btrfs", "loop,subvol=@code,noatime,nofail", "0", "0"]


def test_fstab_escapes_spaces() -> None:
    line = fstab.fstab_line(Path("/var/my img"), Path("/my code"), "@code")
    assert line.split()[0] == "/var/my\\040img"
    assert fstab.entry_for_target(line, Path("/my code")) == line


def test_with_line_keeps_everything_and_appends_once() -> None:
    line = fstab.fstab_line(Path("/img"), Path("/code"), "@code")
    new = fstab.with_line(EXISTING, line)
    assert new.startswith(EXISTING + "\n")
    assert new.endswith(line + "\n")
    assert new.count(line) == 1


def test_entry_for_target_ignores_comments_and_other_targets() -> None:
    text = EXISTING + "\n# /img /code btrfs loop 0 0\n"
    assert fstab.entry_for_target(text, Path("/code")) is None
    text += "/img /code/ btrfs loop 0 0\n"
    assert fstab.entry_for_target(text, Path("/code")) == "/img /code/ btrfs loop 0 0"


def test_write_atomic_keeps_backup_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "fstab"
    path.write_text(EXISTING)
    path.chmod(0o640)
    backup = fstab.write_atomic(path, "new\n")
    assert path.read_text() == "new\n"
    assert backup is not None and backup.read_text() == EXISTING
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".fstab")] == []


def test_write_atomic_creates_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "fstab"
    assert fstab.write_atomic(path, "x\n") is None
    assert path.read_text() == "x\n"


def test_os_release_parsing_and_distro_check() -> None:
    text = 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n# c\nVERSION_ID="24.04"\n'
    values = parse_os_release(text)
    assert values["ID"] == "ubuntu" and values["VERSION_ID"] == "24.04"
    assert check_distro(values).status == PASS
    assert check_distro(parse_os_release("ID=linuxmint\nID_LIKE='ubuntu debian'\n")).status == PASS
    fedora = check_distro(parse_os_release('ID=fedora\nPRETTY_NAME="Fedora Linux 40"\n'))
    assert fedora.status == FAIL and "Fedora Linux 40" in fedora.detail
    assert check_distro({}).status == FAIL


def test_mountinfo_parsing_unescapes_targets() -> None:
    text = (
        "36 35 0:31 /@code /my\\040code rw,relatime shared:1 - btrfs /dev/loop3 rw,space_cache=v2,subvol=/@code\n"
        "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
    )
    mounts = parse_mountinfo(text)
    assert mounts[0].target == "/my code"
    assert mounts[0].fstype == "btrfs" and mounts[0].root == "/@code"
    assert mounts[1].target == "/" and mounts[1].fstype == "ext4"
