"""fork: a new session (user and all) starting from another session's state or checkpoint.

The fork's base is a read-only snapshot of the source session's base, not of the code root
now: both hold the same tree, so `changes` and `push` of the fork show the source's work plus
the fork's own, against the same starting point. Every step is O(1) in the size of the tree
(two snapshots), under the sessions lock, undone on failure, metadata written last (create's
pattern in sessions.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

from herodev_shell.core import checkpoints, identity, layout, limits, quota_mode, sessions
from herodev_shell.core.faults import maybe_fail
from herodev_shell.core.hoststate import require_state
from herodev_shell.core.meta import new_meta, read_meta, write_meta
from herodev_shell.core.names import validate_name
from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError, UsageError
from herodev_shell.system import btrfs, gitidentity, privileges, procs, subids, users
from herodev_shell.system.locking import exclusive_lock
from herodev_shell.system.runner import Runner


def fork_session(
    settings: Settings, runner: Runner, name: str, new: str, from_checkpoint: str | None = None
) -> sessions.SessionInfo:
    privileges.require_root("fork", runner.dry_run)
    validate_name(settings, new)
    author, email = identity.choose(settings, new, None, None)  # the fork's own, as create gives
    require_state(settings)
    if new == name:
        raise UsageError("a fork needs a new name", hint=f"'herodev fork {name} NEW'")
    new_paths = layout.session_paths(settings, new)
    sessions.refuse_foreign_user(settings, new_paths)
    with exclusive_lock(settings.lock_file):
        src = checkpoints.session_paths_checked(settings, name)
        src_meta = read_meta(src) or {}
        if src_meta.get("access", sessions.ACCESS_IDMAP) != sessions.ACCESS_IDMAP:
            # A chowned session's files belong to its own user: the fork's user could not write them.
            raise HerodevError(f"session {name} was made without idmapped mounts: it cannot be forked")
        if not btrfs.is_subvolume(src.base):
            raise HerodevError(f"session {name} has no base snapshot ({src.base})", hint="run 'herodev repair'")
        source = src.snapshot
        if from_checkpoint is not None:
            source = checkpoints.checkpoint_dir(src, checkpoints.get_checkpoint(src, from_checkpoint).id)
        sessions._refuse_existing(settings, new_paths)
        if runner.dry_run:
            runner.say(f"would create user {new_paths.user}, snapshots {new_paths.base} and {new_paths.snapshot}")
            return sessions.SessionInfo(new, new_paths.user, os.fspath(new_paths.snapshot), "", notes=("dry run",))
        undo: list[tuple[str, Callable[[], None]]] = []
        try:
            held = procs.held_ids()  # never ids a survivor of a deleted session still runs as
            users.create_user(new_paths.user, f"{users.COMMENT_PREFIX} {new}", runner, held)
            undo.append((f"user {new_paths.user}", lambda: users.delete_user(new_paths.user, runner)))
            maybe_fail("fork:after-user")
            user = users.lookup(new_paths.user)
            if user is None:
                raise HerodevError(f"useradd reported success but {new_paths.user} does not exist")
            subids.ensure(user.name, user.uid, runner, held)
            gitidentity.write(user.name, user.home, author, email, runner)
            btrfs.snapshot(src.base, new_paths.base, runner, read_only=True)
            undo.append((str(new_paths.base), lambda: btrfs.delete_subvolume(new_paths.base, runner)))
            btrfs.snapshot(source, new_paths.snapshot, runner)
            undo.append((str(new_paths.snapshot), lambda: btrfs.delete_subvolume(new_paths.snapshot, runner)))
            maybe_fail("fork:after-snapshot")
            # The source's limits, enforced from the start (create's order: cgroup before metadata).
            undo.append((f"cgroup of {new_paths.user}", lambda: limits.remove_session_group(settings, new)))
            limits.prepare_group(settings, new, limits.from_meta(src_meta))
            quota = src_meta.get("quota")
            # its own quota group (nested subvolumes join it under simple quotas) and the limit
            quota_mode.attach(settings, runner, new_paths.snapshot, quota if isinstance(quota, int) else None)
            inherited = {k: src_meta[k] for k in ("quota", "limits") if k in src_meta}
            meta = new_meta(
                settings,
                new_paths,
                user,
                src_meta.get("base_generation"),
                (src_meta.get("code_owner_uid"), src_meta.get("code_owner_gid")),
                src_meta.get("access", sessions.ACCESS_IDMAP),  # (absent meant idmapped)
                **inherited,
                git_name=author,
                git_email=email,
                forked_from=name,
                forked_from_checkpoint=from_checkpoint,
            )
            write_meta(new_paths, meta)
            undo.append((f"metadata {new_paths.meta}", lambda: new_paths.meta.unlink(missing_ok=True)))
            maybe_fail("fork:after-metadata")
        except BaseException as exc:
            left = sessions._undo(undo)
            reason = exc.message if isinstance(exc, HerodevError) else f"{type(exc).__name__}: {exc}"
            hint = (
                f"left behind: {', '.join(left)}; 'herodev delete -f {new}' cleans up"
                if left
                else "every earlier step was undone"
            )
            raise HerodevError(f"could not fork {name} into {new}: {reason}", hint=hint) from exc
    info = sessions.get_session(settings, new)
    where = f"checkpoint {from_checkpoint} of {name}" if from_checkpoint else name
    return replace(info, notes=(f"forked from {where}",))
