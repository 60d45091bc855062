"""From inside a session, the other sessions, the base snapshots and the original code root are
unreachable, for reading and for writing, across 20+ escape attempts.

Each attempt is a shell snippet run as the session user inside `herodev enter`; it prints
ESCAPED:<n> only if it got through, and the secrets it hunts carry markers that must never
appear in the output. Afterwards the host side is checked: nothing outside the session moved.
"""

from __future__ import annotations

import pytest

from herodev_shell.system.mounts import mount_at
from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system

OTHER_SECRET = "OTHER-SECRET-7f3"
# The shell joins ESC""APED into the word the test looks for; the script's own text never holds it.
SAY = 'ESC""APED'
HOST_ONLY = "HOST-ONLY-9a1"


def attempts(world: HerodevEnv, loop: str) -> list[str]:
    c, s = str(world.code_root), str(world.sessions_dir)
    other, me = world.user("other"), world.user("inside")
    secret = f"{s}/{other}/secret.txt"
    return [
        f"cat {secret}",
        f"ls -a {s}; ls {s}/{other}",
        f"cat {c}/../{world.code_root.name}/.sessions/{other}/secret.txt",
        f"ln -s {secret} {c}/link1 && cat {c}/link1",
        f"cat /proc/1/root{secret}",
        f"cat /proc/1/root{c}/host-only.txt",
        f"for p in /proc/[0-9]*/root; do cat $p{secret} $p{c}/host-only.txt; done",
        f"echo pwned > /proc/1/root{c}/org/repo/file && echo {SAY}:8",
        f"for f in /proc/self/fd/* /proc/$PPID/fd/*; do readlink $f; done | grep -e '{s}' -e '.img' && echo {SAY}:9",
        f"mkdir -p /tmp/m$$ && mount --bind {s} /tmp/m$$ && echo {SAY}:10",
        f"unshare -Urm sh -c 'umount -l {c} && cat {c}/host-only.txt && echo {SAY}:11'",
        f"unshare -Urm sh -c 'umount -l {s}; cat {secret} && echo {SAY}:12'",
        f"unshare -Urm sh -c 'mount --bind / /mnt && cat /mnt{c}/host-only.txt /mnt{secret} && echo {SAY}:13'",
        f"head -c 1 {world.image} >/dev/null && echo {SAY}:14",
        f"head -c 1 {loop} >/dev/null && echo {SAY}:15",
        f"cp /usr/bin/id {c}/suid-id && chmod u+s {c}/suid-id; "
        f"awk '$5==\"{c}\"' /proc/self/mountinfo | grep -q nosuid || echo {SAY}:16",
        f"mknod {c}/blockdev b 7 0 && echo {SAY}:17",
        f"touch {s}/{me}.base/x && echo {SAY}:18; ls {{s}}/{{me}}.base/org && echo {SAY}:18b",
        f"nsenter -t 1 -m cat {secret} && echo {SAY}:19",
        f"unshare -Urm sh -c 'mount -t btrfs -o subvolid=5 {loop} /mnt && echo {SAY}:20'",
        f"ln {secret} {c}/hardlink && echo {SAY}:21",
        f"head -c 1 /etc/shadow >/dev/null && echo {SAY}:22",
        f"btrfs subvolume snapshot {s}/{other} {c}/stolen && echo {SAY}:23",
        f"cd {c}/.. && ls {world.code_root.name}/.sessions | grep {other} && echo {SAY}:24",
    ]


def test_twenty_escape_attempts_all_fail(rworld: HerodevEnv, tally) -> None:
    world = rworld
    world.run("-f", "create", "inside", check=True)
    world.run("-f", "create", "other", check=True)
    world.run("enter", "other", "--", "sh", "-c", f"echo {OTHER_SECRET} > {world.code_root}/secret.txt", check=True)
    (world.code_root / "host-only.txt").write_text(HOST_ONLY + "\n")
    secret_on_disk = world.sessions_dir / world.user("other") / "secret.txt"
    base = world.sessions_dir / f"{world.user('inside')}.base"
    before_base = sorted(p.name for p in base.iterdir())
    mount = mount_at(world.code_root)
    assert mount is not None
    tries = attempts(world, mount.source)
    assert len(tries) >= 20
    script = "\n".join(f"( {snippet} ) 2>&1; echo '--- attempt {n} done'" for n, snippet in enumerate(tries, 1))
    attack = world.base / "attack.sh"  # the base is 0711, the file 0644: readable from inside
    attack.write_text(script + "\n")
    attack.chmod(0o644)
    result = world.run("enter", "inside", "--", "sh", str(attack))
    tally.hostile(len(tries))
    output = result.stdout + result.stderr
    assert f"--- attempt {len(tries)} done" in output, output  # every attempt ran
    assert "ESCAPED" not in output, output
    assert OTHER_SECRET not in output and HOST_ONLY not in output, output
    # The host side: nothing outside the session changed.
    tally.check_kept({world.code_root / "org" / "repo" / "file": "original\n", secret_on_disk: OTHER_SECRET + "\n"})
    for name in ("link1", "suid-id", "blockdev", "hardlink", "stolen"):
        assert not (world.code_root / name).exists(), name
    assert sorted(p.name for p in base.iterdir()) == before_base
    # and inside, the session's own files were writable all along (the attempts were not just broken)
    inside = world.run(
        "enter", "inside", "--", "sh", "-c", f"echo mine > {world.code_root}/mine && cat {world.code_root}/mine"
    )
    assert inside.stdout.strip() == "mine"
    assert not (world.code_root / "mine").exists()
