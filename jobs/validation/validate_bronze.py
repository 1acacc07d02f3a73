"""Validate the new batches of one bronze table before silver (Great Expectations).

    ./spark-submit.sh jobs/validation/validate_bronze.py --table crm_customers --run-date 2026-11-27
    ./spark-submit.sh jobs/validation/validate_bronze.py --table web_access_logs --run-date 2026-11-28 --run-hour 5

Checks every batch of the table up to the run date that no other run covered, against
``conf/expectations/<table>.yaml``. Rows failing a quarantine check go to
``quality.quarantine_<table>``; results go to ``quality.validation_results`` and
``quality.validation_runs``; the run date's report is rewritten under
``<reports_dir>/quality/<run date>/``. With ``--run-hour`` it is an hourly run of its own
(run id ``<table>-<date>T<hour>``) that covers only the batches no earlier run covered. A failed critical check exits non-zero with a
message naming the table, the check and the count (docs/validation.md).
"""

from __future__ import annotations

import argparse

from churnlake.config import Config
from churnlake.jobrun import JobResult, add_run_hour_arg, job_arg_parser, run_job, with_table_arg
from churnlake.spark import get_spark, stop
from churnlake.tables import VALIDATED_TABLES
from churnlake.validation.validate import JOB, validate_table

TABLES = {t.name.split(".", 1)[1]: t for t in VALIDATED_TABLES}


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Validate one table for the run date."""
    spark = get_spark(f"{JOB}_{args.table}", cfg)
    try:
        out = validate_table(spark, cfg, TABLES[args.table], args.run_date, args.run_hour)
    finally:
        stop(spark)
    return JobResult(rows_in=out.rows_in, rows_out=out.rows_passed,
                     details={"status": out.status, "batches": len(out.batch_ids),
                              "quarantined": out.rows_quarantined, "report": out.report_dir,
                              "failed_checks": [r.check.id for r in out.results if r.failed],
                              "seconds": out.seconds})


if __name__ == "__main__":
    parser = with_table_arg(job_arg_parser(__doc__.splitlines()[0]), TABLES, "bronze table to validate")
    parser = add_run_hour_arg(parser, "an hourly run: only the batches no earlier run covered; omit for the daily run")
    run_job(JOB, main, parser)
