"""Remote URL -> <server>/<org>/<repo>, the forms ghq understands."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herodev_shell.core.remote_url import parse_remote

CASES = [
    ("https://github.com/org/repo.git", "github.com/org/repo"),
    ("https://github.com/org/repo", "github.com/org/repo"),
    ("https://github.com/org/repo/", "github.com/org/repo"),
    ("https://github.com/org/repo.git/", "github.com/org/repo"),
    ("http://example.com/org/repo", "example.com/org/repo"),
    ("https://user@github.com/org/repo.git", "github.com/org/repo"),
    ("https://user:token@git.example.com:8443/org/repo.git", "git.example.com/org/repo"),
    ("git@github.com:org/repo.git", "github.com/org/repo"),
    ("git@github.com:org/repo", "github.com/org/repo"),
    ("github.com:org/repo.git", "github.com/org/repo"),
    ("git@host.example:/srv/org/repo.git", "host.example/srv/org/repo"),
    ("ssh://git@host.example:2222/org/repo.git", "host.example/org/repo"),
    ("ssh://host.example/org/repo", "host.example/org/repo"),
    ("ssh://git@host.example/~alice/repo.git", "host.example/alice/repo"),
    ("git+ssh://git@host.example/org/repo.git", "host.example/org/repo"),
    ("git://git.kernel.org/pub/scm/git/git.git", "git.kernel.org/pub/scm/git/git"),
    ("https://gitlab.com/group/sub/repo.git", "gitlab.com/group/sub/repo"),
    ("git@gitlab.com:group/sub/deeper/repo.git", "gitlab.com/group/sub/deeper/repo"),
    ("https://GitHub.com/MyOrg/MyRepo.git", "GitHub.com/MyOrg/MyRepo"),
    ("https://[::1]:8080/org/repo.git", "::1/org/repo"),
    ("  https://github.com/org/repo.git \n", "github.com/org/repo"),
]

LOCAL = [
    "file:///srv/git/repo.git",
    "/srv/git/repo.git",
    "./other",
    "../other.git",
    "~/repos/x.git",
    "relative/path",
    "",
    "https://github.com/",
    "https://github.com/org/..",
    "git@host:../escape",
    "git@host:org/../../escape",
    "unknown://host/org/repo",
    "https://bad\nhost/org/repo",
    "https://host/org/re\x1bpo",
    "git@ho st:org/repo",
    "https://ho st/org/repo",
]


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_network_urls_map_to_server_org_repo(url: str, expected: str) -> None:
    location = parse_remote(url)
    assert location is not None
    assert location.relative_path == expected


@pytest.mark.parametrize("url", LOCAL)
def test_local_and_unsafe_urls_stay_in_place(url: str) -> None:
    assert parse_remote(url) is None


def test_parts_split_server_from_groups() -> None:
    location = parse_remote("git@gitlab.com:group/sub/repo.git")
    assert location is not None
    assert location.server == "gitlab.com"
    assert location.parts == ("group", "sub", "repo")


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.builds(
            lambda scheme, host, path: f"{scheme}{host}{path}",
            st.sampled_from(["https://", "ssh://git@", "git://", "", "git@", "file://"]),
            st.text(alphabet="ab.:-_@[]", max_size=12),
            st.text(alphabet="ab./~:-_", max_size=30),
        ),
    )
)
def test_no_url_leads_out_of_the_code_root(url: str) -> None:
    location = parse_remote(url)
    if location is None:
        return
    parts = location.relative_path.split("/")
    assert all(p not in ("", ".", "..") for p in parts), location
    assert not any(ord(c) < 0x20 or c == "\x7f" for c in location.relative_path)
    assert not location.relative_path.startswith("/")
