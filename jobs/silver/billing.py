"""Build ``silver.invoices`` or ``silver.payments`` (versioned) from validated billing rows.

    ./spark-submit.sh jobs/silver/billing.py --table invoices --run-date 2026-11-27

Bronze holds every extracted version of a record; silver keeps each distinct version once
with its validity interval (``valid_from``, ``valid_to``, ``is_current``: the latest version
wins as the current state, earlier ones serve point-in-time features; docs/silver.md). A run
recomputes only the versions of the records its new batches touch; ``--full-refresh`` rebuilds.
"""

from __future__ import annotations

import argparse

from churnlake.config import Config
from churnlake.jobrun import JobResult, job_arg_parser, run_job, with_table_arg
from churnlake.silver import add_silver_args, build_silver
from churnlake.spark import get_spark, stop
from churnlake.tables import BILLING_TABLES, SILVER_INVOICES, SILVER_PAYMENTS
from churnlake.transforms.silver import type_invoices, type_payments

JOB = "silver_billing"
TARGETS = {"invoices": (SILVER_INVOICES, type_invoices, "invoice_id"),
           "payments": (SILVER_PAYMENTS, type_payments, "payment_id")}


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Latest typed version of every invoice or payment up to the run date."""
    silver, prepare, key = TARGETS[args.table]
    spark = get_spark(f"{JOB}_{args.table}", cfg)
    try:
        return build_silver(spark, cfg, job=f"{JOB}_{args.table}", run_date=args.run_date,
                            bronze=BILLING_TABLES[args.table], silver=silver,
                            prepare=prepare, key=None, versions=(key, "updated_at"),
                            full_refresh=getattr(args, "full_refresh", False),
                            run_hour=getattr(args, "run_hour", None))
    finally:
        stop(spark)


if __name__ == "__main__":
    run_job(JOB, main, add_silver_args(with_table_arg(job_arg_parser(__doc__.splitlines()[0]), TARGETS,
                                                           "billing table")))
