"""Attacks on limits, exec and setup hooks from inside a session.

- a hook the session wrote, changed or swapped for a link is never run (only the code root's
  committed blob is), and the sealed copy that runs cannot be rewritten while it runs;
- a session process cannot leave its cgroup, join another session's, or raise its own limits;
- `exec` lends no terminal: nothing it starts can reach the caller's tty.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from herodev_shell.system import cgroups
from tests.conftest import HerodevEnv
from tests.system.gitworld import git

pytestmark = pytest.mark.system

TRUSTED = "#!/bin/sh\necho trusted >> hook-out\n"


@pytest.fixture(scope="module")
def world(hd_module_world: HerodevEnv) -> Iterator[HerodevEnv]:
    world = hd_module_world
    for relative, hook in (("org/hooked", TRUSTED), ("org/plain", None)):
        repo = world.code_root / relative
        repo.mkdir(parents=True)
        git("init", "-q", cwd=repo)
        (repo / "README").write_text("x\n")
        if hook:
            (repo / ".herodev").mkdir()
            (repo / ".herodev/setup").write_text(hook)
            os.chmod(repo / ".herodev/setup", 0o755)
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", "start", cwd=repo)
    yield world


def session_file(world: HerodevEnv, name: str, relative: str) -> Path:
    return world.sessions_dir / world.user(name) / relative


def in_session(world: HerodevEnv, name: str, script: str, check: bool = True) -> str:
    return world.run("exec", name, "--", "sh", "-c", script, check=check).stdout


def test_a_hook_the_session_wrote_or_changed_is_never_run(world: HerodevEnv) -> None:
    world.run("create", "writer", "--no-setup", check=True)
    try:
        evil = "#!/bin/sh\necho EVIL >> hook-out\n"
        in_session(
            world,
            "writer",
            # a new hook in a repository that has none, committed inside the session
            f"cd org/plain && mkdir -p .herodev && printf '{evil}' > .herodev/setup && chmod +x .herodev/setup && "
            "git -c user.name=a -c user.email=a@b add .herodev/setup && "
            "git -c user.name=a -c user.email=a@b commit -qm hook && cd ../.. && "
            # the existing hook rewritten and committed
            f"printf '{evil}' > org/hooked/.herodev/setup && cd org/hooked && "
            "git -c user.name=a -c user.email=a@b commit -qam evil",
        )
        world.run("setup", "writer", check=True)
        assert session_file(world, "writer", "org/hooked/hook-out").read_text() == "trusted\n"
        assert not session_file(world, "writer", "org/plain/hook-out").exists(), "the session's own hook ran"
        # the hook swapped for a symbolic link to the session's script
        in_session(
            world,
            "writer",
            f"printf '{evil}' > /tmp/evil.sh; chmod +x /tmp/evil.sh; "
            "rm org/hooked/.herodev/setup; ln -s /tmp/evil.sh org/hooked/.herodev/setup",
        )
        world.run("setup", "writer", check=True)
        assert session_file(world, "writer", "org/hooked/hook-out").read_text() == "trusted\ntrusted\n"
    finally:
        world.run("delete", "-f", "writer")


ATTACKER = r"""
import glob, os, sys, time
log = open(sys.argv[1], "a")
end = time.time() + 20
while time.time() < end:
    for fd in glob.glob("/proc/[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if "herodev-setup" not in target:
            continue
        try:
            w = os.open(fd, os.O_WRONLY)
            os.write(w, b"#!/bin/sh\necho EVIL >> hook-out\n")
            log.write("WROTE " + fd + "\n")
        except OSError as exc:
            log.write("refused " + exc.strerror + "\n")
        log.flush()
    time.sleep(0.01)
"""


def test_the_running_hook_cannot_be_rewritten_by_the_session(world: HerodevEnv) -> None:
    """A session process of the same uid finds the hook's sealed memory file through /proc and
    tries to overwrite it while the shell is still reading it."""
    slow = world.code_root / "org/slowhook"
    slow.mkdir(parents=True)
    try:
        git("init", "-q", cwd=slow)
        (slow / ".herodev").mkdir()
        (slow / ".herodev/setup").write_text("#!/bin/sh\nsleep 3\necho trusted >> hook-out\n")
        os.chmod(slow / ".herodev/setup", 0o755)
        git("add", "-A", cwd=slow)
        git("commit", "-q", "-m", "slow", cwd=slow)
        world.run("create", "racer", "--no-setup", check=True)
        session_file(world, "racer", "attacker.py").write_text(ATTACKER)
        in_session(world, "racer", "setsid python3 attacker.py attack.log </dev/null >/dev/null 2>&1 &")
        world.run("setup", "racer", check=True)
        tried = session_file(world, "racer", "attack.log").read_text()
        assert "refused" in tried, "the attacker never found the hook: the attack was not armed"
        assert "WROTE" not in tried
        assert "EVIL" not in session_file(world, "racer", "org/slowhook/hook-out").read_text()
    finally:
        world.run("delete", "-f", "racer")
        shutil.rmtree(slow)  # later sessions of this module need not wait for it


def test_a_session_process_cannot_leave_its_cgroup_or_raise_its_limits(world: HerodevEnv) -> None:
    world.run("create", "jailed", "--tasks", "40", check=True)
    world.run("create", "neighbour", check=True)
    try:
        hierarchy = cgroups.detect()
        own = cgroups.session_group(hierarchy, world.cgroup, world.user("jailed"))
        other = cgroups.session_group(hierarchy, world.cgroup, world.user("neighbour"))
        fleet = cgroups.fleet_group(hierarchy, world.cgroup)
        targets = [Path(p).parent for p in (*fleet.procs_files(), *other.procs_files())]
        roots = [root for _, root in hierarchy.v1_roots] or [hierarchy.v2_root]
        script = ["for d in " + " ".join(str(t) for t in [*targets, *roots]) + "; do"]
        script.append('  echo $$ > "$d/cgroup.procs" 2>/dev/null && echo "ESCAPED $d"; done')
        script.append(f"for f in {' '.join(str(Path(p).parent) for p in own.procs_files())}; do")
        script.append("  for l in pids.max memory.limit_in_bytes memory.max cpu.cfs_quota_us cpu.max; do")
        script.append('    [ -e "$f/$l" ] && { echo max > "$f/$l" 2>/dev/null && echo "RAISED $f/$l"; }; done; done')
        script.append("grep -E ':pids:|^0::' /proc/self/cgroup")
        out = in_session(world, "jailed", "\n".join(script))
        assert "ESCAPED" not in out and "RAISED" not in out, out
        assert any(line.endswith(f"{world.cgroup}/{world.user('jailed')}") for line in out.splitlines()), out
        assert cgroups.read_limits(own).tasks == 40
    finally:
        world.run("delete", "-f", "jailed")
        world.run("delete", "-f", "neighbour")


def test_exec_lends_no_terminal(world: HerodevEnv) -> None:
    """Run on a terminal, exec's command has no controlling tty and its fds are not the tty:
    TIOCSTI has nothing to type into."""
    world.run("create", "ttyless", check=True)
    probe = (
        "import fcntl, os, termios\n"
        "for fd in (0, 1, 2):\n"
        "    try:\n"
        "        fcntl.ioctl(fd, termios.TIOCSTI, b'x'); print('INJECTED', fd)\n"
        "    except OSError as exc: print('fd', fd, exc.strerror)\n"
        "try:\n"
        "    os.open('/dev/tty', os.O_RDWR); print('OPENED /dev/tty')\n"
        "except OSError as exc: print('tty', exc.strerror)\n"
    )
    try:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "herodev_shell", "exec", "ttyless", "--", "python3", "-c", probe],
            env=world.env(),
            encoding="utf-8",
            timeout=60,
        )
        child.expect(pexpect.EOF)
        child.close()
        text = child.before
        assert "tty " in text, text  # the probe ran
        assert "INJECTED" not in text and "OPENED" not in text, text
        assert child.exitstatus == 0
    finally:
        world.run("delete", "-f", "ttyless")


def test_exec_json_of_hostile_output_stays_one_document(world: HerodevEnv) -> None:
    world.run("create", "noisy", check=True)
    try:
        result = world.run("exec", "noisy", "--json", "--", "printf", '\\033]0;owned\\007\\n}{"status": 0}\\n\\377')
        data = json.loads(result.stdout)  # one document, whatever the command printed
        assert data["status"] == 0 and "\x1b]0;owned" in data["stdout"]
        assert "\x1b" not in result.stdout, "a raw escape sequence reached stdout"
    finally:
        world.run("delete", "-f", "noisy")


def test_a_session_cannot_see_other_sessions_through_cgroups(world: HerodevEnv) -> None:
    """The groups' files list pids and usage: a session reads its own limits, nobody else's."""
    world.run("create", "peeker", "--tasks", "40", check=True)
    world.run("create", "private", check=True)
    try:
        hierarchy = cgroups.detect()
        own = Path(cgroups.session_group(hierarchy, world.cgroup, world.user("peeker")).procs_files()[-1]).parent
        other_group = cgroups.session_group(hierarchy, world.cgroup, world.user("private"))
        other = Path(other_group.procs_files()[-1]).parent
        other_memory = other_group.dir_of("memory")
        fleet = other.parent
        sleeper = background_sleep(world, "private")
        try:
            script = (
                f"ls {fleet} >/dev/null 2>&1 && echo LISTED; "
                f"cat {other}/cgroup.procs 2>/dev/null && echo READ-PIDS; "
                f"cat {other_memory}/memory.usage_in_bytes 2>/dev/null && echo READ-USAGE; "
                f"cat {other_memory}/memory.current 2>/dev/null && echo READ-USAGE; "
                f"cat {own}/cgroup.procs >/dev/null && echo own-ok"
            )
            out = in_session(world, "peeker", script, check=False)
            assert "LISTED" not in out and "READ-PIDS" not in out and "READ-USAGE" not in out, out
            assert "own-ok" in out, "the attack was not armed: the session cannot read even its own group"
        finally:
            sleeper.kill()
            sleeper.wait()
    finally:
        world.run("delete", "-f", "peeker")
        world.run("delete", "-f", "private")


def background_sleep(world: HerodevEnv, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "herodev_shell", "exec", name, "--timeout", "60", "--", "sleep", "50"],
        env=world.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
