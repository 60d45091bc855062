"""A realistic herodev world for the benchmarks: a loopback btrfs code root holding 300 clones
with real histories (50,000+ files), cloned from bare repositories made here.

Seeds: the project's own repository (its real history, `git clone --bare`), the Python
standard library as one repository, and each standard-library package as its own, each built
in several commits (files added in batches, then some edited). The clones are spread over
`<host>/<org>/<repo>` directories the way `reorganize` lays them out.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from herodev_shell.core.settings import Settings, load_settings  # noqa: E402
from herodev_shell.system import users  # noqa: E402
from tests.conftest import remove_cgroups  # noqa: E402

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
STDLIB = Path(os.__file__).parent


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=GIT_ENV,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


class World:
    """One herodev installation in its own loopback image, code root, users and settings."""

    def __init__(self, base: Path, size: str) -> None:
        self.base = base
        self.prefix = f"bn{secrets.token_hex(2)[:3]}_"
        (base / "config.toml").write_text("")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HERODEV_")},
            "HERODEV_CODE_ROOT": str(base / "code"),
            "HERODEV_IMAGE": str(base / "img"),
            "HERODEV_IMAGE_SIZE": size,
            "HERODEV_FSTAB": str(base / "fstab"),
            "HERODEV_USER_PREFIX": self.prefix,
            "HERODEV_CONFIG": str(base / "config.toml"),
            "HERODEV_AUDIT_LOG": str(base / "audit.jsonl"),
            "HERODEV_READ_TIMEOUT": "600",
            # Its own fleet cgroup, removed by cleanup: never leave session groups in `herodev`.
            "HERODEV_CGROUP": f"herodev-bench-{self.prefix.rstrip('_')}",
            "NO_COLOR": "1",
        }
        # An installed herodev has its bytecode compiled; this development shell sets
        # PYTHONDONTWRITEBYTECODE, which would make every herodev process compile its modules
        # from source (0.3-0.5 s a process on the shared machine): not herodev's cost.
        for key in ("SUDO_UID", "SUDO_GID", "PYTHONDONTWRITEBYTECODE"):
            self.env.pop(key, None)
        self.settings: Settings = load_settings(environ=self.env)

    @property
    def code(self) -> Path:
        return self.settings.code_root

    def session_dir(self, name: str) -> Path:
        return self.settings.sessions_dir / f"{self.prefix}{name}"

    def herodev(self, *args: str, check: bool = True) -> tuple[float, str]:
        """Run the whole `herodev` process; (seconds, stdout)."""
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "herodev_shell", *args], env=self.env, capture_output=True, text=True, cwd=REPO_ROOT
        )
        took = time.perf_counter() - start
        if check and result.returncode != 0:
            raise RuntimeError(f"herodev {' '.join(args)}: {result.returncode}\n{result.stderr}")
        return took, result.stdout

    def in_session(self, name: str, script: str) -> str:
        return self.herodev("exec", name, "--", "sh", "-c", f"cd {self.code} && {script}")[1]

    def cleanup(self) -> None:
        for user in users.users_with_prefix(self.prefix):
            subprocess.run(["pkill", "-KILL", "-u", user.name], capture_output=True, check=False)
            subprocess.run(["userdel", "-r", "-f", user.name], capture_output=True, check=False)
        for target in sorted(_mounts_under(self.base), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)
        out = subprocess.run(["losetup", "-j", str(self.base / "img")], capture_output=True, text=True).stdout
        for line in out.splitlines():
            subprocess.run(["losetup", "-d", line.split(":")[0]], capture_output=True, check=False)
        remove_cgroups(self.env["HERODEV_CGROUP"])


def _mounts_under(directory: Path) -> list[str]:
    prefix = str(directory).rstrip("/") + "/"
    return [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(prefix)
    ]


@contextlib.contextmanager
def world(size: str = "12G", quotas: str | None = None) -> Iterator[World]:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # kill/timeout: still clean up
    base = Path(tempfile.mkdtemp(prefix="herodev-bench-", dir="/var/tmp"))
    os.chmod(base, 0o711)
    w = World(base, size)
    try:
        w.herodev("-f", "init", "--no-packages", *(["--quotas", quotas] if quotas else []))
        yield w
    finally:
        w.cleanup()
        shutil.rmtree(base, ignore_errors=True)


# --- seeds and clones -------------------------------------------------------------------------


def _seed_from_files(bare: Path, source: Path, files: list[Path], work: Path) -> None:
    """A repository with a history: the files added in three batches, then ten of them edited."""
    work.mkdir(parents=True)
    git("init", "-q", str(work))
    batches = [files[i::3] for i in range(3)]
    for number, batch in enumerate(batches):
        for path in batch:
            target = work / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        git("add", "-A", cwd=work)
        git("commit", "-qm", f"batch {number}", cwd=work)
    for path in files[:10]:
        with open(work / path.relative_to(source), "a") as handle:
            handle.write("\n# edited\n")
    git("commit", "-qam", "edits", cwd=work)
    git("clone", "-q", "--bare", str(work), str(bare))
    shutil.rmtree(work)


def _stdlib_files(top: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "site-packages", "dist-packages"))
        found += [Path(dirpath) / f for f in sorted(filenames) if not f.endswith(".pyc")]
    return found


def make_seeds(where: Path) -> list[tuple[Path, int]]:
    """(bare repository, files in its tree) for every seed."""
    seeds = []
    own = where / "herodev.git"
    git("clone", "-q", "--bare", str(REPO_ROOT), str(own))
    seeds.append((own, len(git("ls-tree", "-r", "--name-only", "HEAD", cwd=own).splitlines())))
    stdlib = _stdlib_files(STDLIB)
    _seed_from_files(where / "stdlib.git", STDLIB, stdlib, where / "w-stdlib")
    seeds.append((where / "stdlib.git", len(stdlib)))
    for package in sorted(p for p in STDLIB.iterdir() if p.is_dir() and p.name not in ("__pycache__",)):
        files = _stdlib_files(package)
        if len(files) >= 8:
            bare = where / f"{package.name}.git"
            _seed_from_files(bare, package, files, where / f"w-{package.name}")
            seeds.append((bare, len(files)))
    return seeds


def clone_world(code: Path, seeds: list[tuple[Path, int]], count: int = 300, want_files: int = 50_000) -> int:
    """count clones under code/<host>/<org>/<repo>; the whole stdlib seed often enough that the
    tree holds want_files files. Returns the number of files in the working trees."""
    big = max(seeds, key=lambda s: s[1])
    small = [s for s in seeds if s is not big]
    plan: list[tuple[Path, int]] = []
    files = 0
    for index in range(count):
        left = count - index
        need = want_files - files
        take_big = need > 0 and (need / left) > statistics.mean(n for _, n in small)
        seed = big if take_big else small[index % len(small)]
        plan.append(seed)
        files += seed[1]

    def clone(item: tuple[int, tuple[Path, int]]) -> None:
        index, (bare, _n) = item
        target = code / f"git{index % 3}.example.com" / f"org{index % 17}" / f"{bare.stem}-{index}"
        target.parent.mkdir(parents=True, exist_ok=True)
        git("clone", "-q", str(bare), str(target))

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(clone, enumerate(plan)))
    return files


def big_repository(path: Path, files: int) -> None:
    """One repository of `files` small files (100 per directory), committed."""
    path.mkdir(parents=True)
    for index in range(files):
        directory = path / f"d{index // 100:05d}"
        if index % 100 == 0:
            directory.mkdir()
        (directory / f"f{index % 100:02d}.txt").write_text(f"file {index}\n")
    git("init", "-q", str(path))
    git("add", "-A", cwd=path)
    # no automatic gc in the background (it would pack while we measure): pack it now
    git("-c", "gc.auto=0", "-c", "maintenance.auto=false", "commit", "-qm", "tree", cwd=path)
    git("gc", "-q", cwd=path)


def repositories(code: Path) -> list[str]:
    found = []
    for dirpath, dirnames, _ in os.walk(code):
        if ".git" in dirnames:
            found.append(os.path.relpath(dirpath, code))
            dirnames[:] = []
        dirnames[:] = [d for d in dirnames if d != ".sessions"]
    return sorted(found)


def summary(samples: list[float]) -> tuple[float, float]:
    """(median, p95) in seconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95
