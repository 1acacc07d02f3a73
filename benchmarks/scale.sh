#!/usr/bin/env bash
# Scale benchmark (run by hand; results go in docs/benchmarks.md, never in tests).
#
#   benchmarks/scale.sh S|M|L [--classic] [--driver-memory 8g] [--skip-hourly] [--root DIR]
#
# Generates the preset's source systems (python -m churnlake.demo.scale, reused while they
# match), runs the whole pipeline through its own engine on free ports, then one hourly run,
# and prints per-stage wall time, rows, rows/s, peak RSS and bytes per layer (benchmarks/scale.py).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
make -C "$ROOT" --no-print-directory setup >/dev/null
exec "$ROOT/.venv/bin/python" "$ROOT/benchmarks/scale.py" "$@"
