#!/usr/bin/env bash
# Make sure the PostgreSQL server binaries (initdb, pg_ctl, postgres) are installed, from the
# Debian package "postgresql".  A fast no-op when they are already there.
#
# churnlake never uses the distribution's own cluster/service: tests and the demo start a
# private server with churnlake.services.postgres.LocalPostgres (127.0.0.1, free port).
# So while installing, services are kept from starting (policy-rc.d), and no default
# cluster is created.
#
# Usage: bash scripts/ensure-postgres.sh        (as root, or with sudo available)
set -euo pipefail

have_initdb() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1
}

if have_initdb; then
    exit 0
fi

. "$(dirname "${BASH_SOURCE[0]}")/apt-lib.sh"
apt_prepare ensure-postgres postgresql "install the PostgreSQL server (initdb, pg_ctl) and/or set CHURNLAKE_PG_BINDIR"

echo "ensure-postgres: installing the Debian 'postgresql' package..." >&2
start=$(date +%s)

# Keep the package's service from starting, and skip its default cluster.
policy=/usr/sbin/policy-rc.d
added_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    added_policy=1
fi
cleanup() { if [ -n "$added_policy" ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT
$SUDO mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/churnlake-no-main-cluster.conf >/dev/null

apt_install postgresql

if ! have_initdb; then
    echo "ensure-postgres: 'apt-get install postgresql' finished but no initdb was found under /usr/lib/postgresql/*/bin" >&2
    exit 1
fi
echo "ensure-postgres: installed $(ls -d /usr/lib/postgresql/*/bin | tail -1) in $(( $(date +%s) - start ))s" >&2
