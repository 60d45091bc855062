from pathlib import Path

import pytest

from herodev_shell.core.settings import load_settings, parse_size
from herodev_shell.errors import UsageError


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    settings = load_settings(environ={}, config_file=_empty(tmp_path))
    assert settings.code_root == Path("/code")
    assert settings.sessions_dir == Path("/code/.sessions")
    assert settings.image == Path("/var/lib/btrfs-code.img")
    assert settings.image_size == "50G"
    assert settings.fstab == Path("/etc/fstab")
    assert settings.user_prefix == "dev_"


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('code_root = "/from/file"\nfstab = "/file/fstab"\nuser_prefix = "f_"\n')
    environ = {"HERODEV_CODE_ROOT": "/from/env", "HERODEV_FSTAB": "/env/fstab"}
    settings = load_settings(flags={"code_root": "/from/flag"}, environ=environ, config_file=config)
    assert settings.code_root == Path("/from/flag")  # flag beats env and file
    assert settings.fstab == Path("/env/fstab")  # env beats file
    assert settings.user_prefix == "f_"  # file beats default
    assert settings.image == Path("/var/lib/btrfs-code.img")  # default


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('image_size = "2G"\n')
    settings = load_settings(environ={"HERODEV_CONFIG": str(config)})
    assert settings.image_size == "2G"


def test_malformed_config_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('code_root = "/x"\nfstab = = 3\n')
    with pytest.raises(UsageError) as caught:
        load_settings(environ={}, config_file=config)
    assert str(config) in caught.value.message
    assert "line 2" in caught.value.message


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('code_rot = "/x"\n')
    with pytest.raises(UsageError, match="unknown setting 'code_rot'"):
        load_settings(environ={}, config_file=config)


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_settings(environ={}, config_file=tmp_path / "nope.toml")


@pytest.mark.parametrize("prefix", ["Dev_", "1dev", "a b", "x" * 17, "../"])
def test_invalid_user_prefix(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(UsageError, match="invalid user prefix"):
        load_settings(environ={"HERODEV_USER_PREFIX": prefix}, config_file=_empty(tmp_path))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10G", 10 << 30), ("512M", 512 << 20), ("1t", 1 << 40), ("4096", 4096), ("64K", 64 << 10)],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "0", "10X", "-1G", "1.5G", "G", "10 G"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="invalid size"):
        parse_size(text)


def test_max_name_length_follows_prefix(tmp_path: Path) -> None:
    settings = load_settings(environ={"HERODEV_USER_PREFIX": "dev_"}, config_file=_empty(tmp_path))
    assert settings.max_name_length == 28
    settings = load_settings(environ={"HERODEV_USER_PREFIX": "longprefix_"}, config_file=_empty(tmp_path))
    assert settings.max_name_length == 21


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path
