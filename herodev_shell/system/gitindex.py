"""A digest of a git index's entries without their stat data, read straight from the file.

`git status` in a repository rewrites `.git/index` with fresh stat data (times, inode, size)
and the same entries. Whether a session's rewritten index still holds its base's entries is
then a comparison of two digests: path, object id, mode and flags (stage, assume-valid,
skip-worktree, intent-to-add) of every entry, in order. Stat data only tells git when it may
skip reading a file; the status of an unchanged file against an unchanged entry does not
depend on it. No pygit2 and no repository: one read and one pass over the bytes.

flags_digest() is the narrower digest incremental() needs: the paths whose entry tells git to
leave the file unchecked (assume-valid, skip-worktree). A session that sets or clears one of
these changes what status reports for a file no path of the change stream names.

"" means "cannot tell" (not an index, a version or extension this parser does not know, a bad
checksum, a split index whose entries live in another file): the caller does the full work.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct

_ENTRY_FIXED = 62  # ctime, mtime (8 each), dev, ino, mode, uid, gid, size (4 each), oid (20), flags (2)
_MAX_BYTES = 512 << 20  # an index larger than this is not read here
_ASSUME_VALID = 0x80  # high byte of an entry's flags
_SKIP_WORKTREE = 0x40  # high byte of its extended flags (0x20 there is intent-to-add)


def read_index(path: str) -> bytes | None:
    """The index file's bytes; None when it is not a regular file (a FIFO would hang a read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_BYTES:
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def entries_digest(data: bytes) -> str:
    """Hex digest of the entries' path, oid, mode and flags, in order; "" when unsure."""
    found = _digests(data)
    return found[0] if found else ""


def flags_digest(data: bytes) -> str:
    """Hex digest of (path, assume-valid, skip-worktree) of each entry with one of them set
    (a fixed digest when none is); "" when unsure."""
    found = _digests(data)
    return found[1] if found else ""


def _digests(data: bytes) -> tuple[str, str] | None:
    """(entries digest, flags digest) in one pass; None when unsure."""
    if len(data) < 12 + 20 or data[:4] != b"DIRC":
        return None
    version, count = struct.unpack_from(">II", data, 4)
    end = len(data) - 20
    trailer = data[end:]
    if trailer != bytes(20) and hashlib.sha1(memoryview(data)[:end]).digest() != trailer:  # git's checksum
        return None  # zeros: index.skipHash
    if version not in (2, 3, 4):
        return None
    parts = [data[:12]]
    flagged = []
    previous = b""  # v4 paths are stored as a change to the previous one
    offset = 12
    find = data.index
    try:
        for _ in range(count):
            start = offset + _ENTRY_FIXED
            if start > end:
                return None
            unchecked = data[offset + 60] & _ASSUME_VALID
            if data[offset + 60] & 0x40:  # extended flags follow
                if version < 3:
                    return None
                unchecked |= data[offset + 62] & _SKIP_WORKTREE
                start += 2
            if version == 4:  # a varint (bytes of the previous path to drop), then a NUL-ended suffix
                drop = data[start] & 0x7F
                while data[start] & 0x80:  # git's offset varint (varint.c)
                    start += 1
                    drop = ((drop + 1) << 7) | (data[start] & 0x7F)
                name_end = find(b"\0", start + 1, end)
                following = name_end + 1
                if drop > len(previous):
                    return None
                previous = previous[: len(previous) - drop] + data[start + 1 : name_end]
                path = previous
            else:
                name_end = find(b"\0", start, end)
                following = offset + ((name_end - offset + 8) & ~7)  # NUL-padded to 8 bytes
                path = data[start:name_end] if unchecked else b""
            if unchecked:
                flagged.append(b"%d:%s\0" % (unchecked, path))
            parts.append(data[offset + 24 : offset + 28])  # mode
            parts.append(data[offset + 40 : name_end])  # oid, flags (+ extended), path
            offset = following
    except (ValueError, IndexError):
        return None
    while offset + 8 <= end:  # extensions: a lower-case signature is one git requires (split, sparse)
        signature = data[offset : offset + 4]
        if 0x61 <= signature[0] <= 0x7A:
            return None
        (size,) = struct.unpack_from(">I", data, offset + 4)
        offset += 8 + size
    if offset != end:
        return None
    return (
        hashlib.blake2b(b"".join(parts), digest_size=20).hexdigest(),
        hashlib.blake2b(b"flags\0" + b"".join(flagged), digest_size=20).hexdigest(),
    )


def index_digest(path: str) -> str:
    data = read_index(path)
    return entries_digest(data) if data is not None else ""


def flags_digest_of(path: str) -> str:
    data = read_index(path)
    return flags_digest(data) if data is not None else ""
