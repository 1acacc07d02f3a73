"""Build ``silver.customers`` from validated ``bronze.crm_customers`` rows: typed, deduplicated.

    ./spark-submit.sh jobs/silver/customers.py --run-date 2026-11-27

Duplicates are resolved by "latest record wins" (latest ``_ingested_at``, then batch id).
The table holds the current state and is rewritten as a whole; Delta keeps its history.
"""

from __future__ import annotations

import argparse

from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import overwrite_table
from churnlake.jobrun import JobResult, commit_metadata, job_arg_parser, run_job
from churnlake.spark import get_spark
from churnlake.tables import BRONZE_CRM_CUSTOMERS, SILVER_CUSTOMERS
from churnlake.transforms.silver import latest_per_key, type_crm_customers
from churnlake.validation.store import validated_rows

JOB = "silver_customers"


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Type and deduplicate all bronze CRM rows up to the run date."""
    spark = get_spark(JOB, cfg)
    try:
        # Validated batches only, without their quarantined rows (docs/validation.md).
        bronze = validated_rows(spark, BRONZE_CRM_CUSTOMERS, cfg, args.run_date)
        typed = type_crm_customers(bronze).where(F.col("customer_id").isNotNull())
        silver = latest_per_key(typed, "customer_id", ["_ingested_at", "_batch_id"]).cache()
        rows_in, rows_out = bronze.count(), silver.count()
        overwrite_table(silver, SILVER_CUSTOMERS, cfg, metadata=commit_metadata(JOB, args.run_date))
        return JobResult(rows_in=rows_in, rows_out=rows_out,
                         details={"duplicates_removed": rows_in - rows_out})
    finally:
        spark.stop()


if __name__ == "__main__":
    run_job(JOB, main, job_arg_parser(__doc__.splitlines()[0]))
