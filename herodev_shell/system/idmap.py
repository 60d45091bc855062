"""Idmapped mounts (Linux 5.15+ on btrfs): whether the kernel supports them."""

from __future__ import annotations

import os


def kernel_release() -> tuple[int, int]:
    release = os.uname().release
    major, minor = release.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def support() -> tuple[bool, str]:
    # TODO(sessions): replace with a real probe (open_tree + mount_setattr on the code root).
    version = kernel_release()
    if version >= (5, 15):
        return True, f"kernel {os.uname().release}"
    return False, f"kernel {os.uname().release} is older than 5.15: sessions fall back to a slower way"
