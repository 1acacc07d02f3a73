"""Build ``silver.web_events`` from validated access-log lines, without personal data.

    ./spark-submit.sh jobs/silver/web_events.py --run-date 2026-11-27

Client IPs become keyed SHA-256 pseudonyms (key: ``privacy.pseudonym_key_env``); the raw
line, IP and referer are not carried into silver; exact duplicate events are removed. A run
inserts only the new batches' events not in silver yet (MERGE scoped to their event dates);
``--full-refresh`` rebuilds the table.
"""

from __future__ import annotations

import argparse

from churnlake.config import Config
from churnlake.jobrun import JobResult, job_arg_parser, run_job
from churnlake.silver import add_silver_args, build_silver, pseudonym_key
from churnlake.spark import get_spark, stop
from churnlake.tables import BRONZE_WEB_ACCESS_LOGS, SILVER_WEB_EVENTS
from churnlake.transforms.silver import WEB_EVENT_COLUMNS, web_events

JOB = "silver_web_events"


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Pseudonymised, deduplicated events up to the run date."""
    key = pseudonym_key(cfg)
    spark = get_spark(JOB, cfg)
    try:
        return build_silver(spark, cfg, job=JOB, run_date=args.run_date, bronze=BRONZE_WEB_ACCESS_LOGS,
                            silver=SILVER_WEB_EVENTS, prepare=lambda df: web_events(df, key), key=None,
                            distinct_on=WEB_EVENT_COLUMNS, full_refresh=getattr(args, "full_refresh", False),
                            run_hour=getattr(args, "run_hour", None))
    finally:
        stop(spark)


if __name__ == "__main__":
    run_job(JOB, main, add_silver_args(job_arg_parser(__doc__.splitlines()[0])))
