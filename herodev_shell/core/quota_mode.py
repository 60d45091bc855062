"""Which quota mode a host runs (simple, full, off), switching between them, and a session's
quota group: what `init --quotas`, `check`, `create --quota`, `delete`, `list` and `df` use.

Costs, measured (DESIGN.md): full quota groups account every dropped tree at the next commit,
which every snapshot forces, so `changes` (which snapshots) slowed from 0.2 s to 4-6 s on a
55,771-file code root after some churn. Simple quotas do not: they are the default where the
kernel has them; elsewhere the default is off and `df` measures on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from herodev_shell.core import layout
from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError
from herodev_shell.system import btrfs, quotas
from herodev_shell.system.locking import exclusive_lock
from herodev_shell.system.runner import Runner
from herodev_shell.system.subvolinfo import subvolume_info

SIMPLE, FULL, OFF = quotas.SIMPLE, quotas.FULL, quotas.OFF

# What happens to the figures of sessions that exist when the mode changes.
_SWITCH_EFFECT = {
    SIMPLE: "existing sessions count only what they write from now on (simple quotas do not "
    "charge extents written before they were on); their limits were set again",
    FULL: "the kernel rescans the whole filesystem: figures settle when it finishes; limits were "
    "set again; subvolumes made inside a session are counted but not limited (simple quotas limit them)",
    OFF: "per-session figures and --quota limits are gone; df measures disk use on demand (slower)",
}


def wanted_mode(settings: Settings, explicit: str | None, current: str, initialised: bool) -> str:
    """The mode init should leave: the flag, else the setting, else the current mode on a host
    init prepared before (running init again changes nothing), else the default."""
    chosen = explicit or settings.quotas
    if chosen:
        if chosen == SIMPLE and not quotas.kernel_has_simple_quotas():
            raise HerodevError(
                "this kernel has no simple quotas (Linux 6.7 or later)",
                hint="use --quotas off (df measures on demand) or --quotas full (slower snapshots)",
            )
        return chosen
    if initialised:
        return current
    return quotas.default_mode()


@dataclass(frozen=True)
class ModeChange:
    before: str
    after: str
    sessions: int
    detail: str


def apply_mode(settings: Settings, runner: Runner, wanted: str) -> ModeChange:
    """Switch the code root's filesystem to `wanted` and give every existing session its quota
    group and limit again (leaving a mode drops all groups). Under the global lock, so no
    create or delete runs half in one mode and half in the other."""
    root = settings.code_root
    before = quotas.mode(root)
    if before == wanted:
        return ModeChange(before, wanted, 0, f"quotas {wanted}")
    names = layout.session_names(settings)
    with exclusive_lock(settings.lock_file):
        quotas.switch(root, wanted, runner)
        if runner.dry_run:
            return ModeChange(before, wanted, len(names), f"would switch quotas {before} -> {wanted}")
        for name in names if wanted != OFF else []:
            attach_session(settings, runner, name, _meta_limit(settings, name))
    effect = f"; {len(names)} session(s): {_SWITCH_EFFECT[wanted]}" if names else ""
    return ModeChange(before, wanted, len(names), f"quotas {before} -> {wanted}{effect}")


def _meta_limit(settings: Settings, name: str) -> int | None:
    import json

    try:
        value = json.loads(layout.session_paths(settings, name).meta.read_text()).get("quota")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def session_subvolume(settings: Settings, name: str) -> int | None:
    try:
        return subvolume_info(layout.session_paths(settings, name).snapshot).treeid
    except OSError:
        return None


def attach_session(settings: Settings, runner: Runner, name: str, limit: int | None) -> None:
    """The session's group 1/<its subvolume id>, holding it (and, under simple quotas, what is
    nested in it: new nested subvolumes join by themselves there), with its limit."""
    attach(settings, runner, layout.session_paths(settings, name).snapshot, limit)


def attach(settings: Settings, runner: Runner, subvolume_path: Path, limit: int | None) -> None:
    """attach_session for a subvolume that is about to become a session's (fork, rewind)."""
    mode = quotas.mode(settings.code_root)
    try:
        subvolume = subvolume_info(subvolume_path).treeid
    except OSError:
        return
    if mode != OFF:
        quotas.make_session_group(settings.code_root, subvolume, limit, runner, include_nested=mode == SIMPLE)


def release_session(settings: Settings, runner: Runner, name: str) -> int | None:
    """Before deleting: lift the session's limits (btrfs refuses to delete a subvolume whose
    group is at its limit: 'Disk quota exceeded'). Returns the session's subvolume id."""
    return release(settings, runner, layout.session_paths(settings, name).snapshot)


def release(settings: Settings, runner: Runner, subvolume_path: Path) -> int | None:
    try:
        subvolume: int | None = subvolume_info(subvolume_path).treeid
    except OSError:
        subvolume = None
    if subvolume is None or quotas.mode(settings.code_root) == OFF:
        return subvolume
    root = settings.code_root
    group = quotas.usage(root, 1, subvolume)
    if group is not None and group.limit is not None:
        quotas.set_limit(root, subvolume, None, runner)
    own = quotas.usage(root, 0, subvolume)
    if own is not None and own.limit is not None:
        quotas.set_level0_limit(root, subvolume, None, runner)
    return subvolume


def sweep_groups(settings: Settings, runner: Runner) -> int:
    """Destroy session groups whose subvolume is gone and whose members btrfs has cleaned up
    (right after a delete they still hold usage: a later delete or create sweeps them)."""
    root = settings.code_root
    if quotas.mode(root) == OFF:
        return 0
    swept = _drop_empty_stale(root, runner)
    for ident in quotas.level1_groups(root):
        # btrfs drops a deleted subvolume's own group once its cleaner is done with it
        if quotas.usage(root, 0, ident) is None and quotas.destroy_group(root, ident, runner):
            swept += 1
    return swept


def _drop_empty_stale(root: Path, runner: Runner) -> int:
    """Destroy the groups of deleted, cleaned subvolumes that count nothing any more. A snapshot
    a rewind replaced leaves one (btrfs keeps it while checkpoints share its bytes, then keeps
    it empty), and as a member of the session groups it keeps them from being swept too."""
    dropped = 0
    for group in btrfs.qgroups(root, runner) or []:
        if group.path == "<stale>" and group.referenced == 0 and group.exclusive == 0:
            command = ["btrfs", "qgroup", "destroy", f"0/{group.subvolume_id}", str(root)]
            dropped += runner.run(command, check=False).ok
    return dropped


# --- figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    exclusive: int | None  # bytes the session holds, nested subvolumes included
    referenced: int | None
    limit: int | None
    nested: int  # subvolumes made inside the session


def session_figures(root: Path, mode: str, subvolume: int | None) -> Figures:
    """From sysfs and the root tree, no process: the session's group under simple quotas
    (nested subvolumes are members), its own group plus each nested one's under full."""
    if subvolume is None or mode == OFF:
        return Figures(None, None, None, 0)
    nested = quotas.nested_subvolumes(root, subvolume)
    group = quotas.usage(root, 1, subvolume)
    own = quotas.usage(root, 0, subvolume)
    if mode == SIMPLE and group is not None:
        return Figures(group.exclusive, group.referenced, group.limit, len(nested))
    if own is None:
        return Figures(None, None, None, len(nested))
    exclusive, referenced = own.exclusive, own.referenced
    for inner in nested:
        found = quotas.usage(root, 0, inner)
        if found is not None:
            exclusive += found.exclusive
            referenced += found.referenced
    limit = group.limit if group is not None and group.limit is not None else own.limit
    return Figures(exclusive, referenced, limit, len(nested))


@dataclass(frozen=True)
class CheckRow:
    status: str  # pass | warn
    detail: str


def check_row(settings: Settings) -> CheckRow:
    mode = quotas.mode(settings.code_root)
    has_simple = quotas.kernel_has_simple_quotas()
    if mode == SIMPLE:
        return CheckRow("pass", "simple: per-session disk use (nested subvolumes included) and --quota, at no cost")
    if mode == FULL:
        switch = "--quotas simple" if has_simple else "--quotas off"
        return CheckRow(
            "warn",
            "full: every snapshot deletion is accounted at the next commit, so changes and create slow "
            f"down as the tree and the churn grow (seconds on large code roots); 'sudo herodev init {switch}'",
        )
    if settings.quotas == OFF or not has_simple:
        return CheckRow("pass", "off: df measures disk use on demand (slower); create --quota is unavailable")
    return CheckRow(
        "warn", "off: df measures on demand and --quota is unavailable; 'sudo herodev init --quotas simple' (no cost)"
    )
