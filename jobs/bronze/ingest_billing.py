"""Ingest one billing-database table incrementally into ``bronze.billing_<table>``.

    ./spark-submit.sh jobs/bronze/ingest_billing.py --run-date 2026-11-27 --table invoices [--run-hour 13]

Rows are read through SQLAlchemy (SQLite by default, PostgreSQL supported) by the
watermark ``(updated_at, <key>)``: only rows newer than the newest row already in bronze.
The extract is streamed into the landing zone as JSON Lines, then appended to bronze in one commit; a committed
batch is never rewritten, and a batch that failed left nothing behind.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path

import sqlalchemy as sa

from churnlake.config import Config
from churnlake.ingestion.batch import (BatchReport, Interval, bronze_high_watermark, incremental_batch,
                                       interval_arg_parser, reporting, skip_if_committed)
from churnlake.ingestion.sql_extract import BILLING_TABLES, extract_increment
from churnlake.jobrun import JobResult, run_job, with_table_arg
from churnlake.spark import get_spark, stop
from churnlake.tables import BILLING_TABLES as BRONZE_TABLES

JOB = "bronze_ingest_billing"
SOURCE = "billing"
log = logging.getLogger(JOB)


def connect(url: str) -> sa.Engine:
    """An engine for the billing database; a missing SQLite file is an error, not a new database."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        if not Path(parsed.database).is_file():
            raise FileNotFoundError(f"billing database {parsed.database} does not exist (sources.billing.url)")
    return sa.create_engine(url)


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Extract rows newer than the bronze watermark and append them as one batch."""
    if args.table not in cfg.billing_tables:
        raise ValueError(f"billing table {args.table!r} is not configured (sources.billing.tables)")
    source, table = BILLING_TABLES[args.table], BRONZE_TABLES[args.table]
    interval = Interval(args.run_date, args.run_hour)
    report = BatchReport.for_batch(SOURCE, args.table, interval)
    batch = report.batch_id
    with reporting(report, cfg):
        if (done := skip_if_committed(table, cfg, report)) is not None:
            return JobResult(details=done)
        engine = connect(cfg.billing_url)
        spark = get_spark(JOB, cfg)
        try:
            low_raw = bronze_high_watermark(spark, table, cfg, source.updated_col, source.key)
            low = None if low_raw is None else (dt.datetime.fromisoformat(low_raw[0]), int(low_raw[1]))

            def fetch(out):
                try:
                    res = extract_increment(engine, source, low=low, batch_rows=cfg.billing_fetch_rows, out=out)
                finally:
                    engine.dispose()
                high = None if res.high_watermark is None else [res.high_watermark[0].isoformat(),
                                                                res.high_watermark[1]]
                log.info("extracted %d rows of %s after %s (high watermark %s)", res.rows, args.table, low, high)
                return res.rows, {"watermark_low": low_raw, "watermark_high": high}

            incremental_batch(spark, cfg, table=table, job=JOB, interval=interval, batch=batch,
                              report=report, fetch=fetch, schema_name=f"billing_{args.table}",
                              extra_meta={"table": args.table})
        finally:
            stop(spark)
    return JobResult(rows_in=report.rows_read, rows_out=report.rows_written,
                     details={"batch_id": batch, **report.extra})


if __name__ == "__main__":
    run_job(JOB, main, with_table_arg(interval_arg_parser(__doc__.splitlines()[0]), BILLING_TABLES,
                                      "billing table to ingest"))
