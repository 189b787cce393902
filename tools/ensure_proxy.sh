#!/usr/bin/env bash
# Make JupyterHub's proxy, configurable-http-proxy, available for the real-hub test (tests/browser/test_hub_class.py).
#
# JupyterHub (a Python package, in the test extra) routes every request through
# configurable-http-proxy, a Node.js program published on the npm registry. It is
# installed with npm into .venv/proxy/ beside the course's environment (nothing
# global, nothing under git), where the test looks for it.
# Without npm (and not root with apt-get to install Debian's), say why and exit 0:
# the hub test then skips with the reason, or fails under CI=true.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$ROOT/.venv/proxy"
PROXY="$PREFIX/node_modules/.bin/configurable-http-proxy"
# JupyterHub drives it through its command line and REST API; 5.3.0 is the version tested here. A lower bound only.
PACKAGE="configurable-http-proxy@>=4.6"

if [ -x "$PROXY" ]; then
    echo "[proxy] found $PROXY ($("$PROXY" --version 2>/dev/null | head -n 1))"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    # As root with apt-get (containers, CI), Debian's own Node.js and npm, as tools/ensure_chromium.sh does.
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "[proxy] installing Debian's nodejs and npm with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "[proxy] npm is missing: install Node.js (Debian: apt-get install -y nodejs npm); the hub test will skip"
    exit 0
fi
echo "[proxy] installing $PACKAGE into $PREFIX with npm (about a minute)"
mkdir -p "$PREFIX"
if ! npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "$PACKAGE" >/dev/null; then
    echo "[proxy] npm install $PACKAGE failed; the hub test will skip"
    exit 0
fi
if [ -x "$PROXY" ]; then
    echo "[proxy] installed $PROXY ($("$PROXY" --version 2>/dev/null | head -n 1))"
else
    echo "[proxy] npm finished but $PROXY is still missing; the hub test will skip"
fi
exit 0
