"""Settings: every path herodev touches, from flags > environment > TOML file > defaults.

Tests and unusual hosts point these elsewhere so that nothing touches the real /code or
/etc/fstab.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from herodev_shell.errors import UsageError

DEFAULT_CONFIG_FILE = Path("/etc/herodev/config.toml")

# setting name -> (environment variable, default)
_SOURCES: dict[str, tuple[str | None, str]] = {
    "code_root": ("HERODEV_CODE_ROOT", "/code"),
    "image": ("HERODEV_IMAGE", "/var/lib/btrfs-code.img"),
    "image_size": ("HERODEV_IMAGE_SIZE", "50G"),
    "fstab": ("HERODEV_FSTAB", "/etc/fstab"),
    "user_prefix": ("HERODEV_USER_PREFIX", "dev_"),
    "audit_log": ("HERODEV_AUDIT_LOG", "/var/log/herodev/audit.jsonl"),
    "author_name": ("HERODEV_AUTHOR_NAME", ""),
    "author_email": ("HERODEV_AUTHOR_EMAIL", ""),
    # default limits of a new session (empty: none), and where the cgroups live
    "memory": ("HERODEV_MEMORY", ""),
    "cpus": ("HERODEV_CPUS", ""),
    "tasks": ("HERODEV_TASKS", ""),
    "cgroup": ("HERODEV_CGROUP", "herodev"),
    "exec_timeout": ("HERODEV_EXEC_TIMEOUT", "600"),
    "setup_timeout": ("HERODEV_SETUP_TIMEOUT", "900"),
    "read_timeout": ("HERODEV_READ_TIMEOUT", "20"),
    # long output on a terminal: "" = $PAGER, else `less -FRX`; "off" = never; or a command
    "pager": ("HERODEV_PAGER", ""),
    "quotas": ("HERODEV_QUOTAS", ""),  # simple | full | off; '' = simple where the kernel has it
}
QUOTA_MODES = ("simple", "full", "off")

_PREFIX_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,15}$")
_SIZE_RE = re.compile(r"^(\d+)([KMGT]?)$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
# Linux user names may be at most 32 characters.
MAX_USER_NAME = 32


def parse_size(text: str) -> int:
    """'10G' -> bytes. Accepts a plain byte count or K/M/G/T (binary) suffixes."""
    match = _SIZE_RE.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise UsageError(f"invalid size {text!r}", hint="use a number with an optional K, M, G or T suffix, e.g. 10G")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


@dataclass(frozen=True)
class Settings:
    code_root: Path = Path("/code")
    image: Path = Path("/var/lib/btrfs-code.img")
    image_size: str = "50G"
    fstab: Path = Path("/etc/fstab")
    user_prefix: str = "dev_"
    audit_log: Path = Path("/var/log/herodev/audit.jsonl")
    author_name: str = ""
    author_email: str = ""
    memory: str = ""  # e.g. 8G; empty: no memory limit
    cpus: str = ""  # e.g. 2 or 0.5
    tasks: str = ""  # processes + threads
    cgroup: str = "herodev"  # the fleet's cgroup, relative to the hierarchy root (a delegated subtree under systemd)
    exec_timeout: str = "600"  # seconds, exec's default deadline
    setup_timeout: str = "900"  # seconds, one setup hook's deadline
    read_timeout: str = "20"  # seconds one sandboxed read of session content may take
    pager: str = ""  # "" = $PAGER or `less -FRX`; "off"; or a command line
    quotas: str = ""  # the quota mode init sets up; '' = the default (see system/quotas.py)
    config_file: Path | None = field(default=None, compare=False)

    @property
    def read_deadline(self) -> float:
        return float(self.read_timeout)

    @property
    def sessions_dir(self) -> Path:
        return self.code_root / ".sessions"

    @property
    def state_file(self) -> Path:
        """Who owns the code (recorded by init), kept beside the sessions."""
        return self.sessions_dir / "herodev.json"

    @property
    def lock_file(self) -> Path:
        return self.sessions_dir / ".lock"

    def user_for(self, name: str) -> str:
        return f"{self.user_prefix}{name}"

    @property
    def max_name_length(self) -> int:
        return min(28, MAX_USER_NAME - len(self.user_prefix))


def parse_cpus(text: str) -> float:
    """'2' or '0.5' -> CPUs' worth of time; at least 0.01."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.01 <= value <= 4096 or value != value:
        raise UsageError(f"invalid CPU count {text!r}", hint="a number of CPUs such as 2 or 0.5 (at least 0.01)")
    return value


def parse_count(text: str, what: str = "task count") -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise UsageError(f"invalid {what} {text!r}", hint="a whole number, at least 1")
    return int(text)


def parse_seconds(text: str, what: str = "timeout") -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 7 * 86400:
        raise UsageError(f"invalid {what} {text!r}", hint="seconds, more than 0 (e.g. 600)")
    return value


def _check_limits(values: Mapping[str, str]) -> None:
    """Bad limit settings fail at start-up, naming the setting, not at the first create."""
    if values["memory"]:
        parse_size(values["memory"])
    if values["cpus"]:
        parse_cpus(values["cpus"])
    if values["tasks"]:
        parse_count(values["tasks"])
    parse_seconds(values["exec_timeout"], "exec timeout")
    parse_seconds(values["setup_timeout"], "setup timeout")


def _read_toml(path: Path) -> dict[str, object]:
    import tomllib  # only when a config file exists

    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already names the line and column ("... (at line 3, column 7)").
        raise UsageError(f"config file {path}: {exc}", hint="fix the file or pass --config") from None
    except OSError as exc:
        raise UsageError(f"config file {path}: {exc.strerror}") from None
    unknown = sorted(set(data) - set(_SOURCES))
    if unknown:
        raise UsageError(
            f"config file {path}: unknown setting {unknown[0]!r}",
            hint="known settings: " + ", ".join(sorted(_SOURCES)),
        )
    for key, value in data.items():
        if not isinstance(value, str):
            raise UsageError(f"config file {path}: setting {key!r} must be a string")
    return data


def load_settings(
    flags: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> Settings:
    """Build Settings from the four sources; the first that names a setting wins."""
    flags = flags or {}
    environ = os.environ if environ is None else environ

    explicit = config_file or environ.get("HERODEV_CONFIG")
    path = Path(explicit) if explicit else DEFAULT_CONFIG_FILE
    if explicit and not path.exists():
        raise UsageError(f"config file {path} does not exist")
    file_values = _read_toml(path) if path.exists() else {}

    values: dict[str, str] = {}
    for name, (env_var, default) in _SOURCES.items():
        flag = flags.get(name)
        if flag is not None:
            values[name] = flag
        elif env_var and environ.get(env_var):
            values[name] = environ[env_var]
        elif name in file_values:
            values[name] = str(file_values[name])
        else:
            values[name] = default

    if not _PREFIX_RE.match(values["user_prefix"]):
        raise UsageError(
            f"invalid user prefix {values['user_prefix']!r}",
            hint="a prefix is up to 16 characters of a-z, 0-9, '_' or '-', starting with a letter or '_'",
        )
    parse_size(values["image_size"])
    _check_limits(values)
    if not re.fullmatch(r"\d+(\.\d+)?", values["read_timeout"].strip()) or float(values["read_timeout"]) <= 0:
        raise UsageError(
            f"invalid read timeout {values['read_timeout']!r}",
            hint="HERODEV_READ_TIMEOUT is a number of seconds, e.g. 20",
        )
    if values["quotas"] not in ("", *QUOTA_MODES):
        raise UsageError(f"invalid quota mode {values['quotas']!r}", hint="use simple, full or off")
    kinds = {f.name: f.type for f in fields(Settings)}
    converted: dict[str, object] = {}
    for name, value in values.items():
        converted[name] = Path(value).absolute() if kinds[name] in ("Path", Path) else value
    return Settings(**converted, config_file=path if path.exists() else None)  # type: ignore[arg-type]
