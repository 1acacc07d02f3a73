"""Ingest support tickets from the third-party REST API into ``bronze.support_tickets``.

    CHURNLAKE_TICKETS_TOKEN=… ./spark-submit.sh jobs/bronze/ingest_tickets.py --run-date 2026-11-27 [--run-hour 13]

Fetches every ticket version updated after the newest one in bronze, page by page, with
timeouts and retries (exponential backoff with jitter; 429 ``Retry-After`` honoured). Only a
complete fetch is landed and committed; once the retry budget is spent the job fails with
the cause and nothing of the batch is kept. The bearer token comes from the environment
variable named by ``sources.tickets.token_env``.
"""

from __future__ import annotations

import argparse
import json
import logging

from churnlake.config import Config
from churnlake.ingestion.batch import (BatchReport, Interval, bronze_high_watermark, incremental_batch,
                                       interval_arg_parser, reporting, skip_if_committed)
from churnlake.ingestion.http_client import fetch_tickets, token_from_env
from churnlake.jobrun import JobResult, run_job
from churnlake.spark import get_spark, stop
from churnlake.tables import BRONZE_SUPPORT_TICKETS as TABLE

JOB = "bronze_ingest_tickets"
SOURCE, ENTITY = "support", "tickets"
log = logging.getLogger(JOB)


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Fetch tickets newer than the bronze watermark and append them as one batch."""
    interval = Interval(args.run_date, args.run_hour)
    report = BatchReport.for_batch(SOURCE, ENTITY, interval)
    batch = report.batch_id
    with reporting(report, cfg):
        if (done := skip_if_committed(TABLE, cfg, report)) is not None:
            return JobResult(details=done)
        token = token_from_env(cfg.tickets_token_env)
        spark = get_spark(JOB, cfg)
        try:
            low = bronze_high_watermark(spark, TABLE, cfg, "updated_at", "ticket_id")

            def fetch(out):
                res = fetch_tickets(cfg.tickets_base_url, token, after=low, page_size=cfg.tickets_page_size,
                                    timeout=cfg.tickets_timeout_s, max_attempts=cfg.tickets_max_attempts)
                report.attempts = res.attempts
                for record in res.records:
                    out.write((json.dumps(record, sort_keys=True) + "\n").encode())
                log.info("fetched %d tickets in %d pages (%d requests, %d retries) after %s",
                         len(res.records), res.pages, res.attempts, res.retries, low)
                return len(res.records), {"pages": res.pages, "retries": res.retries,
                                          "watermark_low": low, "watermark_high": res.high_watermark}

            try:
                incremental_batch(spark, cfg, table=TABLE, job=JOB, interval=interval, batch=batch,
                                  report=report, fetch=fetch, schema_name="support_tickets")
            except Exception as exc:
                attempts = getattr(exc, "attempts", None)
                if attempts:
                    report.attempts = attempts
                raise
        finally:
            stop(spark)
    return JobResult(rows_in=report.rows_read, rows_out=report.rows_written,
                     details={"batch_id": batch, **report.extra})


if __name__ == "__main__":
    run_job(JOB, main, interval_arg_parser(__doc__.splitlines()[0]))
