#!/usr/bin/env bash
# Make Debian's Chromium available for the browser tests (tests/browser/).
#
# Playwright drives the system browser (/usr/bin/chromium); it never downloads
# one of its own. When the browser is missing and we are root with apt-get,
# install Debian's `chromium` and `chromium-driver`; otherwise say why not and
# exit 0, so the browser tests skip with a clear reason (course.py decides
# whether a missing browser is fatal: it is under CI=true).
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "[chromium] found $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n 1))"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[chromium] $CHROMIUM is missing and apt-get is not available: install Chromium yourself; the browser tests will skip"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "[chromium] $CHROMIUM is missing and this is not root: run 'sudo apt-get install -y chromium chromium-driver'; the browser tests will skip"
    exit 0
fi

echo "[chromium] installing Debian's chromium and chromium-driver with apt-get (about 2 minutes)"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq >/dev/null; then
    echo "[chromium] apt-get update failed; the browser tests will skip"
    exit 0
fi
if ! apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; then
    echo "[chromium] apt-get install chromium chromium-driver failed; the browser tests will skip"
    exit 0
fi
if [ -x "$CHROMIUM" ]; then
    echo "[chromium] installed $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n 1))"
else
    echo "[chromium] apt-get finished but $CHROMIUM is still missing; the browser tests will skip"
fi
exit 0
