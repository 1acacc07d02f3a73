#!/usr/bin/env bash
# The churnlake engine: one long-running Spark driver serving Spark Connect (the jobs) and
# Thrift JDBC (SQL users: beeline, PyHive, BI tools) over one metastore (docs/services.md).
#
#   ./engine.sh start     # start on 127.0.0.1 (Connect 15002, JDBC 10000), wait until both answer
#   ./engine.sh status    # running or not, and whether each endpoint answers (exit 3 when not running)
#   ./engine.sh stop      # stop it and wait until it has exited
#   ./engine.sh logs      # the end of logs/engine.log
#   ./engine.sh url       # the Spark Connect URL jobs use now (empty: classic mode)
#   ./engine.sh command   # the spark-submit command it is started with
#   ./engine.sh sql -e "SHOW TABLES"   # beeline on the JDBC endpoint (gold; --database D), -f FILE too
#
# Options: --connect-port N --thrift-port N --master spark://host:7077 --memory 8g
# (defaults: the `engine` section of conf/pipeline.yaml; CHURNLAKE__ENGINE__* overrides).
# pid and ports: <state_dir>/engine/, log: <logs_dir>/engine.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${CHURNLAKE_VENV:-$ROOT/.venv}"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "engine.sh: no venv at $VENV (run 'make setup' first, or set CHURNLAKE_VENV)" >&2
  exit 2
fi
case "${1:-}" in
  start|stop|status|logs|url|command|conf|sql) ;;
  *) echo "usage: ./engine.sh start|stop|status|logs|url|command|sql [--connect-port N] [--thrift-port N] [--master M] [--memory 4g]" >&2; exit 2 ;;
esac
export CHURNLAKE_HOME="${CHURNLAKE_HOME:-$ROOT}"
export CHURNLAKE_VENV="$VENV"
cd "$ROOT"
exec "$VENV/bin/python" -m churnlake.services.engine "$@"
