"""The run summary of a run date: what it holds, how it is built, and its two Delta tables.

Pure functions (no Spark session, no MLflow): :func:`build_summary` turns task attempts,
per-table Delta facts, validation runs and model runs into one summary dict, which the
dashboard renders and :func:`pipeline_run_row` / :func:`task_run_rows` turn into rows of
``monitoring.pipeline_runs`` (one per run date) and ``monitoring.task_runs`` (one per task
attempt). Timestamps are ISO-8601 UTC strings in the dict and ``TIMESTAMP`` in Delta.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable

from pyspark.sql import types as T

from churnlake.monitoring import records

JOB = "monitoring_run_summary"
# The Luigi task that runs this job (luigi_tasks/monitoring.py): left out of the run it summarises.
SUMMARY_TASK_FAMILY = "RunSummary"
# Model metrics shown first, and the first one present is the run's key metric (its best value).
PREFERRED_METRICS = ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier")
QUALITY_ORDER = ("stopped", "warned", "passed")

_TABLE = T.StructType([
    T.StructField("table_name", T.StringType()),
    T.StructField("layer", T.StringType()),
    T.StructField("delta_version", T.LongType()),
    T.StructField("total_rows", T.LongType()),
    T.StructField("last_operation", T.StringType()),
    T.StructField("last_commit_at", T.TimestampType()),
    T.StructField("last_job", T.StringType()),
    T.StructField("run_commits", T.IntegerType()),
    T.StructField("run_version", T.LongType()),
    T.StructField("run_rows_written", T.LongType()),
])
_QUALITY = T.StructType([
    T.StructField("table_name", T.StringType()),
    T.StructField("status", T.StringType()),
    T.StructField("rows_in", T.LongType()),
    T.StructField("rows_passed", T.LongType()),
    T.StructField("rows_quarantined", T.LongType()),
    T.StructField("rows_blocked", T.LongType()),
    T.StructField("checks", T.IntegerType()),
    T.StructField("checks_failed", T.IntegerType()),
    T.StructField("validated_at", T.TimestampType()),
])
_MODEL = T.StructType([
    T.StructField("run_id", T.StringType()),
    T.StructField("run_name", T.StringType()),
    T.StructField("candidate", T.StringType()),
    T.StructField("job", T.StringType()),
    T.StructField("status", T.StringType()),
    T.StructField("started_at", T.TimestampType()),
    T.StructField("ended_at", T.TimestampType()),
    T.StructField("metrics", T.MapType(T.StringType(), T.DoubleType())),
    T.StructField("registered_model", T.StringType()),
    T.StructField("model_version", T.StringType()),
    T.StructField("aliases", T.ArrayType(T.StringType())),
    T.StructField("parent_run_id", T.StringType()),
])
PIPELINE_RUNS_SCHEMA = T.StructType([
    T.StructField("run_date", T.DateType(), False),
    T.StructField("status", T.StringType(), False),
    T.StructField("started_at", T.TimestampType()),
    T.StructField("ended_at", T.TimestampType()),
    T.StructField("duration_s", T.DoubleType()),
    T.StructField("invocations", T.ArrayType(T.StringType())),
    T.StructField("tasks_total", T.IntegerType()),
    T.StructField("tasks_succeeded", T.IntegerType()),
    T.StructField("tasks_already_done", T.IntegerType()),
    T.StructField("tasks_failed", T.IntegerType()),
    T.StructField("tasks_pending", T.IntegerType()),
    T.StructField("tasks_running", T.IntegerType()),
    T.StructField("task_attempts", T.IntegerType()),
    T.StructField("retries", T.IntegerType()),
    T.StructField("failed_tasks", T.ArrayType(T.StringType())),
    T.StructField("jobs_run", T.IntegerType()),
    T.StructField("jobs_failed", T.IntegerType()),
    T.StructField("tables", T.ArrayType(_TABLE)),
    T.StructField("quality_status", T.StringType()),
    T.StructField("quality", T.ArrayType(_QUALITY)),
    T.StructField("models", T.ArrayType(_MODEL)),
    T.StructField("models_error", T.StringType()),
    T.StructField("key_metric", T.StringType()),
    T.StructField("key_metric_value", T.DoubleType()),
    T.StructField("quality_report", T.StringType()),
    T.StructField("dashboard", T.StringType()),
    T.StructField("last_event_at", T.TimestampType()),
    T.StructField("summarized_at", T.TimestampType(), False),
])
TASK_RUNS_SCHEMA = T.StructType([
    T.StructField("run_date", T.DateType(), False),
    T.StructField("invocation", T.StringType()),
    T.StructField("task_id", T.StringType(), False),
    T.StructField("task_family", T.StringType()),
    T.StructField("params", T.MapType(T.StringType(), T.StringType())),
    T.StructField("is_wrapper", T.BooleanType()),
    T.StructField("attempt", T.IntegerType()),
    T.StructField("status", T.StringType(), False),
    T.StructField("started_at", T.TimestampType()),
    T.StructField("ended_at", T.TimestampType()),
    T.StructField("duration_s", T.DoubleType()),
    T.StructField("job", T.StringType()),
    T.StructField("job_status", T.StringType()),
    T.StructField("rows_in", T.LongType()),
    T.StructField("rows_out", T.LongType()),
    T.StructField("job_details", T.StringType()),
    T.StructField("error", T.StringType()),
    T.StructField("host", T.StringType()),
    T.StructField("summarized_at", T.TimestampType(), False),
])


# ---------------------------------------------------------------- pieces of the summary


def _metadata(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _as_iso(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return records.iso(value if value.tzinfo else value.astimezone())  # naive = local (Spark collect)
    raise TypeError(f"not a timestamp: {value!r}")


def table_stats(name: str, layer: str, history: list[dict], total_rows: int | None, run_date: str) -> dict:
    """Facts of one Delta table for the run date, from its history (``DESCRIBE HISTORY`` rows:
    version, timestamp, operation, operationMetrics, userMetadata) and its row count.

    ``run_commits``/``run_version``/``run_rows_written`` are about the commits whose
    ``userMetadata`` names ``run_date`` (``numOutputRows`` summed where the operation has it).
    """
    if not history:
        raise ValueError(f"{name}: a Delta table has at least one commit")
    latest = max(history, key=lambda h: h["version"])
    mine = [h for h in history if _metadata(h.get("userMetadata")).get("run_date") == run_date]
    written = [int(m["numOutputRows"]) for h in mine
               if (m := h.get("operationMetrics") or {}).get("numOutputRows") not in (None, "")]
    return {"table_name": name, "layer": layer, "delta_version": int(latest["version"]),
            "total_rows": total_rows, "last_operation": latest.get("operation"),
            "last_commit_at": _as_iso(latest.get("timestamp")),
            "last_job": _metadata(latest.get("userMetadata")).get("job"),
            "run_commits": len(mine), "run_version": max((int(h["version"]) for h in mine), default=None),
            "run_rows_written": sum(written) if written else None}


def latest_quality(rows: Iterable[dict]) -> list[dict]:
    """The latest validation run per table (rows of ``quality.validation_runs`` for one date)."""
    latest: dict[str, dict] = {}
    for row in rows:
        current = latest.get(row["table_name"])
        if current is None or (_as_iso(row.get("validated_at")) or "") >= (_as_iso(current.get("validated_at")) or ""):
            latest[row["table_name"]] = row
    fields = [f.name for f in _QUALITY.fields]
    return [{k: (_as_iso(v) if k == "validated_at" else v) for k, v in latest[name].items() if k in fields}
            for name in sorted(latest)]


def quality_status(quality: list[dict]) -> str:
    """``stopped`` > ``warned`` > ``passed`` over the tables; ``not_validated`` without a run."""
    statuses = {q["status"] for q in quality}
    for status in QUALITY_ORDER:
        if status in statuses:
            return status
    return "not_validated" if not statuses else sorted(statuses)[0]


def key_metric(models: list[dict], preferred: str | None = None) -> tuple[str | None, float | None]:
    """The first preferred metric any model run has, and its best (highest) value.

    ``preferred`` (the training's selection metric) comes before :data:`PREFERRED_METRICS`.
    For a loss (``log_loss``, ``brier``) the lowest value is the best.
    """
    for base in ([preferred] if preferred else []) + list(PREFERRED_METRICS):
        # Training logs held-out metrics as test_<name> (jobs/ml/train.py); plain names count too.
        for name in (base, f"test_{base}"):
            values = [m["metrics"][name] for m in models if name in (m.get("metrics") or {})]
            if values:
                return name, (min(values) if base in ("log_loss", "brier") else max(values))
    return None, None


def metric_columns(models: list[dict], limit: int = 8, preferred: str | None = None) -> list[str]:
    """Metric names to show as columns: the preferred ones present, then others by name."""
    present = {name for m in models for name in (m.get("metrics") or {})}
    order = ([preferred] if preferred else []) + [n for n in PREFERRED_METRICS if n != preferred]
    order = [name for base in order for name in (base, f"test_{base}")]
    first = [name for name in order if name in present]
    return (first + sorted(present - set(first)))[:limit]


def build_summary(run_date: str, attempts: list[dict], *, job_runs: list[dict] = (), tables: list[dict] = (),
                  missing_tables: list[str] = (), quality: list[dict] = (), models: list[dict] = (),
                  models_error: str | None = None, links: dict[str, str] | None = None,
                  paths: dict[str, str] | None = None, last_event_at: str | None = None,
                  selection_metric: str | None = None, summarized_at: dt.datetime | None = None) -> dict:
    """The summary of one run date (what the dashboard shows and pipeline_runs stores).

    ``links``: the dashboard's relative links to other reports; ``paths``: where the quality
    report and the dashboard are (stored in the table); ``selection_metric``: the metric the
    training selects models by, shown first and used as the run's key metric.
    """
    dt.date.fromisoformat(run_date)  # a malformed date fails here, not in Delta
    tasks = records.task_overview(attempts)
    real = [t for t in tasks if not t.get("is_wrapper")]
    count = {s: sum(1 for t in real if t["status"] == s) for s in
             (records.SUCCEEDED, records.DONE_BEFORE, records.FAILED, records.PENDING, records.RUNNING)}
    tried = [a for a in attempts if a["attempt"] > 0 and not a.get("is_wrapper")]
    starts = [a["started_at"] for a in attempts if a.get("started_at")]
    ends = [a["ended_at"] for a in attempts if a.get("ended_at")]
    started, ended = (min(starts) if starts else None), (max(ends) if ends else None)
    duration = None
    if started and ended:
        duration = round((records.parse_time(ended) - records.parse_time(started)).total_seconds(), 3)
    metric, value = key_metric(list(models), selection_metric)
    latest_jobs: dict[tuple, dict] = {}
    for job in job_runs:  # a job rerun for the same arguments counts once: its latest run
        latest_jobs[(job.get("job"), json.dumps(job.get("args"), sort_keys=True))] = job
    return {
        "run_date": run_date,
        "status": records.run_status(tasks),
        "started_at": started, "ended_at": ended, "duration_s": duration,
        "invocations": sorted({a["invocation"] for a in attempts if a.get("invocation")}),
        "tasks_total": len(real),
        "tasks_succeeded": count[records.SUCCEEDED], "tasks_already_done": count[records.DONE_BEFORE],
        "tasks_failed": count[records.FAILED], "tasks_pending": count[records.PENDING],
        "tasks_running": count[records.RUNNING],
        "task_attempts": len(tried),
        "retries": len(tried) - len({a["task_id"] for a in tried}),
        "failed_tasks": [t["task_id"] for t in real if t["status"] == records.FAILED],
        "jobs_run": len(latest_jobs),
        "jobs_failed": sum(1 for j in latest_jobs.values() if j.get("status") != "ok"),
        "tasks": tasks,
        "attempts": list(attempts),
        "tables": list(tables), "missing_tables": list(missing_tables),
        "quality_status": quality_status(list(quality)), "quality": list(quality),
        "models": list(models), "models_error": models_error,
        "metric_columns": metric_columns(list(models), preferred=selection_metric),
        "key_metric": metric, "key_metric_value": value,
        "links": dict(links or {}),
        "quality_report": (paths or {}).get("quality_report"),
        "dashboard": (paths or {}).get("dashboard"),
        "last_event_at": last_event_at,
        "summarized_at": records.iso(summarized_at or records.utc_now()),
    }


# ---------------------------------------------------------------- rows for Delta


def to_spark(value: Any, dtype: T.DataType) -> Any:
    """A JSON-like value as the Python value Spark expects for ``dtype`` (ISO strings to aware
    datetimes, dicts to struct tuples, numbers to the right kind)."""
    if value is None:
        return None
    if isinstance(dtype, T.StructType):
        return tuple(to_spark(value.get(f.name), f.dataType) for f in dtype.fields)
    if isinstance(dtype, T.ArrayType):
        return [to_spark(v, dtype.elementType) for v in value]
    if isinstance(dtype, T.MapType):
        return {str(k): to_spark(v, dtype.valueType) for k, v in value.items()}
    if isinstance(dtype, T.TimestampType):
        return value if isinstance(value, dt.datetime) else records.parse_time(value)
    if isinstance(dtype, T.DateType):
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    if isinstance(dtype, (T.LongType, T.IntegerType)):
        return int(value)
    if isinstance(dtype, T.DoubleType):
        return float(value)
    if isinstance(dtype, T.BooleanType):
        return bool(value)
    return str(value)


def pipeline_run_row(summary: dict) -> tuple:
    """The ``monitoring.pipeline_runs`` row of a summary."""
    return to_spark(summary, PIPELINE_RUNS_SCHEMA)


def task_run_rows(summary: dict) -> list[tuple]:
    """The ``monitoring.task_runs`` rows of a summary: every attempt, and every task that never ran."""
    return [to_spark({**a, "run_date": summary["run_date"], "summarized_at": summary["summarized_at"]},
                     TASK_RUNS_SCHEMA) for a in summary["attempts"]]
