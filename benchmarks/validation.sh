#!/usr/bin/env bash
# Validation benchmark (run by hand; results go in docs/benchmarks.md, never in tests).
#
#   benchmarks/validation.sh [TABLE...]     # default: all five validated bronze tables
#
# Needs a lakehouse with bronze data (run `make demo` first). Copies the bronze and quality
# folders to a temporary lakehouse, then validates each table once there with /usr/bin/time:
# total wall time and peak RSS of the job, and the time spent inside validation (the run's
# duration_s, i.e. without Spark start-up and shutdown), from quality.validation_runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
RUN_DATE="${RUN_DATE:-$(date -u +%Y-%m-%d)}"
TABLES=("$@")
[ ${#TABLES[@]} -gt 0 ] || TABLES=(crm_customers billing_invoices billing_payments support_tickets web_access_logs)
[ -d "$ROOT/lakehouse/bronze/crm" ] || { echo "no bronze data under $ROOT/lakehouse: run make demo first" >&2; exit 2; }
WORK="$(mktemp -d /tmp/churnlake-valbench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lake"
cp -r "$ROOT/lakehouse/bronze" "$WORK/lake/bronze"   # a fresh quality/ folder: every table validated anew
export CHURNLAKE__LAKEHOUSE__ROOT="$WORK/lake" CHURNLAKE__STATE_DIR="$WORK/state" \
       CHURNLAKE__LOGS_DIR="$WORK/logs" CHURNLAKE__REPORTS_DIR="$WORK/reports"
for table in "${TABLES[@]}"; do
  /usr/bin/time -f "$table: job wall %e s, peak RSS %M KiB" \
    "$ROOT/spark-submit.sh" "$ROOT/jobs/validation/validate_bronze.py" --table "$table" --run-date "$RUN_DATE" 2>&1 \
    | grep -E "FAILED|wall" || true
done
"$PY" - <<PY
from churnlake.config import load_config
from churnlake.spark import local_spark
from churnlake.delta import read_table
from churnlake.tables import QUALITY_RUNS
cfg = load_config()
spark = local_spark("valbench", cfg)
for r in read_table(spark, QUALITY_RUNS, cfg).orderBy("table_name").collect():
    print(f"{r['table_name']}: {r['rows_in']} rows, {r['checks']} checks, inside validation {r['duration_s']} s, status {r['status']}")
spark.stop()
PY
