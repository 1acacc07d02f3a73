"""Build ``silver.customers`` from validated ``bronze.crm_customers`` rows: typed, deduplicated.

    ./spark-submit.sh jobs/silver/customers.py --run-date 2026-11-27

Duplicates are resolved by "latest record wins" (latest ``_ingested_at``, then batch id);
"No internet service" / "No phone service" become "No" (docs/silver.md). The table holds
the current state: a run merges the batches validated since the last build (a customer is
updated when the new record is later, inserted when new); ``--full-refresh`` rebuilds it.
"""

from __future__ import annotations

import argparse

from churnlake.config import Config
from churnlake.jobrun import JobResult, job_arg_parser, run_job
from churnlake.silver import add_silver_args, build_silver
from churnlake.spark import get_spark, stop
from churnlake.tables import BRONZE_CRM_CUSTOMERS, SILVER_CUSTOMERS
from churnlake.transforms.silver import standardise_service_flags, type_crm_customers

JOB = "silver_customers"


def prepare(bronze):
    """Typed, standardised customer rows (build_silver routes rows without an id to the rejects)."""
    return standardise_service_flags(type_crm_customers(bronze))


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Type and deduplicate all validated CRM rows up to the run date."""
    spark = get_spark(JOB, cfg)
    try:
        return build_silver(spark, cfg, job=JOB, run_date=args.run_date, bronze=BRONZE_CRM_CUSTOMERS,
                            silver=SILVER_CUSTOMERS, prepare=prepare, key="customer_id",
                            full_refresh=getattr(args, "full_refresh", False),
                            run_hour=getattr(args, "run_hour", None))
    finally:
        stop(spark)


if __name__ == "__main__":
    run_job(JOB, main, add_silver_args(job_arg_parser(__doc__.splitlines()[0])))
