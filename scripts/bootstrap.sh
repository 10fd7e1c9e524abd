#!/usr/bin/env bash
# Creates the virtualenv and installs firebox with its dev tools, from nothing on Debian 12.
set -euo pipefail
venv="${1:-.venv}"

apt_install() {
    # Installs Debian packages when root and they are missing; otherwise says what to install.
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "bootstrap: installing Debian packages: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "bootstrap: please install these Debian packages: ${missing[*]}" >&2
    fi
}

python="${PYTHON:-}"
if [ -z "$python" ]; then
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null; then python="$candidate"; break; fi
    done
fi
[ -n "$python" ] || { apt_install python3 python3-venv; python=python3; }

# Debian's python3 ships venv and ensurepip separately.
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv python3-pip
fi
# python3.11 from Debian is also a runtime interpreter functions can use (python3.11 runtime).
if command -v apt-get >/dev/null && [ ! -x /usr/bin/python3.11 ]; then apt_install python3.11; fi

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e '.[dev]'
echo "bootstrap: ready ($("$venv/bin/python" --version))"
