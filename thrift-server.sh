#!/usr/bin/env bash
# The Spark Thrift JDBC/ODBC server over the churnlake metastore (gold tables by name).
#
#   ./thrift-server.sh start     # start on 127.0.0.1:${CHURNLAKE_THRIFT_PORT:-10000}, wait until it listens
#   ./thrift-server.sh status    # running or not (exit 3 when not)
#   ./thrift-server.sh stop      # stop it and wait until it has exited
#   ./thrift-server.sh conf      # the --conf values it is started with
#
# It runs the venv's `spark-submit --class org.apache.spark.sql.hive.thriftserver.HiveThriftServer2`
# with conf/spark-defaults.conf (Delta) and the metastore/lakehouse of conf/pipeline.yaml
# (CHURNLAKE__... overrides apply). pid file: <state_dir>/thrift/, log: <logs_dir>/thrift-server.log.
# With the default embedded Derby metastore, stop the server before running the gold job;
# see docs/serving_sql.md for the shared (Derby network server) metastore.
# Environment: CHURNLAKE_THRIFT_PORT, CHURNLAKE_VENV (default .venv), CHURNLAKE_MASTER
# (default spark.local_master of the config), SPARK_DRIVER_MEMORY (default 1g).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${CHURNLAKE_VENV:-$ROOT/.venv}"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "thrift-server.sh: no venv at $VENV (run 'make setup' first, or set CHURNLAKE_VENV)" >&2
  exit 2
fi
case "${1:-}" in
  start|stop|status|conf|command) ;;
  *) echo "usage: ./thrift-server.sh start|stop|status|conf [--port N]" >&2; exit 2 ;;
esac
export CHURNLAKE_HOME="${CHURNLAKE_HOME:-$ROOT}"
export CHURNLAKE_VENV="$VENV"
cd "$ROOT"
exec "$VENV/bin/python" -m churnlake.serving.thrift "$@"
