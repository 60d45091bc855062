"""Remote URL -> `<server>/<org>/<repo>` as ghq lays repositories out. Pure: no I/O.

Understood forms: `https://` and `http://` (user, port, `.git` or not), `ssh://user@host:port/path`
(the port is not part of the path), `git://`, scp-like `user@host:org/repo.git`, nested groups
(`gitlab.com/group/sub/repo`), trailing slashes. `file://` URLs and local paths have no server:
such repositories stay where they are (None). Case is kept as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCHEME_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$")
# user@host:path, without '://' and with no '/' before the colon (git's own rule for scp syntax).
_SCP_RE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?P<path>.*)$")
_HOST_RE = re.compile(r"^[A-Za-z0-9._:%-]+$")  # names, IPv4, IPv6 (brackets removed)
_NETWORK_SCHEMES = {"http", "https", "ssh", "git", "git+ssh", "ssh+git", "ftp", "ftps"}


@dataclass(frozen=True)
class RemoteLocation:
    server: str
    parts: tuple[str, ...]  # org(s)/groups then the repository name

    @property
    def relative_path(self) -> str:
        return "/".join((self.server, *self.parts))


def _clean_parts(path: str) -> tuple[str, ...] | None:
    parts = [p for p in path.strip("/").split("/") if p]
    if parts and parts[0].startswith("~"):  # ssh://host/~user/repo: the home-dir marker is not a folder
        parts[0] = parts[0][1:]
        if not parts[0]:
            parts = parts[1:]
    if not parts:
        return None
    if parts[-1].endswith(".git"):
        parts[-1] = parts[-1][: -len(".git")]
    if any(p in ("", ".", "..") or "\0" in p for p in parts):
        return None  # never let a URL climb out of the code root
    return tuple(parts)


def _host_of(authority: str) -> str | None:
    host = authority.rsplit("@", 1)[-1]
    if host.startswith("["):  # [ipv6]:port
        end = host.find("]")
        host = host[1:end] if end > 0 else ""
    else:
        host = host.split(":", 1)[0]
    if not host or not _HOST_RE.match(host) or host in (".", ".."):
        return None
    return host


def parse_remote(url: str) -> RemoteLocation | None:
    """Where a remote URL puts its repository under the code root; None for local ones."""
    url = url.strip()
    if not url or any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None  # a NUL or control character is never part of a real remote, and never a path
    match = _SCHEME_RE.match(url)
    if match:
        scheme = match.group("scheme").lower()
        if scheme not in _NETWORK_SCHEMES:
            return None  # file:// and unknown transports stay in place
        authority, _, path = match.group("rest").partition("/")
        host = _host_of(authority)
        parts = _clean_parts(path)
        if host is None or parts is None:
            return None
        return RemoteLocation(host, parts)
    if url.startswith(("/", "./", "../", "~")) or url in (".", ".."):
        return None  # a local path
    scp = _SCP_RE.match(url)
    if scp:
        host = scp.group("host")
        parts = _clean_parts(scp.group("path"))
        if (
            not host or not _HOST_RE.match(host) or host in (".", "..") or parts is None
        ):  # git@..:x would climb out of the code root
            return None
        return RemoteLocation(host, parts)
    return None  # a relative local path such as ../other.git
