#!/usr/bin/env bash
# The one way to run a churnlake Spark job.
#
#   ./spark-submit.sh [spark-submit flags...] jobs/<layer>/<job>.py [job args...]
#   ./spark-submit.sh jobs/silver/customers.py --run-date 2026-11-27
#   ./spark-submit.sh --master spark://host:7077 --conf spark.executor.memory=2g jobs/...py --run-date ...
#
# Two modes run the same job file (docs/architecture.md, "Where a job runs"):
# - engine: when the config's engine.remote (CHURNLAKE__ENGINE__REMOTE) names a Spark Connect
#   server, or is `auto` (the default) and this config's engine runs (make engine-start), the
#   job runs as a plain Python client of that server: no driver JVM of its own, seconds
#   instead of half a minute. `--conf spark.sql.*=…` flags become settings of the job's
#   session; other spark-submit flags are ignored with a note (the engine owns the resources).
#   The job runs as a fork of the engine's job launcher (engine.launcher), which has PySpark,
#   pandas, Great Expectations, MLflow and scikit-learn imported already.
# - classic: otherwise, or when --master is given (or CHURNLAKE__ENGINE__REMOTE=classic), the
#   job gets its own driver JVM from the venv's spark-submit, as on a cluster (YARN cluster
#   deploy mode needs this mode).
# Classic mode adds conf/spark-defaults.conf (with the Delta package), the log4j2 config and
# the project's code as a --py-files archive (so the same command works against a cluster
# master), and passes every flag before the job file to spark-submit unchanged (later flags
# win, so --master/--conf given here override the defaults).
# Environment: CHURNLAKE_VENV (default .venv), CHURNLAKE_MASTER (default local[*]),
# CHURNLAKE_IVY_DIR (default ~/.cache/churnlake/ivy, shared by every checkout), SPARK_DRIVER_MEMORY,
# CHURNLAKE_DRIVER_JAVA_OPTS (extra driver JVM flags; the tests use -XX:TieredStopAtLevel=1,
# which cuts the CPU of a short job by ~40 % — not for long local jobs, see docs/benchmarks.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${CHURNLAKE_VENV:-$ROOT/.venv}"

if [[ ! -x "$VENV/bin/spark-submit" ]]; then
  echo "spark-submit.sh: no Spark in $VENV (run 'make setup' first, or set CHURNLAKE_VENV)" >&2
  exit 2
fi
export PATH="$VENV/bin:$PATH"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$VENV/bin/python}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$VENV/bin/python}"
export CHURNLAKE_HOME="${CHURNLAKE_HOME:-$ROOT}"
unset SPARK_HOME  # always the venv's Spark, never a stray one

# Split: spark-submit flags until the first *.py argument, job arguments after it.
flags=()
app=""
extra_java=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    *.py) app="$1"; shift; break ;;
    --driver-java-options) extra_java="$2"; shift 2 ;;
    --driver-java-options=*) extra_java="${1#*=}"; shift ;;
    *) flags+=("$1"); shift ;;
  esac
done
if [[ -z "$app" ]]; then
  echo "usage: ./spark-submit.sh [spark-submit flags] jobs/<layer>/<job>.py [job args]" >&2
  exit 2
fi
[[ "$app" = /* ]] || app="$ROOT/$app"
if [[ ! -f "$app" ]]; then
  echo "spark-submit.sh: job file $app does not exist" >&2
  exit 2
fi

# Engine or classic? An explicit --master always means classic (its own driver on that master).
remote=""
launcher=""
if [[ "${CHURNLAKE__ENGINE__REMOTE:-}" != "classic" ]] && ! printf '%s\n' "${flags[@]+"${flags[@]}"}" | grep -q -- '^--master'; then
  client="$("$VENV/bin/python" -m churnlake.services.engine client)" || exit 2
  remote="$(sed -n 1p <<<"$client")"
  launcher="$(sed -n 2p <<<"$client")"
fi
if [[ -n "$remote" ]]; then
  session_conf="{}"
  ignored=()
  i=0
  while [[ $i -lt ${#flags[@]} ]]; do
    flag="${flags[$i]}"
    case "$flag" in
      --conf) kv="${flags[$((i+1))]:-}"; i=$((i+2)) ;;
      --conf=*) kv="${flag#*=}"; i=$((i+1)) ;;
      --name|--deploy-mode|--driver-memory|--executor-memory|--num-executors|--executor-cores|--total-executor-cores|--queue|--properties-file|--jars|--packages|--files|--py-files)
        ignored+=("$flag"); i=$((i+2)); continue ;;
      *) ignored+=("$flag"); i=$((i+1)); continue ;;
    esac
    case "$kv" in
      spark.sql.*=*|spark.databricks.delta.*=*)
        session_conf="$("$VENV/bin/python" -c 'import json,sys; d=json.loads(sys.argv[1]); k,_,v=sys.argv[2].partition("="); d[k]=v; print(json.dumps(d))' "$session_conf" "$kv")" ;;
      *) ignored+=("--conf $kv") ;;
    esac
  done
  if [[ ${#ignored[@]} -gt 0 ]] && [[ "${ignored[*]}" != --name ]]; then
    echo "spark-submit.sh: running on the engine $remote; ignored (the engine owns resources; pass --master for a job of its own): ${ignored[*]}" >&2
  fi
  export CHURNLAKE_ENGINE_REMOTE="$remote"
  export CHURNLAKE_SESSION_CONF="$session_conf"
  if [[ -n "$launcher" ]]; then
    # A fork of the engine's warm job launcher (its packages already imported); when it does
    # not answer, the client becomes "python $app" itself (churnlake/services/launcher.py).
    exec "$VENV/bin/python" -S "$ROOT/churnlake/services/launcher.py" run "$launcher" "$app" "$@"
  fi
  exec "$VENV/bin/python" "$app" "$@"
fi
unset CHURNLAKE_ENGINE_REMOTE

# The project's code as one archive, rebuilt when any source file is newer.
mkdir -p "$ROOT/build"
archive="$ROOT/build/churnlake.zip"
if [[ ! -f "$archive" ]] || [[ -n "$(find "$ROOT/churnlake" -name '*.py' -newer "$archive" -print -quit)" ]]; then
  tmp="$(mktemp "$ROOT/build/.churnlake.XXXXXX.zip")"
  rm -f "$tmp"
  (cd "$ROOT" && "$VENV/bin/python" - "$tmp" <<'PY'
import sys, zipfile, pathlib
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as zf:
    for path in sorted(pathlib.Path("churnlake").rglob("*.py")):
        zf.write(path)
PY
  )
  mv -f "$tmp" "$archive"
fi

# The driver's Spark UI binds to SPARK_LOCAL_IP, else to every interface (*:4040); like the
# driver address in conf/spark-defaults.conf it stays on loopback unless set otherwise
# (a cluster whose executors must reach this driver sets both).
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"

ivy="${CHURNLAKE_IVY_DIR:-$HOME/.cache/churnlake/ivy}"
log4j="file:$ROOT/conf/log4j2.properties"
mkdir -p "$ROOT/logs" "$ROOT/state"
java_opts="-Dlog4j2.configurationFile=$log4j -Dderby.system.home=$ROOT/state -Dchurnlake.logs=$ROOT/logs ${CHURNLAKE_DRIVER_JAVA_OPTS:-} $extra_java"

exec "$VENV/bin/spark-submit" \
  --master "${CHURNLAKE_MASTER:-local[*]}" \
  --properties-file "$ROOT/conf/spark-defaults.conf" \
  --conf "spark.jars.ivy=$ivy" \
  --conf "spark.executorEnv.PYSPARK_PYTHON=$PYSPARK_PYTHON" \
  --conf "spark.executor.extraJavaOptions=-Dlog4j2.configurationFile=$log4j" \
  --driver-java-options "$java_opts" \
  ${SPARK_DRIVER_MEMORY:+--driver-memory "$SPARK_DRIVER_MEMORY"} \
  --py-files "$archive" \
  "${flags[@]}" \
  "$app" "$@"
