"""The distribution and its packages: /etc/os-release, dpkg, apt-get."""

from __future__ import annotations

import shlex
from pathlib import Path

from herodev_shell.system.runner import Runner

OS_RELEASE = Path("/etc/os-release")


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip("\"'")]
        values[key.strip()] = parts[0] if parts else ""
    return values


def read_os_release(path: Path = OS_RELEASE) -> dict[str, str]:
    try:
        return parse_os_release(path.read_text())
    except OSError:
        return {}


def missing_packages(names: list[str], runner: Runner) -> list[str]:
    """The packages of names that dpkg does not report as installed."""
    if not names:
        return []
    result = runner.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *names], changes=False, check=False
    )
    installed = {
        fields[0]
        for fields in (line.split() for line in result.stdout.splitlines())
        if len(fields) == 2 and fields[1] == "installed"
    }
    return [name for name in names if name not in installed]


def apt_install(names: list[str], runner: Runner, show_progress: bool) -> None:
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    runner.run(["apt-get", "update"], env=env, timeout=900, stream=show_progress)
    runner.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *names],
        env=env,
        timeout=1800,
        stream=show_progress,
    )
