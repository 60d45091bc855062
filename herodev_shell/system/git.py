"""The git command line, only ever run as root in trusted repositories (the code root's).

Session repositories are never a git CLI working directory: their commits are fetched *from*
them with `git upload-pack`, which runs in the sandbox as the session user (sandbox_exec.py).
Every call here also switches hooks and fsmonitor off, in case the code root's own repository
carries some.
"""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.errors import HerodevError, _last_meaningful_line
from herodev_shell.system.runner import Runner

PUSH_TIMEOUT = 300.0


def _git(repo: Path) -> list[str]:
    return [
        "git",
        "-c",
        f"safe.directory={os.fspath(repo)}",
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "core.fsmonitor=false",
        "-C",
        os.fspath(repo),
    ]


def _env() -> dict[str, str]:
    # No terminal prompts from a credential helper we cannot answer; no pager.
    return {"GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}


@dataclass(frozen=True)
class GitOutcome:
    ok: bool
    reason: str
    summary: str = ""  # porcelain summary (e.g. 'abc..def', '[new branch]')


def fetch_from_untrusted(
    trusted_repo: Path, untrusted_repo: Path, branch: str, into_ref: str, runner: Runner, upload_pack: str
) -> GitOutcome:
    """Copy `branch` of an untrusted repository into `into_ref` of a trusted one.

    `upload_pack` is the session side: system/sandbox_exec.py's command, which runs git
    upload-pack as the session user in its sandbox (never as root in the session's repository).
    """
    argv = [
        *_git(trusted_repo),
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        "--no-recurse-submodules",
        f"--upload-pack={upload_pack}",
        os.fspath(untrusted_repo),
        f"+refs/heads/{branch}:{into_ref}",
    ]
    result = runner.run(argv, changes=True, check=False, env=_env(), timeout=PUSH_TIMEOUT)
    if result.ok:
        return GitOutcome(True, "")
    return GitOutcome(False, _last_meaningful_line(result.stderr) or f"git fetch exited {result.returncode}")


def init_bare(path: Path, runner: Runner) -> None:
    runner.run(["git", "init", "--quiet", "--bare", os.fspath(path)], env=_env())


def delete_ref(repo: Path, ref: str, runner: Runner) -> None:
    runner.run([*_git(repo), "update-ref", "-d", ref], check=False, env=_env())


def as_owner(repo: Path) -> tuple[list[str], dict[str, str]]:
    """The argv prefix and environment that run git as the owner of repo's git dir: never root
    in a tree someone else owns (its config, core.sshCommand say, would run as root), and the
    owner's ~/.gitconfig, ~/.ssh (keys, config, known_hosts) and credential helpers apply."""
    git_dir = repo / ".git"
    uid = os.lstat(git_dir if os.path.lexists(git_dir) else repo).st_uid  # a bare repository is its own git dir
    env = _env()
    if uid == os.geteuid():
        return ["git"], env
    try:
        owner = pwd.getpwuid(uid)
    except KeyError:
        raise HerodevError(
            f"{repo} belongs to uid {uid}, which has no account: git will not run as root there",
            hint=f"chown -R the repository to the operator who pushes from it (ls -ln {repo})",
        ) from None
    env.update(HOME=owner.pw_dir or "/", USER=owner.pw_name, LOGNAME=owner.pw_name)
    # The operator's ssh agent (kept through sudo with --preserve-env=SSH_AUTH_SOCK) only when
    # the owner can reach it: ssh treats an empty SSH_AUTH_SOCK as no agent.
    env["SSH_AUTH_SOCK"] = _agent_for(uid)
    return ["runuser", "-u", owner.pw_name, "--", "git"], env


def _agent_for(uid: int) -> str:
    sock = os.environ.get("SSH_AUTH_SOCK", "")
    try:
        info, parent = os.stat(sock), os.stat(os.path.dirname(sock) or "/")
    except OSError:
        return ""
    return sock if stat.S_ISSOCK(info.st_mode) and info.st_uid == uid and parent.st_uid in (uid, 0) else ""


def _owner_git(repo: Path) -> tuple[list[str], dict[str, str]]:
    prefix, env = as_owner(repo)
    return [*prefix, *_git(repo)[1:]], env


def push(repo: Path, remote: str, source_ref: str, branch: str, runner: Runner) -> GitOutcome:
    """`git push --porcelain REMOTE SRC:refs/heads/BRANCH` from a trusted repository, as its owner,
    with the owner's own ssh config, keys and credential helpers; git's reason when it fails."""
    prefix, env = _owner_git(repo)
    argv = [*prefix, "push", "--porcelain", "--no-verify", remote, f"{source_ref}:refs/heads/{branch}"]
    result = runner.run(argv, changes=True, check=False, env=env, timeout=PUSH_TIMEOUT)
    flag, summary = _porcelain_ref_line(result.stdout)
    if result.ok and flag != "!":
        return GitOutcome(True, "", summary)
    if flag == "!":
        # "[rejected] (fetch first)" -> "rejected (fetch first)"; git's hints are advice, not the reason
        reason = summary.replace("[", "").replace("]", "").strip() or "rejected"
        detail = _last_meaningful_line(
            "\n".join(
                line
                for line in result.stderr.splitlines()
                if "failed to push" not in line and not line.startswith("hint:")
            )
        )
        return GitOutcome(False, f"{reason}: {detail}" if detail and detail not in reason else reason, summary)
    return GitOutcome(False, _last_meaningful_line(result.stderr) or f"git push exited {result.returncode}", summary)


def _porcelain_ref_line(stdout: str) -> tuple[str, str]:
    """(flag, summary) of the ref line of `git push --porcelain` output, ('', '') if none."""
    for line in stdout.splitlines():
        if "\t" in line and line[:1] in (" ", "+", "-", "*", "!", "="):
            fields = line.split("\t")
            return line[0], fields[2] if len(fields) > 2 else ""
    return "", ""


def set_upstream(repo: Path, branch: str, remote: str, runner: Runner) -> None:
    """branch.BRANCH.remote/merge in a trusted repository (as its owner), as `push -u` records them."""
    prefix, env = _owner_git(repo)
    for key, value in (("remote", remote), ("merge", f"refs/heads/{branch}")):
        runner.run([*prefix, "config", f"branch.{branch}.{key}", value], check=False, env=env)
