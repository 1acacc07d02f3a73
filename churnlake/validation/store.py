"""Validation records in Delta, and the one way silver reads validated bronze rows.

``quality.validation_runs``: one row per (table, run date) — the batches it covered, rows
in/passed/quarantined/blocked, status (passed, warned, stopped) and a small profile (null
shares) that later runs use as history. ``quality.validation_results``: one row per check.
``quality.quarantine_<table>``: the failing rows with their reasons.
"""

from __future__ import annotations

import datetime as dt
import re

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from churnlake.config import Config
from churnlake.delta import read_table, table_exists
from churnlake.tables import QUALITY_RUNS, Table, quarantine_table
from churnlake.validation.runner import CheckResult

RESULTS_SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("run_date", T.DateType(), False),
    T.StructField("table_name", T.StringType(), False),
    T.StructField("check_id", T.StringType(), False),
    T.StructField("expectation", T.StringType(), False),
    T.StructField("column_name", T.StringType(), True),
    T.StructField("severity", T.StringType(), False),
    T.StructField("success", T.BooleanType(), False),
    T.StructField("element_count", T.LongType(), True),
    T.StructField("unexpected_count", T.LongType(), True),
    T.StructField("unexpected_percent", T.DoubleType(), True),
    T.StructField("sample_values", T.ArrayType(T.StringType()), True),
    T.StructField("observed_value", T.StringType(), True),
    T.StructField("resolution", T.StringType(), False),
    T.StructField("description", T.StringType(), True),
    T.StructField("error", T.StringType(), True),
    T.StructField("validated_at", T.TimestampType(), False),
])
RUNS_SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("run_date", T.DateType(), False),
    T.StructField("table_name", T.StringType(), False),
    T.StructField("batch_ids", T.ArrayType(T.StringType()), False),
    T.StructField("status", T.StringType(), False),
    T.StructField("rows_in", T.LongType(), False),
    T.StructField("rows_passed", T.LongType(), False),
    T.StructField("rows_quarantined", T.LongType(), False),
    T.StructField("rows_blocked", T.LongType(), False),
    T.StructField("checks", T.IntegerType(), False),
    T.StructField("checks_failed", T.IntegerType(), False),
    T.StructField("null_shares", T.MapType(T.StringType(), T.DoubleType()), True),
    T.StructField("suite", T.StringType(), True),
    T.StructField("duration_s", T.DoubleType(), True),
    T.StructField("validated_at", T.TimestampType(), False),
])
PASSING = ("passed", "warned")


def run_id_for(table: Table, run_date: dt.date, run_hour: int | None = None) -> str:
    """A validation run is identified by its table and run date, plus the hour of an hourly run
    (``crm_customers-2026-11-27``, ``web_access_logs-2026-11-28T05``); a rerun replaces it."""
    base = f"{table.name.split('.', 1)[1]}-{run_date.isoformat()}"
    return base if run_hour is None else f"{base}T{int(run_hour):02d}"


HOURLY_RUN_ID = "T[0-9]{2}$"


def is_hourly(run_id: str) -> bool:
    """True for the run id of an hourly validation run."""
    return bool(re.search(HOURLY_RUN_ID, run_id))


def result_rows(run_id: str, run_date: dt.date, table: Table, results: list[CheckResult],
                validated_at: dt.datetime) -> list[tuple]:
    """The ``quality.validation_results`` rows of one run."""
    return [(run_id, run_date, table.name, r.check.id, r.check.expect, r.check.column or None,
             r.check.severity, bool(r.success),
             None if r.element_count is None else int(r.element_count),
             None if r.unexpected_count is None else int(r.unexpected_count),
             r.unexpected_percent, r.sample_values, r.observed_value, r.resolution_applied,
             r.check.description or None, r.error, validated_at) for r in results]


def earlier_runs(spark: SparkSession, table: Table, cfg: Config, run_id: str) -> DataFrame | None:
    """Runs of ``table`` other than ``run_id`` (None before the first run)."""
    if not table_exists(spark, QUALITY_RUNS, cfg):
        return None
    return read_table(spark, QUALITY_RUNS, cfg).where(
        (F.col("table_name") == table.name) & (F.col("run_id") != run_id))


def batches_to_validate(spark: SparkSession, bronze: DataFrame, table: Table, cfg: Config,
                        run_id: str, run_date: dt.date) -> list[str]:
    """Bronze batches up to the run date that no other validation run has covered."""
    candidates = {r[0] for r in bronze.where(F.col("_ingest_date") <= F.lit(run_date))
                  .select("_batch_id").distinct().collect()}
    earlier = earlier_runs(spark, table, cfg, run_id)
    done = set() if earlier is None else {
        r[0] for r in earlier.select(F.explode("batch_ids")).distinct().collect()}
    return sorted(candidates - done)


def history(spark: SparkSession, table: Table, cfg: Config, run_id: str, run_date: dt.date,
            limit: int = 30) -> list[dict]:
    """Earlier runs of ``table`` of the same kind (daily runs before ``run_date``; hourly runs
    before this hour), oldest first: row counts and null shares. An hour's batch is compared
    with earlier hours, a day's with earlier days, never one with the other."""
    earlier = earlier_runs(spark, table, cfg, run_id)
    if earlier is None:
        return []
    hourly = F.col("run_id").rlike(HOURLY_RUN_ID)
    if is_hourly(run_id):  # run ids of one table sort by date, then hour
        before = hourly & (F.col("run_id") < F.lit(run_id))
    else:
        before = ~hourly & (F.col("run_date") < F.lit(run_date))
    rows = (earlier.where(before & (F.col("rows_in") > 0))
            .orderBy(F.col("run_date").desc(), F.col("run_id").desc()).limit(limit).collect())
    return [{"rows_in": r["rows_in"], "null_shares": dict(r["null_shares"] or {})} for r in reversed(rows)]


def row_hash(df: DataFrame, columns: list[str]):
    """A hash of a bronze row over ``columns``: how silver recognises quarantined rows."""
    return F.xxhash64(*[F.col(c) for c in sorted(columns)])


def validated_rows(spark: SparkSession, bronze: Table, cfg: Config, run_date: dt.date) -> DataFrame:
    """Bronze rows up to ``run_date`` that silver may use.

    Only batches covered by a validation run that passed (or only warned) count, and rows
    in that run's quarantine are left out. Batches not yet validated, and the batches of a
    stopped run, are not returned.
    """
    if not table_exists(spark, QUALITY_RUNS, cfg):
        raise RuntimeError(f"no validation run recorded for {bronze.name}: run jobs/validation/validate_bronze.py first")
    runs = read_table(spark, QUALITY_RUNS, cfg).where(
        (F.col("table_name") == bronze.name) & F.col("status").isin(*PASSING)
        & (F.col("run_date") <= F.lit(run_date)))
    batches = runs.select(F.explode("batch_ids").alias("_batch_id")).distinct()
    rows = read_table(spark, bronze, cfg).where(F.col("_ingest_date") <= F.lit(run_date))
    columns = list(rows.columns)
    rows = rows.join(F.broadcast(batches), "_batch_id", "left_semi").withColumn("_row_hash", row_hash(rows, columns))
    quarantine = quarantine_table(bronze)
    if table_exists(spark, quarantine, cfg):
        bad = read_table(spark, quarantine, cfg).select("_row_hash").distinct()
        rows = rows.join(bad, "_row_hash", "left_anti")
    return rows.drop("_row_hash").select(*columns)
