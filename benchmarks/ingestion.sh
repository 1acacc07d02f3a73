#!/usr/bin/env bash
# Ingestion benchmark (run by hand; results go in docs/benchmarks.md, never in tests).
#
#   benchmarks/ingestion.sh [CUSTOMERS] [DAYS]      # default 20000 customers, 30 days (~2.3M log lines)
#
# Generates demo sources at scale into a temporary folder, then times the access-log and
# billing bronze jobs against a temporary lakehouse with /usr/bin/time (wall time, peak RSS
# of the largest process: the Spark driver JVM).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
CUSTOMERS="${1:-20000}"
DAYS="${2:-30}"
WORK="$(mktemp -d /tmp/churnlake-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

echo "== generate: $CUSTOMERS customers, $DAYS days -> $WORK/demo"
/usr/bin/time -f "generate: wall %e s, peak RSS %M KiB" \
  "$PY" -m churnlake.demo.generate --customers-csv "$ROOT/data/telco_customer_churn.csv" \
    --out "$WORK/demo" --seed 42 --as-of 2026-11-27 --customers "$CUSTOMERS" --days "$DAYS" \
    --broken-lines 10 --log-level WARNING > /dev/null
du -sh "$WORK/demo/access_logs" "$WORK/demo/billing.db"

export CHURNLAKE__LAKEHOUSE__ROOT="$WORK/lake" CHURNLAKE__STATE_DIR="$WORK/state" CHURNLAKE__LOGS_DIR="$WORK/logs"
export CHURNLAKE__SOURCES__WEB_LOGS__INBOX="$WORK/demo/access_logs"
export CHURNLAKE__SOURCES__BILLING__URL="sqlite:///$WORK/demo/billing.db"
for job in "ingest_access_logs.py" "ingest_billing.py --table invoices" "ingest_billing.py --table payments"; do
  echo "== $job"
  # shellcheck disable=SC2086
  /usr/bin/time -f "$job: wall %e s, peak RSS %M KiB" \
    "$ROOT/spark-submit.sh" --driver-memory 4g "$ROOT/jobs/bronze/"$job --run-date 2026-11-27 2>&1 \
    | grep -E "END status|FAILED|wall" || true
done
echo "== ingestion log"
cat "$WORK/logs/ingestion.log"
