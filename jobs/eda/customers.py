"""Exploratory data analysis of ``silver.customers``: plots, tables and one HTML page.

    ./spark-submit.sh jobs/eda/customers.py --run-date 2026-11-27

Reads the table's newest Delta version (recorded in the report), collects it to the driver
with ``toPandas`` (one row per customer) and writes the report to the driver-local folder
``<reports_dir>/eda/<run-date>/`` (``index.html``, PNGs, CSVs; see docs/eda.md). A rerun
for the same date replaces that folder as a whole.
"""

from __future__ import annotations

import argparse

from churnlake.config import Config
from churnlake.eda.load import load_table
from churnlake.eda.report import INDEX, report_dir, write_report
from churnlake.eda.stats import churn_rate
from churnlake.jobrun import JobResult, job_arg_parser, run_job
from churnlake.spark import get_spark, stop
from churnlake.tables import SILVER_CUSTOMERS

JOB = "eda_customers"


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Collect the newest silver customers and write the EDA report for the run date."""
    spark = get_spark(JOB, cfg)
    try:
        customers, version = load_table(spark, SILVER_CUSTOMERS, cfg)
        out_dir = report_dir(cfg, args.run_date)
        files = write_report(customers, out_dir, source=SILVER_CUSTOMERS.name, delta_version=version,
                             location=SILVER_CUSTOMERS.uri(cfg), run_date=args.run_date)
        return JobResult(rows_in=len(customers), rows_out=0,
                         details={"delta_version": version, "report": str(out_dir / INDEX),
                                  "files": len(files), "churn_rate": round(churn_rate(customers), 4)})
    finally:
        stop(spark)


if __name__ == "__main__":
    run_job(JOB, main, job_arg_parser(__doc__.splitlines()[0]))
