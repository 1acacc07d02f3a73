"""Run records: the JSON-lines files every task and job appends to, and how to read them.

Two files in ``<logs_dir>`` (docs/monitoring.md):

- ``task_runs.jsonl`` -- one line per Luigi task event, written by ``luigi_tasks/runlog.py``:
  ``SCHEDULED`` (the task is in the run's graph), ``ALREADY_DONE`` (its output existed),
  ``START``, ``SUCCESS``, ``FAILURE`` (with the attempt number) and ``BROKEN`` (its
  ``complete()`` or ``requires()`` raised).
- ``job_runs.jsonl`` -- one line per Spark job run, written by :func:`churnlake.jobrun.run_job`
  (status ``ok`` or ``failed``, rows in/out, details, error), tied to its Luigi task attempt
  when a task started it.

Writers append one line per call under an exclusive ``flock``, so concurrent Luigi workers
and jobs never interleave. The readers here are pure: they turn lines into one row per task
attempt, one overview per task and the status of a run date, without Spark.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

log = logging.getLogger(__name__)

TASK_RUNS_FILE = "task_runs.jsonl"
JOB_RUNS_FILE = "job_runs.jsonl"
# Set by ChurnlakeSparkTask for its spark-submit, read by run_job: ties a job run to its task attempt.
ENV_INVOCATION = "CHURNLAKE_LUIGI_INVOCATION"
ENV_TASK_ID = "CHURNLAKE_LUIGI_TASK_ID"
ENV_ATTEMPT = "CHURNLAKE_LUIGI_ATTEMPT"

# Task events (the "event" field of task_runs.jsonl).
SCHEDULED, ALREADY_DONE, START, SUCCESS, FAILURE, BROKEN = (
    "SCHEDULED", "ALREADY_DONE", "START", "SUCCESS", "FAILURE", "BROKEN")
# Task statuses, from the most to the least severe (how a run's status is decided).
FAILED, RUNNING, PENDING, SUCCEEDED, DONE_BEFORE = "failed", "running", "pending", "succeeded", "already_done"


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


def iso(moment: dt.datetime | None) -> str | None:
    """``2026-11-27T01:02:03.456Z`` (UTC, milliseconds), the timestamp format of the records."""
    if moment is None:
        return None
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: str | None) -> dt.datetime | None:
    """A record timestamp back into an aware UTC datetime (None stays None)."""
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


@contextlib.contextmanager
def locked(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator:
    """Open ``path`` for binary reading and appending (creating it and its folder) under an
    exclusive ``flock`` for the block. ``on_wait`` is called once when another process holds
    the lock and this one has to wait for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield fh
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def append_line(fh, record: dict) -> None:
    """Append one JSON line to an open (locked) records file."""
    fh.seek(0, os.SEEK_END)
    fh.write((json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8"))
    fh.flush()


def append_record(path: Path, record: dict) -> None:
    """Append ``record`` as one JSON line to ``path`` under the file lock."""
    with locked(path) as fh:
        append_line(fh, record)


def parse_lines(lines: Iterable[str]) -> list[dict]:
    """JSON objects of ``lines``; blank, cut-off or foreign lines are skipped (and counted in the log)."""
    out, bad = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(value, dict):
            out.append(value)
        else:
            bad += 1
    if bad:
        log.warning("skipped %d unreadable record line(s)", bad)
    return out


def read_records(path: Path) -> list[dict]:
    """Every record of a JSON-lines file; a missing file has none."""
    try:
        with open(path, encoding="utf-8") as fh:
            return parse_lines(fh)
    except FileNotFoundError:
        return []


def tail_records(fh, max_bytes: int = 4 << 20, containing: str | None = None) -> list[dict]:
    """The records in the last ``max_bytes`` of a records file open in binary mode (the
    current run's lines: a run writes a few hundred), only lines ``containing`` a text if given."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - max_bytes))
    lines = fh.read().decode("utf-8", errors="replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # the first line was cut by the seek
    if containing is not None:
        lines = [line for line in lines if containing in line]
    return parse_lines(lines)


def run_date_of(params: dict) -> str | None:
    """The run date (``YYYY-MM-DD``) a task works on, from its parameters (``run_date``, ``date``, ``date_hour``)."""
    for key in ("run_date", "date", "date_hour"):
        value = params.get(key)
        if value:
            return str(value)[:10]
    return None


# ---------------------------------------------------------------- task attempts of a run date


def _attempt_row(head: dict, attempt: int, status: str) -> dict:
    return {"run_date": head.get("run_date"), "invocation": head.get("invocation"),
            "task_id": head.get("task_id"), "task_family": head.get("task_family"),
            "params": dict(head.get("params") or {}), "is_wrapper": bool(head.get("is_wrapper")),
            "attempt": attempt, "status": status, "started_at": None, "ended_at": None,
            "duration_s": None, "job": None, "job_status": None, "rows_in": None, "rows_out": None,
            "job_details": None, "error": None, "host": head.get("host"), "last_at": head.get("at")}


def _finish(row: dict, rec: dict, status: str) -> None:
    row["status"] = status
    row["ended_at"] = rec.get("ended_at") or rec.get("at")
    row["duration_s"] = rec.get("duration_s")
    if row["started_at"] is None and rec.get("started_at"):
        row["started_at"] = rec["started_at"]
    row["error"] = rec.get("error")
    job = rec.get("job") or {}
    if job:
        row.update(job=job.get("job"), job_status=job.get("status"), rows_in=job.get("rows_in"),
                   rows_out=job.get("rows_out"),
                   job_details=json.dumps(job.get("details"), sort_keys=True, default=str)
                   if job.get("details") is not None else None)
        row["error"] = row["error"] or job.get("error")


def task_attempts(records: Iterable[dict], run_date: str, *, exclude_families: Iterable[str] = ()) -> list[dict]:
    """One row per task attempt of ``run_date`` (in record order), from task_runs.jsonl records.

    A task that never started in an invocation gives one row with attempt 0 and status
    ``pending`` (it was in the graph: its dependencies failed, or the run was cut short) or
    ``already_done`` (its output existed). An attempt with a START but no end yet is
    ``running`` (or its process was killed without a trace).
    """
    excluded = set(exclude_families)
    groups: dict[tuple, dict] = {}
    for rec in records:
        if rec.get("run_date") != run_date or rec.get("task_family") in excluded or not rec.get("task_id"):
            continue
        key = (rec.get("invocation"), rec["task_id"])
        group = groups.setdefault(key, {"head": rec, "attempts": {}, "marks": [], "order": []})
        event = rec.get("event")
        if event in (SCHEDULED, ALREADY_DONE):
            group["marks"].append(event)
            continue
        number = int(rec.get("attempt") or 0)
        row = group["attempts"].get(number)
        if row is None or event == BROKEN:
            row = _attempt_row(rec, number, RUNNING)
            group["attempts"][number] = row
            group["order"].append(row)
        row["last_at"] = rec.get("at") or row["last_at"]
        if event == START:
            row["started_at"] = rec.get("started_at") or rec.get("at")
        elif event == SUCCESS:
            _finish(row, rec, SUCCEEDED)
        elif event in (FAILURE, BROKEN):
            _finish(row, rec, FAILED)
    rows: list[dict] = []
    for group in groups.values():
        if group["order"]:
            rows.extend(group["order"])
        else:
            status = DONE_BEFORE if ALREADY_DONE in group["marks"] else PENDING
            rows.append(_attempt_row(group["head"], 0, status))
    return rows


def _activity(row: dict) -> str:
    return row.get("ended_at") or row.get("started_at") or row.get("last_at") or ""


def task_overview(attempts: list[dict]) -> list[dict]:
    """One row per task: its latest state over every invocation of the run date.

    ``attempts`` counts the task's real attempts (all invocations); duration, rows and error
    are those of its latest attempt. A task a later invocation found already done keeps the
    succeeded attempt that did it, when one was recorded.
    """
    by_task: dict[str, list[dict]] = {}
    for row in attempts:
        by_task.setdefault(row["task_id"], []).append(row)
    out = []
    for task_id, rows in by_task.items():
        rows = sorted(rows, key=_activity)
        real = [r for r in rows if r["attempt"] > 0 or r["status"] == FAILED]
        latest = rows[-1]
        if latest["status"] == DONE_BEFORE:
            succeeded = [r for r in real if r["status"] == SUCCEEDED]
            latest = succeeded[-1] if succeeded else latest
        elif latest["status"] == PENDING and real and real[-1]["status"] == SUCCEEDED:
            latest = real[-1]  # a later graph listed it before finding it complete
        out.append({**latest, "attempts": len(real),
                    "first_started_at": min((r["started_at"] for r in real if r["started_at"]), default=None)})
    return sorted(out, key=lambda r: (r["first_started_at"] or r["started_at"] or "9999", r["task_id"]))


def run_status(tasks: list[dict]) -> str:
    """The status of a run date from its task overview (wrapper tasks left out).

    ``failed`` when a task's latest attempt failed, else ``running`` when one has not ended,
    ``incomplete`` when one never ran, ``succeeded`` when all succeeded or were already done,
    and ``no_tasks`` without any record.
    """
    real = [t for t in tasks if not t.get("is_wrapper")] or tasks
    statuses = {t["status"] for t in real}
    if not statuses:
        return "no_tasks"
    for status, verdict in ((FAILED, "failed"), (RUNNING, "running"), (PENDING, "incomplete")):
        if status in statuses:
            return verdict
    return "succeeded"


def latest_event_at(task_records: Iterable[dict], job_records: Iterable[dict], run_date: str, *,
                    exclude_families: Iterable[str] = (), exclude_jobs: Iterable[str] = ()) -> str | None:
    """The newest record time for ``run_date`` in both files (what a run summary must include)."""
    families, jobs = set(exclude_families), set(exclude_jobs)
    times = [r.get("at") for r in task_records
             if r.get("run_date") == run_date and r.get("task_family") not in families]
    times += [r.get("ended_at") for r in job_records if r.get("run_date") == run_date and r.get("job") not in jobs]
    times = [t for t in times if t]
    return max(times, key=parse_time) if times else None


def job_runs_for(records: Iterable[dict], run_date: str) -> list[dict]:
    """The job_runs.jsonl records of ``run_date``, in the order they were written."""
    return [r for r in records if r.get("run_date") == run_date]
