"""Validate the new bronze batches of one table for a run date (the body of the job).

Steps: pick the batches no other run covered → add derived and reference columns → build
the anomaly checks from earlier runs and the batch's quartiles → evaluate everything with
Great Expectations → route rows failing quarantine checks to ``quality.quarantine_<table>``
→ record results and the run → rewrite the run date's report. A critical failure is
recorded and reported like any other, then raised as :class:`ValidationStopped`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from churnlake.config import Config
from churnlake.delta import create_if_missing, read_table, replace_rows, table_exists
from churnlake.jobrun import Sections, commit_metadata
from churnlake.spark import cached
from churnlake.tables import QUALITY_RESULTS, QUALITY_RUNS, Table, get_table, quarantine_table
from churnlake.validation import store
from churnlake.validation.report import write_report
from churnlake.validation.runner import (REASONS_COLUMN, CheckResult, count_failing, null_shares,
                                         outlier_checks, prepare, quarantine_reasons, run_checks,
                                         status_of, stop_message)
from churnlake.validation.suites import (Check, Suite, load_suite, null_share_checks, row_count_check,
                                         suite_path)

JOB = "validate_bronze"
log = logging.getLogger(__name__)


class ValidationStopped(RuntimeError):
    """A critical check failed: the batches must not reach silver."""


@dataclass
class Outcome:
    """What one validation run found."""

    run_id: str
    status: str
    batch_ids: list[str]
    rows_in: int
    rows_passed: int
    rows_quarantined: int
    rows_blocked: int
    results: list[CheckResult] = field(default_factory=list)
    report_dir: str = ""
    seconds: dict[str, float] = field(default_factory=dict)


def reference_keys(spark: SparkSession, suite: Suite, cfg: Config, run_date: dt.date) -> dict:
    """Keys of every referenced table, as known up to the run date."""
    keys = {}
    for ref in suite.references:
        table = get_table(ref.table)
        if not table_exists(spark, table, cfg):
            raise FileNotFoundError(f"{suite.table} references {ref.table}, which has no data yet")
        df = read_table(spark, table, cfg).where(F.col("_ingest_date") <= F.lit(run_date))
        if "_rescued_data" in df.columns:
            df = df.where(F.col("_rescued_data").isNull())
        keys[ref.table] = df.select(F.col(ref.key)).where(F.col(ref.key).isNotNull())
    return keys


def _empty_results(checks: list[Check]) -> list[CheckResult]:
    return [CheckResult(check=c, success=True, element_count=0, unexpected_count=0,
                        observed_value="empty batch: nothing to check") for c in checks]


def quarantine_share_result(suite: Suite, quarantined: int, rows: int) -> CheckResult:
    """The suite-wide guard: quarantining most of a batch means a systemic problem, so stop.

    Row-level checks are for the odd bad row; when more than ``max_quarantine_share`` of the
    batch fails them (a changed format, a wrong source), the batch is stopped instead.
    """
    limit = suite.max_quarantine_share
    share = quarantined / rows if rows else 0.0
    check = Check(id="quarantine_share", expect="quarantined_rows_share", kwargs={"max_share": limit},
                  severity="critical", resolution="stop",
                  description=f"At most {limit:.0%} of a batch may be quarantined; more means a systemic problem.")
    return CheckResult(check=check, success=share <= limit, element_count=rows, unexpected_count=quarantined,
                       unexpected_percent=round(100 * share, 4), observed_value=f"{share:.2%} quarantined")


class ValidationMismatch(RuntimeError):
    """Great Expectations and the quarantine predicate of a check found different rows."""


def count_disagreements(results, failing: dict[str, int]) -> list[str]:
    """``"check X: GE counted a unexpected rows, the quarantine predicate b"`` for every check
    whose two counts differ (the report and the quarantine must describe the same rows)."""
    return [f"check {r.check.id}: GE counted {r.unexpected_count} unexpected rows, the quarantine predicate "
            f"{failing[r.check.id]}" for r in results
            if r.check.id in failing and r.unexpected_count is not None and failing[r.check.id] != r.unexpected_count]


def validate_table(spark: SparkSession, cfg: Config, table: Table, run_date: dt.date,
                   run_hour: int | None = None) -> Outcome:
    """Validate ``table``'s unvalidated batches up to ``run_date``; see the module doc.

    With ``run_hour`` the run is an hourly one (its own run id): it covers the batches no
    earlier run covered — the new hour's — instead of re-checking the whole day so far, and its
    anomaly checks compare it with earlier hourly runs."""
    step = Sections()
    suite = load_suite(suite_path(cfg.root_dir / "conf", table.name))
    run_id = store.run_id_for(table, run_date, run_hour)
    with step("batches"):
        if not table_exists(spark, table, cfg):
            raise FileNotFoundError(f"{table.name} has no data at {table.uri(cfg)}: ingest it first")
        bronze = read_table(spark, table, cfg)
        bronze_columns = list(bronze.columns)
        batch_ids = store.batches_to_validate(spark, bronze, table, cfg, run_id, run_date)
    log.info("%s: validating %d batch(es) up to %s", table.name, len(batch_ids), run_date)
    with step("prepare"):
        batch = bronze.where(F.col("_batch_id").isin(batch_ids)) if batch_ids else bronze.limit(0)
        df = cached(prepare(batch, suite, reference_keys(spark, suite, cfg, run_date)))
        rows_in = df.count()

    with step("anomaly_checks"):
        past = store.history(spark, table, cfg, run_id, run_date)
        checks = list(suite.checks)
        anomaly = suite.anomaly
        extra = [row_count_check(anomaly.row_count, [h["rows_in"] for h in past])]
        extra += null_share_checks(anomaly.null_share, [h["null_shares"] for h in past])
        if rows_in:
            extra += outlier_checks(df, list(anomaly.outliers.get("columns", [])),
                                    float(anomaly.outliers.get("k", 3.0))) if anomaly.outliers else []
        checks += [c for c in extra if c is not None]
    with step("great_expectations"):
        results = run_checks(df, checks, name=table.name.replace(".", "_")) if rows_in else _empty_results(checks)

    # Route failing rows; the Spark count of each quarantine check must equal GE's.
    with step("quarantine_counts"):
        failing = count_failing(df, checks) if rows_in else {}
    disagreements = count_disagreements(results, failing)
    if disagreements:
        # The report (GE's counts) and the quarantine (the predicate's rows) would differ.
        raise ValidationMismatch(f"{table.name}: " + "; ".join(disagreements)
                                 + ": the quarantine predicate does not match the expectation; nothing was written")
    validated_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    tagged = df.withColumn(REASONS_COLUMN, quarantine_reasons(checks))
    with step("quarantine_write"):
        quarantined = cached(tagged.where(F.size(REASONS_COLUMN) > 0)
                             .select(*bronze_columns, REASONS_COLUMN)
                             .withColumn("_row_hash", store.row_hash(tagged, bronze_columns))
                             .withColumn("_validation_run_id", F.lit(run_id))
                             .withColumn("_validation_date", F.lit(run_date))
                             .withColumn("_quarantined_at", F.lit(validated_at)))
        rows_quarantined = quarantined.count()
        results.append(quarantine_share_result(suite, rows_quarantined, rows_in))
        status = status_of(results)
        meta = commit_metadata(JOB, run_date, batch_id=run_id, table=table.name, status=status)
        qtable = quarantine_table(table)
        replace_rows(quarantined, qtable, cfg, replace_where=f"_validation_run_id = '{run_id}'", metadata=meta,
                     rows=rows_quarantined)
    rows_blocked = rows_in - rows_quarantined if status == "stopped" else 0
    rows_passed = rows_in - rows_quarantined - rows_blocked

    where = f"table_name = '{table.name}' AND run_id = '{run_id}'"
    with step("records"):
        # Shared by every table's validation: created once, before any of them writes its rows.
        create_if_missing(spark, QUALITY_RESULTS, cfg, store.RESULTS_SCHEMA)
        create_if_missing(spark, QUALITY_RUNS, cfg, store.RUNS_SCHEMA)
        result_rows = store.result_rows(run_id, run_date, table, results, validated_at)
        replace_rows(spark.createDataFrame(result_rows, store.RESULTS_SCHEMA),
                     QUALITY_RESULTS, cfg, replace_where=where, metadata=meta, rows=len(result_rows))
        shares = null_shares(df, list(anomaly.null_share.get("columns", [])) if anomaly.null_share else [],
                             rows_in)
        failed = sum(1 for r in results if r.failed)
        run_row = (run_id, run_date, table.name, batch_ids, status, rows_in, rows_passed, rows_quarantined,
                   rows_blocked, len(results), failed, shares, suite.path.split("/")[-1],
                   step.total(), validated_at)
        # The run row is written last: its commit is what the Luigi target looks for.
        replace_rows(spark.createDataFrame([run_row], store.RUNS_SCHEMA), QUALITY_RUNS, cfg,
                     replace_where=where, metadata=meta, rows=1)
    df.unpersist()
    quarantined.unpersist()
    outcome = Outcome(run_id=run_id, status=status, batch_ids=batch_ids, rows_in=rows_in,
                      rows_passed=rows_passed, rows_quarantined=rows_quarantined,
                      rows_blocked=rows_blocked, results=results)
    with step("report"):
        outcome.report_dir = str(write_run_report(spark, cfg, run_date))
    outcome.seconds = dict(step.seconds)
    log.info("%s: %s — %d rows: %d to silver, %d quarantined, %d blocked; report %s",
             table.name, status, rows_in, rows_passed, rows_quarantined, rows_blocked, outcome.report_dir)
    log.info("%s: time by step: %s", table.name, step.summary())
    if status == "stopped":
        raise ValidationStopped(stop_message(table.name, results))
    return outcome


def write_run_report(spark: SparkSession, cfg: Config, run_date: dt.date):
    """(Re)write the report of ``run_date`` from every table's records of that date."""
    out_dir = cfg.reports_dir / "quality" / run_date.isoformat()

    def current_runs():
        return read_table(spark, QUALITY_RUNS, cfg).where(F.col("run_date") == F.lit(run_date)).toPandas()

    runs = current_runs()
    for _ in range(3):  # another table's validation may commit while this report is written
        results = read_table(spark, QUALITY_RESULTS, cfg).where(F.col("run_date") == F.lit(run_date)).toPandas()
        write_report(out_dir, run_date, runs, results)
        latest = current_runs()
        if sorted(zip(latest["run_id"], latest["validated_at"])) == sorted(zip(runs["run_id"], runs["validated_at"])):
            break
        runs = latest
    return out_dir
