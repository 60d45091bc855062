"""The README's install command on a machine whose Python refuses system installs (PEP 668).

install.sh runs as README.md says (as root), in a clean environment, with every path it
writes moved under a temporary directory, so the machine's own /opt/herodev, /usr/local/bin
and completion directories are never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import herodev_shell

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"


def _readme_install_command() -> str:
    text = (REPO / "README.md").read_text()
    block = text.split("## Install and prepare the host", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return block.strip()


@pytest.fixture
def place(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",  # no pyenv, no virtual environment
        "HOME": os.environ.get("HOME", "/root"),  # pip's cache
        "LANG": "C.UTF-8",
        "HERODEV_PREFIX": str(tmp_path / "opt" / "herodev"),
        "HERODEV_BIN_DIR": str(tmp_path / "bin"),
        "HERODEV_COMPLETION_ROOT": str(tmp_path / "root"),
    }
    try:
        yield env
    finally:
        subprocess.run(["./install.sh", "--uninstall"], cwd=REPO, env=env, capture_output=True, check=False)
        shutil.rmtree(tmp_path / "opt", ignore_errors=True)


def _install(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # README: `sudo ./install.sh`; we are root already, and sudo would drop the HERODEV_* paths.
    return subprocess.run(
        ["./install.sh", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_readme_install_works_where_pip_refuses_system_installs(place: dict[str, str], tmp_path: Path) -> None:
    assert _readme_install_command().startswith("sudo ./install.sh && ")
    stdlib = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(stdlib, "EXTERNALLY-MANAGED").exists():
        pytest.skip(f"{SYSTEM_PYTHON} is not marked externally managed (PEP 668) on this machine")
    refused = subprocess.run(
        [SYSTEM_PYTHON, "-m", "pip", "install", "--dry-run", "--no-deps", str(REPO)],
        env=place,
        capture_output=True,
        text=True,
        check=False,
    )
    if "No module named pip" not in refused.stderr:  # a fresh Debian has no pip at all: refused too
        assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr

    first = _install(place)
    assert first.returncode == 0, first.stdout + first.stderr
    prefix = Path(place["HERODEV_PREFIX"])
    link = Path(place["HERODEV_BIN_DIR"]) / "herodev"
    assert os.readlink(link) == str(prefix / "bin" / "herodev")
    version = subprocess.run([str(link), "--version"], env=place, capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"herodev {herodev_shell.__version__}"
    # the distribution's Python, in a root-owned environment nobody else can write to
    assert "home = /usr/bin" in (prefix / "pyvenv.cfg").read_text()
    for path in [prefix, prefix / "bin", prefix / "bin" / "python", *prefix.glob("lib/python3*/site-packages")]:
        info = path.stat()
        assert info.st_uid == 0 and not info.st_mode & 0o022, path
    installed = next(prefix.glob("lib/python3*/site-packages/herodev_shell/__init__.py"))
    assert installed.read_text() == (REPO / "herodev_shell/__init__.py").read_text()

    root = Path(place["HERODEV_COMPLETION_ROOT"])
    scripts = {
        root / "usr/share/bash-completion/completions/herodev": "herodev.bash",
        root / "usr/local/share/zsh/site-functions/_herodev": "_herodev",
        root / "usr/share/fish/vendor_completions.d/herodev.fish": "herodev.fish",
    }
    for path, name in scripts.items():
        assert path.read_text() == (REPO / "herodev_shell" / "completions" / name).read_text()
    # A fresh bash login shell finds the completion through bash-completion's own loader
    # (XDG_DATA_DIRS points it at our root instead of /usr/share).
    if Path("/usr/share/bash-completion/bash_completion").exists():
        home = tmp_path / "home"
        home.mkdir()
        login = subprocess.run(
            ["bash", "-lic", "__load_completion herodev && complete -p herodev"],
            env={**place, "HOME": str(home), "XDG_DATA_DIRS": f"{root}/usr/share", "TERM": "dumb"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert "-F _herodev herodev" in login.stdout, login.stdout + login.stderr
    shell_env = {**place, "HOME": str(tmp_path), "PATH": f"{place['HERODEV_BIN_DIR']}:{place['PATH']}"}
    if shutil.which("fish"):  # fish reads its vendor directory under each XDG data dir
        fish = subprocess.run(
            ["fish", "-c", "complete --do-complete='herodev cre'"],
            env={**shell_env, "XDG_DATA_DIRS": f"{root}/usr/share"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert fish.stdout.startswith("create\t"), fish.stdout + fish.stderr
    if shutil.which("zsh"):  # compinit finds _herodev in the site-functions directory of $fpath
        site = root / "usr/local/share/zsh/site-functions"
        script = f"fpath=({site} $fpath); autoload -Uz compinit; compinit -u -d {tmp_path}/zcd; print $_comps[herodev]"
        zsh = subprocess.run(["zsh", "-c", script], env=shell_env, capture_output=True, text=True, timeout=60)
        assert zsh.stdout.strip() == "_herodev", zsh.stdout + zsh.stderr

    again = _install(place)  # idempotent: an upgrade in place
    assert again.returncode == 0, again.stdout + again.stderr
    assert "upgrading" in again.stdout
    assert subprocess.run([str(link), "--version"], env=place, capture_output=True, check=False).returncode == 0

    removed = _install(place, "--uninstall")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not os.path.lexists(link) and not prefix.exists()
    assert not any(path.exists() for path in scripts)


def test_uninstall_leaves_a_prefix_it_did_not_make(place: dict[str, str]) -> None:
    prefix = Path(place["HERODEV_PREFIX"])
    prefix.mkdir(parents=True)
    (prefix / "precious").write_text("keep\n")
    refused = _install(place, "--uninstall")
    assert refused.returncode == 1 and "not made by install.sh" in refused.stderr
    assert (prefix / "precious").read_text() == "keep\n"
    refused = _install(place)  # and install refuses to take it over
    assert refused.returncode == 1 and "not made by install.sh" in refused.stderr
    assert sorted(p.name for p in prefix.iterdir()) == ["precious"]


def test_install_refuses_a_python_older_than_311(place: dict[str, str], tmp_path: Path) -> None:
    """requires-python is >=3.11 (Debian 12's); an older interpreter is refused before anything
    is made. The oldest supported one, 3.11, is what /usr/bin/python3 is on Debian 12 and CI."""
    assert 'requires-python = ">=3.11"' in (REPO / "pyproject.toml").read_text()
    old = tmp_path / "python3.10"
    old.write_text(
        '#!/bin/sh\nexec /usr/bin/python3 -c "import sys; sys.version_info = (3, 10, 12); exec(sys.argv[1])" "$2"\n'
    )
    old.chmod(0o755)
    refused = _install({**place, "HERODEV_PYTHON": str(old)})
    assert refused.returncode == 1 and "needs Python 3.11 or later" in refused.stderr, refused.stderr
    assert not Path(place["HERODEV_PREFIX"]).exists()
