#!/usr/bin/env bash
# Make sure a headless-capable Chromium is installed, from the Debian package "chromium"
# (plus "fonts-liberation", so pages asking for Arial/Helvetica get metric-compatible
# fonts).  A fast no-op when a chromium binary is already there.
#
# churnlake drives the browser directly (`chromium --headless=new --screenshot/--dump-dom`,
# churnlake.monitoring.browser): no chromedriver, no extra Python package.
# $CHURNLAKE_CHROMIUM names another binary (then nothing is installed).
#
# Usage: bash scripts/ensure-chromium.sh        (as root, or with sudo available)
set -euo pipefail

have_chromium() {
    if [ -n "${CHURNLAKE_CHROMIUM:-}" ]; then
        [ -x "$CHURNLAKE_CHROMIUM" ] || command -v "$CHURNLAKE_CHROMIUM" >/dev/null 2>&1
    else
        command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
    fi
}

if have_chromium; then
    exit 0
fi
if [ -n "${CHURNLAKE_CHROMIUM:-}" ]; then
    echo "ensure-chromium: CHURNLAKE_CHROMIUM=$CHURNLAKE_CHROMIUM is not an executable; unset it to install Debian's chromium" >&2
    exit 1
fi

. "$(dirname "${BASH_SOURCE[0]}")/apt-lib.sh"
apt_prepare ensure-chromium "chromium fonts-liberation" "install Chromium and/or set CHURNLAKE_CHROMIUM to its binary"
echo "ensure-chromium: installing the Debian 'chromium' package..." >&2
start=$(date +%s)
apt_install chromium fonts-liberation

if ! have_chromium; then
    echo "ensure-chromium: 'apt-get install chromium' finished but no chromium binary is on PATH" >&2
    exit 1
fi
echo "ensure-chromium: installed $(chromium --version 2>/dev/null || echo chromium) in $(( $(date +%s) - start ))s" >&2
