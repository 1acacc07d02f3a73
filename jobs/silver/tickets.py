"""Build ``silver.tickets`` from validated ticket versions: every distinct version, with validity.

    ./spark-submit.sh jobs/silver/tickets.py --run-date 2026-11-27

``is_current`` marks each ticket's latest version; ``valid_from``/``valid_to`` let gold read
a ticket as it was at any time (docs/silver.md). A run recomputes only the versions of the
tickets its new batches touch; ``--full-refresh`` rebuilds the table.
"""

from __future__ import annotations

import argparse

from churnlake.config import Config
from churnlake.jobrun import JobResult, job_arg_parser, run_job
from churnlake.silver import add_silver_args, build_silver
from churnlake.spark import get_spark, stop
from churnlake.tables import BRONZE_SUPPORT_TICKETS, SILVER_TICKETS
from churnlake.transforms.silver import type_tickets

JOB = "silver_tickets"


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Latest typed version of every ticket up to the run date."""
    spark = get_spark(JOB, cfg)
    try:
        return build_silver(spark, cfg, job=JOB, run_date=args.run_date, bronze=BRONZE_SUPPORT_TICKETS,
                            silver=SILVER_TICKETS, prepare=type_tickets, key=None,
                            versions=("ticket_id", "updated_at"), full_refresh=getattr(args, "full_refresh", False),
                            run_hour=getattr(args, "run_hour", None))
    finally:
        stop(spark)


if __name__ == "__main__":
    run_job(JOB, main, add_silver_args(job_arg_parser(__doc__.splitlines()[0])))
