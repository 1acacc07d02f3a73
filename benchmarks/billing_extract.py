"""The billing SQL extract, Python encoder against SQLite's own JSON, side by side and byte for byte.

    .venv/bin/python benchmarks/billing_extract.py --db PATH [--tables invoices,payments]
        [--rows N] [--repeat N] [--json-out PATH]

For each table, ``churnlake.ingestion.sql_extract.extract_increment`` reads the first ``--rows``
rows in watermark order (a bounded re-read: ``high`` is the watermark of row N) twice per
repeat, alternating: once with the SQLite fast path switched off (every row converted and
encoded in Python, the path before it) and once with it (each line written by SQLite). Both
outputs go to files under a temporary directory; their SHA-256 must be equal, otherwise the
script exits 1 naming the table. Reported: seconds and rows/s of each path (best of the
repeats), the speed-up, and the output's bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from churnlake.ingestion.sql_extract import BILLING_TABLES, extract_increment


def nth_watermark(engine: sa.Engine, table: str, key: str, n: int) -> tuple[datetime, int] | None:
    """``(updated_at, key)`` of the ``n``-th row in watermark order, None when the table has fewer."""
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            f"SELECT updated_at, {key} FROM {table} ORDER BY updated_at, {key} LIMIT 1 OFFSET ?",
            (n - 1,)).first()
    return None if row is None else (datetime.fromisoformat(row[0]), int(row[1]))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def run_once(engine: sa.Engine, table: str, high, out: Path, fast: bool) -> tuple[float, int, int]:
    """Seconds, rows and bytes of one extract with the fast path on or off."""
    t0 = time.perf_counter()
    res = extract_increment(engine, BILLING_TABLES[table], low=None, high=high, out=out, sqlite_json=fast)
    return time.perf_counter() - t0, res.rows, res.bytes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="SQLite billing database (e.g. a scale instance's sources/billing.db)")
    ap.add_argument("--tables", default="invoices,payments")
    ap.add_argument("--rows", type=int, default=2_000_000, help="rows per table (the first N in watermark order)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    engine = sa.create_engine(f"sqlite:///{args.db}")
    results, status = [], 0
    with tempfile.TemporaryDirectory(prefix="billing-extract-") as tmp:
        for table in args.tables.split(","):
            high = nth_watermark(engine, table, BILLING_TABLES[table].key, args.rows)
            times: dict[str, list[float]] = {"python": [], "sqlite": []}
            digests, rows, size = {}, 0, 0
            for _ in range(args.repeat):
                for label, fast in (("python", False), ("sqlite", True)):
                    out = Path(tmp) / f"{table}-{label}.jsonl"
                    secs, rows, size = run_once(engine, table, high, out, fast)
                    times[label].append(secs)
                    digests[label] = sha256_file(out)
                    out.unlink()
            same = digests["python"] == digests["sqlite"]
            if not same:
                status = 1
            best = {k: min(v) for k, v in times.items()}
            row = {"table": table, "rows": rows, "bytes": size, "identical": same,
                   "python_s": round(best["python"], 2), "sqlite_s": round(best["sqlite"], 2),
                   "python_rows_per_s": round(rows / best["python"]), "sqlite_rows_per_s": round(rows / best["sqlite"]),
                   "speedup": round(best["python"] / best["sqlite"], 2), "all_runs": times}
            results.append(row)
            print(f"{table}: {rows:,} rows, {size:,} bytes; python {best['python']:.1f} s "
                  f"({row['python_rows_per_s']:,} rows/s), sqlite {best['sqlite']:.1f} s "
                  f"({row['sqlite_rows_per_s']:,} rows/s): {row['speedup']}x; "
                  f"{'byte-identical' if same else 'OUTPUTS DIFFER'}", flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
