#!/bin/sh
# Install herodev with the distribution's Python, which PEP 668 closes to pip (Debian 12,
# Ubuntu 23.04 and later): a root-owned virtual environment, `herodev` linked onto root's and
# sudo's PATH, and the bash, zsh and fish completion scripts where those shells look.
#
#   sudo ./install.sh                 install, or upgrade to this checkout (run it again)
#   sudo ./install.sh --with-tests    the same, plus what the test suite needs (pytest ...)
#   sudo ./install.sh --uninstall     remove all of it again
#
# Every path can be moved (the tests install under a temporary directory this way):
#   HERODEV_PREFIX           the virtual environment            (/opt/herodev)
#   HERODEV_BIN_DIR          where the `herodev` link goes      (/usr/local/bin)
#   HERODEV_COMPLETION_ROOT  put in front of the completion dirs (empty: the real ones)
#   HERODEV_PYTHON           the Python to build it with        (/usr/bin/python3)
#   HERODEV_NO_APT=1         never apt-get (fail instead when python3-venv is missing)
set -eu

PREFIX=${HERODEV_PREFIX:-/opt/herodev}
BIN_DIR=${HERODEV_BIN_DIR:-/usr/local/bin}
COMPLETION_ROOT=${HERODEV_COMPLETION_ROOT:-}
PYTHON=${HERODEV_PYTHON:-/usr/bin/python3}
MARKER=.herodev-install  # only a directory holding this file is ever removed as ours

# Where each shell finds completions without any setup: bash-completion's directory (its
# lazy loader reads it), a directory on zsh's default $fpath, and fish's vendor directory.
BASH_COMPLETION="$COMPLETION_ROOT/usr/share/bash-completion/completions/herodev"
ZSH_COMPLETION="$COMPLETION_ROOT/usr/local/share/zsh/site-functions/_herodev"
FISH_COMPLETION="$COMPLETION_ROOT/usr/share/fish/vendor_completions.d/herodev.fish"

SOURCE=$(cd "$(dirname "$0")" && pwd)
say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$1" >&2; [ -z "${2:-}" ] || printf 'hint: %s\n' "$2" >&2; exit 1; }

usage() {
    say "usage: ./install.sh [--with-tests] [--uninstall]"
}

with_tests=0
uninstall=0
for arg in "$@"; do
    case $arg in
        --with-tests) with_tests=1 ;;
        --uninstall) uninstall=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

[ "$(id -u)" = 0 ] || die "install.sh needs root" "sudo ./install.sh"
case $PREFIX in
    /*) ;;
    *) die "HERODEV_PREFIX must be an absolute path (got '$PREFIX')" ;;
esac
[ "$PREFIX" != / ] || die "HERODEV_PREFIX may not be /"

remove_if_ours() {  # a completion file or link: only when it is the one we put there
    if [ -L "$1" ] || [ -f "$1" ]; then
        rm -f "$1" && say "removed $1"
    fi
}

if [ "$uninstall" = 1 ]; then
    link="$BIN_DIR/herodev"
    if [ -L "$link" ]; then
        case $(readlink "$link") in
            "$PREFIX"/*) rm -f "$link" && say "removed $link" ;;
            *) say "left $link alone: it does not point into $PREFIX" ;;
        esac
    fi
    for file in "$BASH_COMPLETION" "$ZSH_COMPLETION" "$FISH_COMPLETION"; do
        if [ -f "$file" ] && grep -q herodev "$file"; then remove_if_ours "$file"; fi
    done
    if [ -d "$PREFIX" ]; then
        [ -f "$PREFIX/$MARKER" ] || die "$PREFIX was not made by install.sh: left alone" "remove it yourself"
        rm -rf "$PREFIX" && say "removed $PREFIX"
    fi
    say "herodev uninstalled (settings in /etc/herodev, the audit log and /code are kept)"
    exit 0
fi

[ -x "$PYTHON" ] || die "$PYTHON not found" "apt-get install python3 (herodev needs Python 3.11 or later)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "herodev needs Python 3.11 or later; $PYTHON is $("$PYTHON" -c 'import platform; print(platform.python_version())')" \
        "Debian 12 has 3.11, Ubuntu 24.04 has 3.12"

# The distribution's Python makes virtual environments only with python3-venv (ensurepip).
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    if [ "${HERODEV_NO_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null; then
        die "$PYTHON cannot make a virtual environment" "apt-get install python3-venv"
    fi
    say "installing python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
# Debian does not install bash-completion by default; without it the bash script is never read.
if [ "${HERODEV_NO_APT:-0}" != 1 ] && command -v dpkg-query >/dev/null &&
    ! dpkg-query -W -f '${db:Status-Status}' bash-completion 2>/dev/null | grep -qx installed; then
    say "installing bash-completion"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bash-completion >/dev/null
fi

umask 022  # whatever root's umask, everyone may run what we install
# A virtual environment built by another Python (the distribution moved on) is made again.
if [ -x "$PREFIX/bin/python" ] && "$PREFIX/bin/python" -c 'import sys' 2>/dev/null &&
    [ "$("$PREFIX/bin/python" -c 'import sys; print(sys.version_info[:2])')" = \
      "$("$PYTHON" -c 'import sys; print(sys.version_info[:2])')" ]; then
    say "upgrading $PREFIX"
else
    if [ -e "$PREFIX" ] && [ -n "$(ls -A "$PREFIX" 2>/dev/null)" ] && [ ! -f "$PREFIX/$MARKER" ]; then
        die "$PREFIX exists and was not made by install.sh" "remove it, or choose another HERODEV_PREFIX"
    fi
    rm -rf "$PREFIX"
    say "creating $PREFIX with $PYTHON"
    "$PYTHON" -m venv "$PREFIX"
fi
: > "$PREFIX/$MARKER"

# Build from a clean copy: setuptools' build/ in a checkout keeps modules deleted since, and
# would put root-owned files into someone's working tree.
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cp -R "$SOURCE/pyproject.toml" "$SOURCE/README.md" "$SOURCE/LICENSE" "$SOURCE/herodev_shell" "$build/"
find "$build" -name __pycache__ -prune -exec rm -rf {} +
target=$build
[ "$with_tests" = 0 ] || target="$build[test]"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV PIP_USER PIP_TARGET PIP_PREFIX 2>/dev/null || true
# A local directory is always reinstalled, so running this again upgrades.
"$PREFIX/bin/python" -m pip install --quiet --upgrade "$target"
chown -R root:root "$PREFIX" 2>/dev/null || true
chmod -R go-w "$PREFIX"

mkdir -p "$BIN_DIR"
ln -sfn "$PREFIX/bin/herodev" "$BIN_DIR/herodev"
# The scripts ship inside the package (package data): take them from the installed copy.
SCRIPTS=$("$PREFIX/bin/python" -c 'from herodev_shell.cli.completion_scripts import completions_dir; print(completions_dir())')
for pair in "herodev.bash:$BASH_COMPLETION" "_herodev:$ZSH_COMPLETION" "herodev.fish:$FISH_COMPLETION"; do
    file=${pair%%:*}
    destination=${pair#*:}
    mkdir -p "$(dirname "$destination")"
    install -m 644 "$SCRIPTS/$file" "$destination"
done

say "installed $("$BIN_DIR/herodev" --version) in $PREFIX ($("$PREFIX/bin/python" -c 'import platform; print("Python", platform.python_version())'))"
say "  $BIN_DIR/herodev -> $PREFIX/bin/herodev"
say "  completions: $BASH_COMPLETION, $ZSH_COMPLETION, $FISH_COMPLETION"
