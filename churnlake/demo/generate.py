"""Generate the churnlake demo source systems from the IBM Telco churn CSV.

Usage::

    python -m churnlake.demo.generate --customers-csv data/telco_customer_churn.csv \\
        --out build/demo --seed 42 --as-of 2026-11-27 [--customers N] [--days D] \\
        [--db-url URL] [--broken-lines K] [--batch-size B]

    # later: advance the billing database (incremental-read demo)
    python -m churnlake.demo.generate --customers-csv data/telco_customer_churn.csv \\
        --out build/demo --seed 42 --as-of 2026-12-27 --append-billing

Writes into ``--out``:

* ``customers.csv``: the effective population (Telco columns; synthetic
  ``SYN-nnnnnn`` customers when ``--customers`` exceeds the CSV);
* ``billing.db``: SQLite billing database (or the ``--db-url`` database),
  tables ``invoices`` and ``payments`` (:mod:`churnlake.demo.billing`);
* ``tickets.jsonl``: the support-ticket history served by
  :mod:`churnlake.demo.ticket_api`;
* ``access_logs/access-YYYY-MM-DD-HH.log``: hourly Apache combined logs
  (:mod:`churnlake.demo.access_logs`);
* ``manifest.json``: parameters and row/line counts.

Same inputs give byte-identical outputs: every random draw comes from a
``random.Random`` keyed by the seed, the artefact and the customer id, and no
wall-clock time is used.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any, Sequence

import sqlalchemy as sa

from churnlake.demo import GENERATOR_VERSION
from churnlake.demo._common import parse_as_of
from churnlake.demo.access_logs import LOG_DIR_NAME, generate_access_logs, log_window
from churnlake.demo.billing import (DEFAULT_BATCH_SIZE, BillingCounts, append_new_billing,
                                    default_sqlite_url, generate_billing, invoices, payments)
from churnlake.demo.customers import (Customer, build_population, load_telco_csv,
                                      write_customers_csv)
from churnlake.demo.tickets import generate_tickets, write_tickets_jsonl

logger = logging.getLogger(__name__)

__all__ = ["generate_all", "append_billing", "append_new_billing", "load_population", "main"]

MANIFEST_NAME = "manifest.json"
CUSTOMERS_NAME = "customers.csv"
TICKETS_NAME = "tickets.jsonl"
BILLING_DB_NAME = "billing.db"
DEFAULT_DAYS = 14


def load_population(customers_csv: str | Path, n_customers: int | None, seed: int) -> list[Customer]:
    """Load the Telco CSV and build the (possibly resampled) population."""
    return build_population(load_telco_csv(customers_csv), n_customers, seed)


def _db_location(db_url: str | None) -> str:
    """Manifest-safe description of the database: relative file name or password-less URL."""
    if db_url is None:
        return BILLING_DB_NAME
    return sa.engine.make_url(db_url).render_as_string(hide_password=True)


def _validate(seed: int, n_customers: int | None, days: int, broken_lines: int,
              batch_size: int) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if n_customers is not None and n_customers < 1:
        raise ValueError(f"customers must be >= 1, got {n_customers}")
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    if broken_lines < 0:
        raise ValueError(f"broken_lines must be >= 0, got {broken_lines}")
    if broken_lines > 0 and days == 0:
        raise ValueError("broken_lines needs days >= 1 (there are no log files with days=0)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def generate_all(customers_csv: str | Path, out_dir: str | Path, seed: int, as_of: date,
                 n_customers: int | None = None, days: int = DEFAULT_DAYS,
                 db_url: str | None = None, broken_lines: int = 0,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, Any]:
    """Generate every demo artefact into ``out_dir`` and return the manifest dict.

    ``db_url`` None means a fresh SQLite file ``<out_dir>/billing.db``; any other
    URL has its billing tables dropped and recreated.
    """
    _validate(seed, n_customers, days, broken_lines, batch_size)
    table = load_telco_csv(customers_csv)
    customers = build_population(table, n_customers, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_customers_csv(out / CUSTOMERS_NAME, table, customers)

    if db_url is None:
        db_file = out / BILLING_DB_NAME
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(str(db_file) + suffix).unlink(missing_ok=True)
        url = default_sqlite_url(out)
    else:
        url = db_url
    engine = sa.create_engine(url)
    try:
        billing = generate_billing(engine, customers, as_of, seed, batch_size)
    finally:
        engine.dispose()

    tickets = generate_tickets(customers, as_of, seed)
    write_tickets_jsonl(out / TICKETS_NAME, tickets)
    ticket_status = Counter(t["status"] for t in tickets)

    logs = generate_access_logs(customers, out, as_of, days, seed, broken_lines)
    start, end = log_window(as_of, days)

    manifest: dict[str, Any] = {
        "generator": "churnlake.demo.generate",
        "generator_version": GENERATOR_VERSION,
        "parameters": {
            "seed": seed,
            "as_of": as_of.isoformat(),
            "customers": len(customers),
            "days": days,
            "broken_lines": broken_lines,
            "customers_csv": {"name": table.name, "sha256": table.sha256, "rows": len(table.rows)},
        },
        "artefacts": {
            "customers": {
                "path": CUSTOMERS_NAME,
                "rows": len(customers),
                "churners": sum(c.churn for c in customers),
                "synthetic": max(0, len(customers) - len(table.rows)),
            },
            "billing_db": {
                "location": _db_location(db_url),
                "tables": {"invoices": billing.invoices, "payments": billing.payments},
                "payments_by_status": billing.payments_by_status,
            },
            "tickets": {
                "path": TICKETS_NAME,
                "records": len(tickets),
                "by_status": {s: ticket_status[s] for s in sorted(ticket_status)},
            },
            "access_logs": {
                "path": LOG_DIR_NAME,
                "file_pattern": "access-YYYY-MM-DD-HH.log",
                "window_start": start.isoformat() + "Z",
                "window_end": end.isoformat() + "Z",
                **logs.as_dict(),
            },
        },
    }
    _write_manifest(out, manifest)
    return manifest


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    with open(out / MANIFEST_NAME, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")


def append_billing(customers_csv: str | Path, out_dir: str | Path, seed: int, as_of: date,
                   n_customers: int | None = None, db_url: str | None = None,
                   batch_size: int = DEFAULT_BATCH_SIZE) -> BillingCounts:
    """CLI helper around :func:`append_new_billing`; records the append in ``manifest.json``."""
    _validate(seed, n_customers, 0, 0, batch_size)
    out = Path(out_dir)
    if db_url is None and not (out / BILLING_DB_NAME).is_file():
        raise ValueError(f"no billing database at {out / BILLING_DB_NAME}: generate first")
    customers = load_population(customers_csv, n_customers, seed)
    engine = sa.create_engine(db_url or default_sqlite_url(out))
    try:
        counts = append_new_billing(engine, customers, as_of, seed, batch_size)
        with engine.connect() as conn:
            totals = {
                "invoices": conn.execute(sa.select(sa.func.count()).select_from(invoices)).scalar(),
                "payments": conn.execute(sa.select(sa.func.count()).select_from(payments)).scalar(),
            }
    finally:
        engine.dispose()
    manifest_path = out / MANIFEST_NAME
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest.setdefault("billing_appends", []).append({"as_of": as_of.isoformat(),
                                                          **counts.as_dict()})
        manifest["artefacts"]["billing_db"]["tables"] = totals
        _write_manifest(out, manifest)
    return counts


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m churnlake.demo.generate",
        description="Generate the churnlake demo sources (billing DB, tickets, access logs).")
    p.add_argument("--customers-csv", required=True, help="IBM Telco churn CSV")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--as-of", required=True, help="as-of date YYYY-MM-DD (end of the data, UTC)")
    p.add_argument("--customers", type=int, default=None,
                   help="population size (default: all CSV rows; more -> synthetic SYN-nnnnnn)")
    p.add_argument("--days", type=int, default=DEFAULT_DAYS,
                   help=f"days of hourly access logs ending at --as-of (default {DEFAULT_DAYS})")
    p.add_argument("--db-url", default=None,
                   help="SQLAlchemy URL of the billing DB (default sqlite:///<out>/billing.db)")
    p.add_argument("--broken-lines", type=int, default=0,
                   help="number of deliberately unparsable access-log lines (default 0)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help=f"rows per executemany batch (default {DEFAULT_BATCH_SIZE})")
    p.add_argument("--append-billing", action="store_true",
                   help="only advance the existing billing DB to --as-of (new months, payments)")
    p.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; prints a JSON summary on stdout. Returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        as_of = parse_as_of(args.as_of)
        if args.append_billing:
            counts = append_billing(args.customers_csv, args.out, args.seed, as_of,
                                    args.customers, args.db_url, args.batch_size)
            print(json.dumps({"append_billing": {"as_of": as_of.isoformat(),
                                                 **counts.as_dict()}}, indent=2))
            return 0
        manifest = generate_all(args.customers_csv, args.out, args.seed, as_of,
                                args.customers, args.days, args.db_url, args.broken_lines,
                                args.batch_size)
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(manifest["artefacts"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
