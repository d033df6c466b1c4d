#!/usr/bin/env bash
# Set up a fresh Debian 12 / Ubuntu machine for citysense development and CI:
#   1. the system packages `citysense services up` needs (mosquitto, debootstrap, …),
#   2. a .venv in the repository root with `pip install -e '.[dev]'`, held to the exact versions
#      of requirements-dev.lock (see `make lock`).
#
# Usage: bash scripts/bootstrap.sh     (as root, or as a user with sudo)
#
# Idempotent and quick on a machine that is already set up: apt is only touched when
# a package is missing, and pip only runs when pyproject.toml (or the Python) changed.
# Environment: PYTHON=/path/to/python3.11+ picks the interpreter for the venv.
#
# It deliberately does not start the Debian mosquitto service: `citysense services up`
# runs its own broker on 127.0.0.1:11883. If the package's postinst started the stock
# service on port 1883 we leave it alone; it does not collide with ours.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO/.venv"
STAMP="$VENV/.citysense-installed"

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

# Commands that need root go through this; `sudo` only when we are not root already.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $* — run this script as root or install sudo"
    fi
}

have() { command -v "$1" >/dev/null 2>&1; }
# /usr/sbin is not on an ordinary user's PATH, so look there explicitly.
have_sbin() { have "$1" || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

# --- pick the interpreter ---------------------------------------------------------
py_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; }

# Prints an interpreter >= 3.11, or nothing.
pick_python() {
    if [ -n "${PYTHON:-}" ]; then
        if py_ok "$PYTHON"; then printf '%s\n' "$PYTHON"; fi
        return
    fi
    # Ubuntu 22.04's python3 is 3.10; a python3.1x installed next to it will do.
    local cand
    for cand in python3 python3.13 python3.12 python3.11; do
        if have "$cand" && py_ok "$cand"; then
            printf '%s\n' "$cand"
            return
        fi
    done
}

# Debian/Ubuntu move ensurepip out of the interpreter into pythonX.Y-venv, and
# `python3 -m venv` then fails halfway; importing ensurepip is the quick test.
venv_ok() { "$1" -c 'import venv, ensurepip' >/dev/null 2>&1; }

# The package that makes `$1 -m venv` work: python3-venv serves only the
# distribution's default python3; e.g. python3.11 on Ubuntu 22.04 needs its own.
venv_package() {
    if [ "$(command -v "$1")" = /usr/bin/python3 ]; then
        echo python3-venv
    else
        "$1" -c 'import sys; print("python%d.%d-venv" % sys.version_info[:2])'
    fi
}

apt_install() {
    say "installing $* (apt)…"
    if [ -z "$apt_updated" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
apt_updated=

# --- system packages --------------------------------------------------------------
missing=()
PY=$(pick_python)
if [ -z "$PY" ] && [ -z "${PYTHON:-}" ] && ! have python3; then
    # A fresh debian:12 image has no Python at all.
    missing+=(python3 python3-venv)
elif [ -n "$PY" ] && ! venv_ok "$PY"; then
    missing+=("$(venv_package "$PY")")
fi
have_sbin mosquitto || missing+=(mosquitto)
have_sbin debootstrap || missing+=(debootstrap)
# Debian's prometheus (with promtool) checks deploy/prometheus/ and scrapes real processes in
# tests/integration/deploy/test_prometheus.py; nothing here starts its service.
have promtool || missing+=(prometheus)
# debootstrap verifies the Debian archive's signature; Ubuntu does not ship the key.
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
# psql/pg_isready are conveniences for people poking at the database; the services
# code itself uses the PostgreSQL binaries inside the TimescaleDB root.
{ have psql && have pg_isready; } || missing+=(postgresql-client)
# pip's HTTPS (and PIP_CERT-style configs) need the system CA bundle.
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
# The dashboard's browser test (tests/integration/test_dashboard.py) drives Debian's Chromium at
# /usr/bin/chromium through Playwright, which never downloads a browser here; DejaVu gives its
# screenshots real glyphs. Ubuntu has no such deb (its chromium-browser is a snap): the test then
# skips with the reason, or fails under CI.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(. /etc/os-release 2>/dev/null && echo "${ID:-}")" = ubuntu ]; then
        say "no Debian chromium package on Ubuntu: the dashboard browser test will not run"
    else
        missing+=(chromium)
    fi
fi
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)

if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
else
    say "system packages already installed"
fi

# --- Python -------------------------------------------------------------------------
PY=$(pick_python)
if [ -z "$PY" ] && [ -n "${PYTHON:-}" ]; then
    die "PYTHON=$PYTHON is not a Python >= 3.11 ($("$PYTHON" -V 2>/dev/null || echo 'not found'))"
fi
if [ -z "$PY" ]; then
    # Ubuntu 22.04: python3 is 3.10, but python3.11 is packaged next to it.
    old=$(python3 -V 2>&1 || echo 'no python3')
    apt_install python3.11 python3.11-venv ||
        die "citysense needs Python >= 3.11, but python3 is $old and apt has no python3.11. Install one and re-run with PYTHON=/path/to/python3.11"
    PY=$(pick_python)
    [ -n "$PY" ] || die "citysense needs Python >= 3.11 (python3 is $old)"
fi
if ! venv_ok "$PY"; then
    apt_install "$(venv_package "$PY")"
fi

# A venv whose interpreter vanished or is too old (e.g. made by a different Python)
# cannot be repaired in place; rebuild it.
if [ -d "$VENV" ] && ! py_ok "$VENV/bin/python"; then
    say "existing .venv is broken or older than Python 3.11; recreating it"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    say "creating .venv with $("$PY" -V 2>&1) ($(command -v "$PY"))…"
    "$PY" -m venv "$VENV"
fi

# The install depends on the declared dependencies, on the interpreter, and (for the
# editable install's path hooks) on where the checkout lives.
want=$(
    {
        cat "$REPO/pyproject.toml" "$REPO/requirements-dev.lock"
        "$VENV/bin/python" -c 'import sys; print(sys.version)'
        printf '%s\n' "$REPO"
    } | sha256sum | cut -d' ' -f1
)
have_stamp=$(cat "$STAMP" 2>/dev/null || true)
if [ "$want" = "$have_stamp" ] && [ -x "$VENV/bin/citysense" ]; then
    say ".venv is up to date"
else
    # The lock is a constraints file: every locked package is installed at exactly its locked
    # version, so a fresh clone tests with what `make test` last passed with.
    say "installing citysense and its dev dependencies into .venv (pip, pinned by requirements-dev.lock)…"
    (cd "$REPO" && "$VENV/bin/python" -m pip install --quiet -c requirements-dev.lock -e '.[dev]') ||
        die "pip install -e '.[dev]' failed (output above); fix it and re-run this script"
    printf '%s\n' "$want" >"$STAMP"
fi

say "done — next: .venv/bin/citysense services up"
