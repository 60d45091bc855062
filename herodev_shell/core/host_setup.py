"""check and init: a list of probes, then a list of steps (probe -> plan -> apply)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.core import sessions_volume
from herodev_shell.core.checks import FAIL, PASS, WARN, CheckResult
from herodev_shell.core.disk_use import human_size
from herodev_shell.core.hoststate import invoking_owner, read_state, write_state
from herodev_shell.core.settings import Settings, parse_size
from herodev_shell.errors import HerodevError
from herodev_shell.system import btrfs, fstab, packages, privileges
from herodev_shell.system.mounts import mount_at
from herodev_shell.system.runner import Runner

# command on PATH -> Debian package that provides it
REQUIRED_TOOLS = {"git": "git", "buildah": "buildah", "podman": "podman", "btrfs": "btrfs-progs"}
SUPPORTED_DISTROS = ("ubuntu", "debian")


@dataclass(frozen=True)
class StepResult:
    name: str
    status: str  # done | unchanged | planned | skipped
    detail: str


def check_distro(os_release: dict[str, str]) -> CheckResult:
    ident = os_release.get("ID", "").lower()
    like = os_release.get("ID_LIKE", "").lower().split()
    pretty = os_release.get("PRETTY_NAME") or ident or "unknown"
    if ident in SUPPORTED_DISTROS or any(d in like for d in SUPPORTED_DISTROS):
        return CheckResult("distro", PASS, pretty)
    return CheckResult("distro", FAIL, f"{pretty}: herodev supports Ubuntu and Debian")


def check_privileges(runner: Runner) -> CheckResult:
    if privileges.is_root():
        return CheckResult("privileges", PASS, "running as root")
    if shutil.which("sudo") and runner.run(["sudo", "-n", "true"], changes=False, check=False).ok:
        return CheckResult("privileges", PASS, "sudo works without a password")
    return CheckResult("privileges", FAIL, "not root and 'sudo -n' does not work")


def check_tools() -> list[CheckResult]:
    results = []
    for tool, package in REQUIRED_TOOLS.items():
        path = shutil.which(tool)
        if path:
            results.append(CheckResult(package, PASS, path))
        else:
            results.append(CheckResult(package, FAIL, f"{tool} not found: 'herodev init' installs {package}"))
    return results


def check_code_root(settings: Settings) -> list[CheckResult]:
    root = settings.code_root
    if not root.exists():
        return [CheckResult("code root", FAIL, f"{root} does not exist: run 'herodev init'")]
    if not btrfs.is_btrfs(root):
        return [CheckResult("code root", FAIL, f"{root} is not on btrfs: run 'herodev init'")]
    if not btrfs.is_subvolume(root):
        return [CheckResult("code root", FAIL, f"{root} is on btrfs but is not a subvolume")]
    mounted = mount_at(root)
    where = "mounted btrfs subvolume" if mounted else "btrfs subvolume"
    results = [CheckResult("code root", PASS, f"{root} is a {where}")]
    if read_state(settings) is None:
        results.append(CheckResult("sessions dir", WARN, f"{settings.sessions_dir} not prepared: run 'herodev init'"))
    else:
        results.append(CheckResult("sessions dir", PASS, str(settings.sessions_dir)))
        if not sessions_volume.is_own_subvolume(settings):
            detail = "a plain directory: snapshots of the code root carry every session's metadata"
            results.append(CheckResult("sessions subvolume", WARN, f"{detail}; 'herodev init' migrates it"))
    return results


def check_idmap(settings: Settings | None = None) -> CheckResult:
    from herodev_shell.system import idmap

    # A real try on the code root (a detached idmapped clone, never attached).
    ok, detail = idmap.support(settings.code_root if settings else None)
    return CheckResult("idmapped mounts", PASS if ok else WARN, detail)


def check_sandbox(settings: Settings) -> CheckResult:
    """The sandbox every read and write of a session runs in, tried for real on the code root:
    a private mount namespace, an idmapped nosymfollow read-only clone, then uid 65534 with no
    capabilities. Without it herodev refuses to read sessions (it never falls back to root)."""
    import os

    from herodev_shell.system import sandbox

    root = settings.code_root
    if not privileges.is_root() or not root.is_dir():
        return CheckResult("session sandbox", WARN, "not probed: needs root and an existing code root")
    spec = sandbox.Spec(
        sandbox.Identity("nobody", 65534, 65534, 0, 0), (root,), None, False, sandbox.Limits(timeout=10)
    )

    def probe() -> list[object]:
        with open("/proc/self/status") as handle:
            caps = next(line.split()[1] for line in handle if line.startswith("CapEff:"))
        return [os.getuid(), caps]

    try:
        answer = sandbox.run(spec, probe)
        uid, caps = answer if isinstance(answer, list) and len(answer) == 2 else ("?", "?")
    except Exception as exc:  # any failure is the row's detail
        detail = getattr(exc, "message", None) or str(exc)
        return CheckResult("session sandbox", FAIL, f"kernel {os.uname().release}: {detail}: sessions cannot be read")
    return CheckResult(
        "session sandbox",
        PASS,
        f"kernel {os.uname().release}: idmapped nosymfollow mount, uid {uid}, capabilities {caps}, no_new_privs",
    )


def check_isolation(settings: Settings) -> list[CheckResult]:
    """What keeps sessions from the operator's terminal and from each other, as this kernel allows."""
    from herodev_shell.core.layout import host_tmp_shared
    from herodev_shell.system import namespace

    knob = namespace.legacy_tiocsti()
    kernel = {"1": "the kernel allows TIOCSTI (dev.tty.legacy_tiocsti=1)", "0": "the kernel refuses TIOCSTI too"}
    rows = [
        CheckResult(
            "session terminal",
            PASS,
            f"enter gives each session a new pty in a new session: no session process holds the "
            f"operator's terminal; {kernel.get(knob, 'TIOCSTI is allowed on a process own terminal')}",
        )
    ]
    if not privileges.is_root():
        rows.append(CheckResult("process privacy", WARN, "not probed: needs root"))
        return rows
    failure = namespace.private_proc_support()
    if failure:
        detail = f"the kernel refuses /proc with hidepid=invisible ({failure}): enter fails; needs Linux 5.8+"
        rows.append(CheckResult("process privacy", FAIL, detail))
    else:
        rows.append(CheckResult("process privacy", PASS, "sessions get their own /proc with hidepid=invisible"))
    if host_tmp_shared(settings):
        detail = (
            f"the code root {settings.code_root} is under /tmp, so sessions keep the host's /tmp "
            "(shared with every other session): move the code root out of /tmp"
        )
        rows.append(CheckResult("session /tmp", WARN, detail))
    else:
        rows.append(CheckResult("session /tmp", PASS, "each session gets its own /tmp, a subvolume by its snapshot"))
    return rows


def check_cgroups(settings: Settings) -> CheckResult:
    """Session limits need cgroup controllers: v2 with memory, cpu and pids, or the v1 ones."""
    from herodev_shell.core import limits
    from herodev_shell.system import cgroups

    hierarchy = limits.hierarchy()
    if not hierarchy.usable:
        return CheckResult("cgroups", WARN, "no cgroup controllers mounted: sessions cannot have limits")
    missing = [c for c in ("memory", "cpu", "cpuacct", "pids", "freezer") if hierarchy.v1_root(c) is None]
    if hierarchy.version == 1 and missing:
        return CheckResult("cgroups", WARN, f"{hierarchy.describe()}; missing {', '.join(missing)}")
    if hierarchy.version == 2 and cgroups.systemd_runs() and not cgroups.delegated(hierarchy, settings.cgroup):
        return CheckResult(
            "cgroups",
            WARN,
            f"{hierarchy.describe()}; '{settings.cgroup}' is not in a subtree systemd delegated: systemd may "
            "move or remove it (README: Limits, exec and setup hooks)",
        )
    return CheckResult("cgroups", PASS, f"{hierarchy.describe()}; sessions under '{settings.cgroup}'")


def _session_checks(settings: Settings, runner: Runner) -> list[CheckResult]:
    """Rows about the sessions themselves: half-there sessions, quotas and crash leftovers."""
    from herodev_shell.core import repair

    return repair.check_rows(settings, runner)


def run_checks(settings: Settings, runner: Runner) -> list[CheckResult]:
    results = [check_distro(packages.read_os_release()), check_privileges(runner)]
    results += check_tools()
    results += check_code_root(settings)
    results.append(check_idmap(settings))
    results.append(check_sandbox(settings))
    results.append(check_cgroups(settings))
    results += check_isolation(settings)
    results += _session_checks(settings, runner)
    return results


@dataclass(frozen=True)
class InitOptions:
    size: str | None = None
    image: Path | None = None
    install_packages: bool = True
    reformat: bool = False  # format an image that already holds a filesystem
    migrate: bool = False  # copy a non-empty code root's contents into the new filesystem
    show_progress: bool = False
    quotas: str | None = None  # simple | full | off; None: see _quota_step


Confirm = Callable[[str], bool]


def init(
    settings: Settings, runner: Runner, options: InitOptions, confirm: Confirm
) -> tuple[list[CheckResult], list[StepResult]]:
    """Prepare the host. Safe to run again: each step probes first and does only what is missing."""
    privileges.require_root("init", runner.dry_run)
    image = options.image or settings.image
    size = parse_size(options.size or settings.image_size)
    checks = run_checks(settings, runner)
    try:
        prepared_before = read_state(settings) is not None
    except HerodevError:
        prepared_before = True
    steps = [_install_packages(runner, options, confirm)]
    steps += _prepare_filesystem(settings, runner, image, size, options)
    steps.append(_prepare_sessions_dir(settings, runner))
    steps.append(_quota_step(settings, runner, options, prepared_before))
    from herodev_shell.core import audit

    audit.add_detail("steps", {step.name: step.status for step in steps})
    return checks, steps


def _quota_step(settings: Settings, runner: Runner, options: InitOptions, prepared_before: bool) -> StepResult:
    """The quota mode (core/quota_mode.py): the flag, the setting, the current mode on a host
    prepared before, else simple where the kernel has it and off elsewhere."""
    from herodev_shell.core import quota_mode
    from herodev_shell.system import quotas

    root = settings.code_root
    if not btrfs.is_subvolume(root):  # only under --dry-run: the filesystem is not there yet
        wanted = options.quotas or settings.quotas or quotas.default_mode()
        return StepResult("quotas", "planned", f"quotas {wanted} on {root}")
    current = quotas.mode(root)
    wanted = quota_mode.wanted_mode(settings, options.quotas, current, prepared_before)
    if wanted == current:
        return StepResult("quotas", "unchanged", f"quotas {current}")
    try:
        change = quota_mode.apply_mode(settings, runner, wanted)
    except (HerodevError, OSError) as error:
        message = error.message if isinstance(error, HerodevError) else str(error)
        if options.quotas or settings.quotas:
            raise HerodevError(f"could not switch quotas to {wanted}: {message}") from None
        # sessions work without quotas: only the figures and --quota do not
        return StepResult("quotas", "skipped", f"could not turn on {wanted} quotas: {message}")
    return StepResult("quotas", "planned" if runner.dry_run else "done", change.detail)


def _install_packages(runner: Runner, options: InitOptions, confirm: Confirm) -> StepResult:
    # uidmap: rootless podman in sessions; bash-completion: Debian leaves it out, and without it
    # the completion script install.sh puts in its directory is never read
    wanted = [*list(REQUIRED_TOOLS.values()), "uidmap", "bash-completion"]
    missing = packages.missing_packages(wanted, runner)
    if not missing:
        return StepResult("packages", "unchanged", "all installed")
    names = " ".join(missing)
    if not options.install_packages:
        return StepResult("packages", "skipped", f"missing {names} (--no-packages)")
    if runner.dry_run:
        runner.say(f"would run: apt-get update && apt-get install -y {names}")
        return StepResult("packages", "planned", f"install {names}")
    if not confirm(f"Install {names} with apt-get?"):
        return StepResult("packages", "skipped", f"missing {names}: not confirmed")
    packages.apt_install(missing, runner, options.show_progress)
    return StepResult("packages", "done", f"installed {names}")


def _prepare_filesystem(
    settings: Settings, runner: Runner, image: Path, size: int, options: InitOptions
) -> list[StepResult]:
    root = settings.code_root
    if btrfs.is_subvolume(root):
        return [StepResult("code root", "unchanged", f"{root} is already a btrfs subvolume")]
    if root.exists() and not root.is_dir():
        raise HerodevError(f"{root} exists and is not a directory")
    mounted = mount_at(root)
    if mounted is not None:
        raise HerodevError(
            f"{root} is a mount point of {mounted.fstype} ({mounted.source}), not btrfs",
            hint="unmount it or choose another code root with --code-root",
        )
    has_content = root.exists() and any(root.iterdir())
    if has_content and not options.migrate:
        raise HerodevError(
            f"{root} is not empty and not on btrfs",
            hint="move its contents away, or pass --migrate to copy them into the new btrfs filesystem",
        )
    if btrfs.is_btrfs(root.parent if not root.exists() else root):
        return [_subvolume_in_place(root, runner, has_content)]
    steps = [_prepare_image(image, size, runner, options)]
    steps.append(_mount_image(root, image, runner, has_content))
    steps.append(_add_fstab_line(settings.fstab, image, root, runner))
    return steps


def _subvolume_in_place(root: Path, runner: Runner, has_content: bool) -> StepResult:
    """The host already has btrfs: make the code root a subvolume where it stands."""
    if not has_content:
        if runner.dry_run:
            runner.say(f"would create subvolume {root}")
            return StepResult("code root", "planned", f"create subvolume {root}")
        if root.exists():
            root.rmdir()
        btrfs.create_subvolume(root, runner)
        return StepResult("code root", "done", f"created subvolume {root}")
    staging = root.with_name(root.name + ".herodev-new")
    old = root.with_name(root.name + ".pre-herodev")
    if runner.dry_run:
        runner.say(f"would create subvolume {staging}, copy {root} into it, keep the original as {old}")
        return StepResult("code root", "planned", f"migrate {root} into a subvolume")
    btrfs.create_subvolume(staging, runner)
    runner.run(["cp", "-a", "--reflink=auto", f"{root}/.", os.fspath(staging)], timeout=None)
    os.rename(root, old)
    os.rename(staging, root)
    return StepResult("code root", "done", f"migrated into a subvolume; the original is kept at {old}")


def _prepare_image(image: Path, size: int, runner: Runner, options: InitOptions) -> StepResult:
    if image.exists():
        found = btrfs.filesystem_type_of(image, runner)
        if found == "btrfs" and not options.reformat:
            return StepResult("image", "unchanged", f"{image} already holds btrfs: reusing it")
        if found and not options.reformat:
            raise HerodevError(
                f"{image} already holds a {found} filesystem",
                hint="choose another --image, or pass --reformat to erase it",
            )
        btrfs.mkfs(image, runner)
        if runner.dry_run:
            return StepResult("image", "planned", f"format existing {image}")
        return StepResult("image", "done", f"formatted existing {image}")
    btrfs.create_sparse_image(image, size, runner)
    btrfs.mkfs(image, runner)
    if runner.dry_run:
        return StepResult("image", "planned", f"create {image} ({human_size(size)}, sparse) and format it")
    return StepResult("image", "done", f"created {image} ({human_size(size)}, sparse) and formatted it")


def _mount_image(root: Path, image: Path, runner: Runner, migrate: bool) -> StepResult:
    if runner.dry_run:
        runner.say(f"would create subvolume {btrfs.SUBVOLUME_NAME} in {image} and mount it at {root}")
        return StepResult("mount", "planned", f"mount {image} at {root}")
    with tempfile.TemporaryDirectory(prefix="herodev-mkfs-") as top:
        top_path = Path(top)
        btrfs.mount(image, top_path, runner, options="loop")
        try:
            subvolume = top_path / btrfs.SUBVOLUME_NAME
            if not subvolume.exists():
                btrfs.create_subvolume(subvolume, runner)
            if migrate:
                runner.run(["cp", "-a", f"{root}/.", os.fspath(subvolume)], timeout=None)
        finally:
            btrfs.umount(top_path, runner)
    root.mkdir(parents=True, exist_ok=True)
    # noatime: with relatime, root merely reading a session (repair, a full scan) rewrites
    # atimes there, and every one of them shows up in the change stream for good.
    btrfs.mount(image, root, runner, options=f"loop,subvol={btrfs.SUBVOLUME_NAME},noatime")
    note = " (the original files stay underneath, unmount to reach them)" if migrate else ""
    return StepResult("mount", "done", f"mounted {image} at {root}{note}")


def _add_fstab_line(fstab_path: Path, image: Path, root: Path, runner: Runner) -> StepResult:
    text = fstab_path.read_text() if fstab_path.exists() else ""
    existing = fstab.entry_for_target(text, root)
    if existing is not None:
        return StepResult("fstab", "unchanged", f"{fstab_path} already mounts {root}")
    line = fstab.fstab_line(image, root, btrfs.SUBVOLUME_NAME)
    if runner.dry_run:
        runner.say(f"would add to {fstab_path}: {line}")
        return StepResult("fstab", "planned", line)
    backup = fstab.write_atomic(fstab_path, fstab.with_line(text, line))
    kept = f" (previous file kept as {backup})" if backup else ""
    return StepResult("fstab", "done", f"added '{line}'{kept}")


def _prepare_sessions_dir(settings: Settings, runner: Runner) -> StepResult:
    sessions = settings.sessions_dir
    state = read_state(settings) if sessions.exists() else None
    if state is not None:
        # Older hosts: a plain directory, so code-root snapshots carried every session's metadata.
        migrated = sessions_volume.migrate(settings, runner)
        if migrated:
            return StepResult("sessions", "planned" if runner.dry_run else "done", migrated)
        return StepResult("sessions", "unchanged", f"{sessions} ready, code owner uid {state.code_owner_uid}")
    owner = invoking_owner()
    if runner.dry_run:
        runner.say(f"would create {sessions} (mode 0700) and record code owner uid {owner.code_owner_uid}")
        return StepResult("sessions", "planned", f"create {sessions}")
    fresh_root = not any(p for p in settings.code_root.iterdir() if p.name != ".sessions")
    if sessions.exists():
        sessions_volume.migrate(settings, runner)  # a directory left by an earlier version
    else:
        sessions_volume.create(settings, runner)  # its own subvolume: never in a code-root snapshot
    os.chmod(sessions, 0o700)
    if fresh_root:
        # The owner works in the code root: hand them its top directory (only that, never -R).
        os.chown(settings.code_root, owner.code_owner_uid, owner.code_owner_gid)
    write_state(settings, owner)
    return StepResult("sessions", "done", f"created {sessions}, code owner uid {owner.code_owner_uid}")
