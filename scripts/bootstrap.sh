#!/usr/bin/env bash
# Creates the virtualenv and installs firebox with its dev tools, from nothing on Debian 12.
# With --bench first, only adds what the benchmarks need beside that (make bench).
set -euo pipefail
bench=0
if [ "${1:-}" = "--bench" ]; then bench=1; shift; fi
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

if [ "$bench" = 1 ]; then
    # The HTTP benchmark's load generator.
    command -v wrk >/dev/null || apt_install wrk
    # The baseline peer of the AWS-compatible services' benchmarks: moto's server.
    "$venv/bin/python" -m pip install -q "moto[server]>=5,<6"
    exit 0
fi

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
# Debian's python3.11 is an interpreter functions can run on (the python3.11 runtime, and the
# provided-runtime tests); zip packages functions in the README's tour.
if command -v apt-get >/dev/null; then
    [ -x /usr/bin/python3.11 ] || apt_install python3.11
    command -v zip >/dev/null || apt_install zip
    # Outbound network for isolated environments: a bridge with NAT (ip, nft), or where that
    # cannot be set up, slirp4netns (user-mode TCP/IP, host loopback excluded).
    command -v ip >/dev/null || apt_install iproute2
    command -v nft >/dev/null || apt_install nftables
    command -v slirp4netns >/dev/null || apt_install slirp4netns
    # Builds firebox-reaper, the few-KB program idle environments wait in (sandboxes/reaper.c).
    apt_install gcc libc6-dev
    # A second SDK for the tests: the AWS SDK for JavaScript v3, run with Node.
    command -v node >/dev/null || apt_install nodejs
    command -v npm >/dev/null || apt_install npm
fi

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e '.[dev]'
# What functions in the tests vendor into their zips, installed here as users would
# (pip --target), so that no test downloads anything.
for set in "awslambdaric" "fastapi mangum" "flask apig-wsgi" "aws-lambda-powertools" "pillow" "requests"; do
    dir="$venv/vendor/${set// /+}"
    if [ ! -f "$dir/.complete" ]; then
        rm -rf "$dir"
        "$venv/bin/python" -m pip install -q --target "$dir" $set
        touch "$dir/.complete"
    fi
done
# Wheels of the examples' requirements.txt files: `firebox deploy` installs them with pip
# into the packages; the tests point pip here (PIP_FIND_LINKS) and at no index.
wheelhouse="$venv/wheelhouse"
wanted=$(cat examples/thumbnails/requirements.txt examples/http-api/requirements.txt)
if [ "$(cat "$wheelhouse/.complete" 2>/dev/null)" != "$wanted" ]; then
    rm -rf "$wheelhouse"
    "$venv/bin/python" -m pip download -q --only-binary=:all: -d "$wheelhouse" \
        -r examples/thumbnails/requirements.txt -r examples/http-api/requirements.txt
    printf '%s' "$wanted" > "$wheelhouse/.complete"
fi
# The JavaScript SDK at the versions tests/sdk-js/package-lock.json pins, and what the Node.js
# web-app tests vendor (tests/node-apps).
for tests_js in "$(dirname "$0")/../tests/sdk-js" "$(dirname "$0")/../tests/node-apps"; do
    if command -v npm >/dev/null && ! cmp -s "$tests_js/package-lock.json" "$tests_js/node_modules/.package-lock.json.installed" 2>/dev/null; then
        (cd "$tests_js" && npm ci --no-audit --no-fund --silent && cp package-lock.json node_modules/.package-lock.json.installed)
    fi
done
# Node.js binaries for the nodejs20.x/22.x/24.x runtimes where the host has no node of that
# major (the host's own wins; runtimes/node.py): the versions scripts/node/package-lock.json pins.
# And the AWS SDK for JavaScript v3 that Node.js functions find bundled (node-sdk), as pinned.
for set in node node-sdk; do
    dir="$venv/$set"
    lock="$(dirname "$0")/$set/package-lock.json"
    if command -v npm >/dev/null && ! cmp -s "$lock" "$dir/.package-lock.json.installed" 2>/dev/null; then
        mkdir -p "$dir"
        cp "$(dirname "$0")/$set/package.json" "$lock" "$dir/"
        # Not fatal: without them (another architecture, no registry) the nodejs*.x runtimes
        # the host's node does not cover are refused at CreateFunction, saying so.
        (cd "$dir" && npm ci --no-audit --no-fund --silent && cp package-lock.json .package-lock.json.installed) \
            || echo "bootstrap: warning: npm could not install $set; Node.js runtimes are limited to the host's node" >&2
    fi
done
# The Serverless Framework v3: the tests' oracle of serverless.yml's variables (`serverless
# print`), at the version scripts/serverless/package-lock.json pins. Its install scripts only
# print messages: skipped.
dir="$venv/serverless"
lock="$(dirname "$0")/serverless/package-lock.json"
if command -v npm >/dev/null && ! cmp -s "$lock" "$dir/.package-lock.json.installed" 2>/dev/null; then
    mkdir -p "$dir"
    cp "$(dirname "$0")/serverless/package.json" "$lock" "$dir/"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --silent && cp package-lock.json .package-lock.json.installed) \
        || echo "bootstrap: warning: npm could not install the Serverless Framework (tests/system/test_deploy_config.py needs it)" >&2
fi
echo "bootstrap: ready ($("$venv/bin/python" --version))"
