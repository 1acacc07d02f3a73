"""Export a sample of every lakehouse table as CSV, with its row count and Delta version.

    ./spark-submit.sh jobs/monitoring/export_samples.py --run-date 2026-11-27 --out dist/evidence/samples

Writes ``<out>/<layer>.<table>.csv`` (the first ``--rows`` rows, newest ``_ingest_date`` /
``as_of_date`` / ``run_date`` first when the table has one) and ``<out>/index.csv`` (table,
layer, Delta version, rows in the table, rows in the sample, description). Tables not created
yet are listed in the index with version -1. Used by ``make package`` for the release's
``evidence/`` folder (docs/walkthrough.md); ``--out`` is a local folder on the machine that
runs the command (the samples are collected to it, a few hundred rows in all).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from pyspark.sql import functions as F

from churnlake import tables
from churnlake.config import Config
from churnlake.delta import latest_version, read_table, table_exists
from churnlake.jobrun import JobResult, job_arg_parser, run_job
from churnlake.spark import get_spark, stop

JOB = "monitoring_export_samples"
DATE_COLUMNS = ("_ingest_date", "as_of_date", "run_date", "event_date", "snapshot_date")


def sample_order(columns: list[str]) -> list:
    """Newest first by the table's date column when it has one (else the stored order)."""
    return [F.col(c).desc() for c in DATE_COLUMNS if c in columns][:1]


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spark = get_spark(JOB, cfg)
    index, sampled_rows = [], 0
    try:
        for table in tables.ALL_TABLES:
            if not table_exists(spark, table, cfg):
                index.append([table.name, table.layer, -1, 0, 0, table.description])
                continue
            version = latest_version(spark, table, cfg)
            df = read_table(spark, table, cfg, version=version)
            order = sample_order(df.columns)
            sample = (df.orderBy(*order) if order else df).limit(args.rows).toPandas()
            sample.to_csv(out / f"{table.name}.csv", index=False)
            index.append([table.name, table.layer, version, df.count(), len(sample), table.description])
            sampled_rows += len(sample)
    finally:
        stop(spark)
    with (out / "index.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["table", "layer", "delta_version", "rows", "rows_sampled", "description"])
        writer.writerows(index)
    exported = sum(1 for row in index if row[2] >= 0)
    return JobResult(rows_in=sum(row[3] for row in index), rows_out=sampled_rows,
                     details={"tables": exported, "missing": len(index) - exported, "out": str(out)})


def parser() -> argparse.ArgumentParser:
    p = job_arg_parser(__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="local folder for the CSV files")
    p.add_argument("--rows", type=int, default=25, help="rows per table (default 25)")
    return p


if __name__ == "__main__":
    run_job(JOB, main, parser())
