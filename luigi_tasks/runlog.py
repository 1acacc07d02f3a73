"""Task-run records: one JSON line per Luigi task event in ``<logs_dir>/task_runs.jsonl``.

Registered when ``luigi_tasks`` is imported (like the failure notifications). Events:

- ``SCHEDULED`` -- the task is in this invocation's graph (written while Luigi schedules), so
  a task that never ran (its dependency failed, the run was cut short) still shows up;
- ``ALREADY_DONE`` -- its output already existed, nothing to run;
- ``START``, ``SUCCESS``, ``FAILURE`` -- one attempt, numbered within the invocation
  (``attempt`` 2 is the first retry), with start/end time and duration; for a
  ``ChurnlakeSparkTask`` the end record carries the job's own record from job_runs.jsonl
  (rows in/out, details, its FAILED reason), and ``note`` when the task decided not to start
  its job (an hourly step whose batch brought nothing);
- ``BROKEN`` -- its ``complete()`` or ``requires()`` raised (a scheduling error).

Every line has the invocation id (one per ``luigi`` process), task family and id, the
parameters and the run date. Records are written by whichever process fires the event (the
worker's task processes, the scheduling process), each line under a file lock. Writing a
record never breaks the worker: a problem is logged as a warning.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time

import luigi

from churnlake.config import load_config
from churnlake.monitoring import records

log = logging.getLogger("luigi-interface")

# One id per Luigi process: task processes are forked from it and inherit the value.
INVOCATION = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{socket.gethostname()}-{os.getpid()}"
# Attempts running in this process: task id -> (attempt, start monotonic, start time).
_RUNNING: dict[str, tuple[int, float, dt.datetime]] = {}
# The attempt each task's last run in this process ended with (read by the notifications).
_ENDED: dict[str, int] = {}
# Tasks already recorded as SCHEDULED by this process.
_SCHEDULED: set[str] = set()


def records_path():
    """``<logs_dir>/task_runs.jsonl`` of the current configuration."""
    return load_config().logs_dir / records.TASK_RUNS_FILE


def error_summary(exception: BaseException) -> str:
    """A churnlake job's own one-line ``FAILED after …`` reason when the error carries it,
    else the start of the error text."""
    text = str(exception).strip()
    failed = [line for line in text.splitlines() if "FAILED after" in line]
    if failed:
        return "FAILED after " + failed[-1].split("FAILED after", 1)[-1].strip()
    return text[:500]


def base_record(task: luigi.Task, event: str) -> dict:
    """Fields every line has: event, invocation, the task and its run date."""
    try:
        params = task.to_str_params(only_significant=True, only_public=True)
    except Exception:  # noqa: BLE001 - a parameter that cannot be serialised must not lose the record
        params = {k: str(v) for k, v in task.param_kwargs.items()}
    return {"event": event, "at": records.iso(records.utc_now()), "invocation": INVOCATION,
            "task_family": task.task_family, "task_id": task.task_id, "params": params,
            "run_date": records.run_date_of(params), "is_wrapper": isinstance(task, luigi.WrapperTask),
            "host": socket.gethostname(), "pid": os.getpid()}


def _opens_attempt(rec: dict) -> bool:
    return rec.get("event") == records.START or (rec.get("event") == records.FAILURE and not rec.get("started_at"))


def _attempts_so_far(fh, task_id: str) -> list[dict]:
    """This invocation's records that opened an attempt of ``task_id`` (from the file's tail)."""
    return [r for r in records.tail_records(fh, containing=INVOCATION)
            if r.get("invocation") == INVOCATION and r.get("task_id") == task_id and _opens_attempt(r)]


def current_attempt(task: luigi.Task) -> int | None:
    """The attempt number of ``task`` running in this process (None outside a run)."""
    running = _RUNNING.get(task.task_id)
    return running[0] if running else None


def attempt_of(task: luigi.Task) -> int | None:
    """The attempt of ``task`` running, or last ended, in this process (None when unknown)."""
    return current_attempt(task) or _ENDED.get(task.task_id)


def max_attempts(task: luigi.Task) -> int:
    """How many times the scheduler runs ``task`` before disabling it ([scheduler] retry_count,
    or the task's own ``retry_count``)."""
    from luigi.scheduler import scheduler

    return int(task.retry_count or scheduler().retry_count)


def job_environment(task: luigi.Task) -> dict[str, str]:
    """Environment for the task's spark-submit, so the job's record names its task attempt."""
    env = {records.ENV_INVOCATION: INVOCATION, records.ENV_TASK_ID: task.task_id}
    attempt = current_attempt(task)
    if attempt is not None:
        env[records.ENV_ATTEMPT] = str(attempt)
    return env


def _job_record(task: luigi.Task, attempt: int | None) -> dict | None:
    """The job_runs.jsonl record the task's spark-submit wrote for this attempt, if any."""
    if not hasattr(task, "job_file"):
        return None
    path = load_config().logs_dir / records.JOB_RUNS_FILE
    if not path.exists():
        return None
    with records.locked(path) as fh:
        found = [r for r in records.tail_records(fh, containing=INVOCATION)
                 if r.get("invocation") == INVOCATION and r.get("task_id") == task.task_id
                 and (attempt is None or r.get("attempt") == attempt)]
    if not found:
        return None
    rec = found[-1]
    return {k: rec.get(k) for k in ("job", "status", "rows_in", "rows_out", "duration_s", "details", "error", "args")}


def record_start(task: luigi.Task) -> dict:
    """Number the attempt and append its START line (the count and the line under one lock)."""
    rec = base_record(task, records.START)
    with records.locked(records_path()) as fh:
        attempt = len(_attempts_so_far(fh, task.task_id)) + 1
        now = records.utc_now()
        rec.update(attempt=attempt, started_at=records.iso(now), at=records.iso(now))
        records.append_line(fh, rec)
    _RUNNING[task.task_id] = (attempt, time.monotonic(), now)
    return rec


def record_end(task: luigi.Task, event: str, exception: BaseException | None = None, *,
               died: str | None = None) -> dict:
    """Append the SUCCESS or FAILURE line of the attempt running in this process.

    ``died``: the task's process died or timed out; the worker process, which fires that
    event, takes the attempt from the task's last START line. A failure with neither (the
    dependencies were found incomplete before START) opens an attempt of its own.
    """
    rec = base_record(task, event)
    running = _RUNNING.pop(task.task_id, None)
    job = _job_record(task, running[0]) if running is not None else None
    now = records.utc_now()
    with records.locked(records_path()) as fh:
        if running is not None:
            attempt, started, started_at = running
            rec.update(attempt=attempt, started_at=records.iso(started_at),
                       duration_s=round(time.monotonic() - started, 3))
        else:
            opened = _attempts_so_far(fh, task.task_id)
            last = opened[-1] if opened else None
            if died is not None and last is not None and last.get("event") == records.START:
                start = records.parse_time(last.get("started_at"))
                rec.update(attempt=last.get("attempt"), started_at=last.get("started_at"),
                           duration_s=round((now - start).total_seconds(), 3) if start else None)
            else:
                rec.update(attempt=len(opened) + 1, started_at=None, duration_s=None)
        rec["ended_at"] = records.iso(now)
        if exception is not None:
            rec.update(error=error_summary(exception), error_type=type(exception).__name__)
        elif died is not None:
            rec["error"] = str(died).strip()[:500]
        _ENDED[task.task_id] = rec["attempt"]
        if getattr(task, "note", None):  # e.g. an hourly step with nothing new (no job started)
            rec["note"] = task.note
        if job is not None:
            rec["job"] = job
            if event == records.FAILURE and job.get("error") and not (rec.get("error") or "").startswith("FAILED"):
                rec["error"] = job["error"]
        records.append_line(fh, rec)
    return rec


def _safely(what: str, fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a monitoring record must never break the worker
        log.warning("task-run record (%s) not written: %s", what, exc)


@luigi.Task.event_handler(luigi.Event.START)
def _on_start(task: luigi.Task) -> None:
    _safely("start", record_start, task)


@luigi.Task.event_handler(luigi.Event.SUCCESS)
def _on_success(task: luigi.Task) -> None:
    _safely("success", record_end, task, records.SUCCESS)


@luigi.Task.event_handler(luigi.Event.FAILURE)
def _on_failure(task: luigi.Task, exception: BaseException) -> None:
    _safely("failure", record_end, task, records.FAILURE, exception)


def _on_process_death(task: luigi.Task, message: str) -> None:
    """The task's process died or timed out (fired in the worker process, not the task's)."""
    _safely("process failure", record_end, task, records.FAILURE, died=message or "the task process died")


luigi.Task.event_handler(luigi.Event.PROCESS_FAILURE)(_on_process_death)
luigi.Task.event_handler(luigi.Event.TIMEOUT)(_on_process_death)


@luigi.Task.event_handler(luigi.Event.DEPENDENCY_DISCOVERED)
def _on_discovered(task: luigi.Task, dependency: luigi.Task) -> None:
    def write():
        for item in (task, dependency):
            if item.task_id not in _SCHEDULED:
                _SCHEDULED.add(item.task_id)
                records.append_record(records_path(), base_record(item, records.SCHEDULED))
    _safely("scheduled", write)


@luigi.Task.event_handler(luigi.Event.DEPENDENCY_PRESENT)
def _on_present(task: luigi.Task) -> None:
    _safely("already done", lambda: records.append_record(records_path(),
                                                          base_record(task, records.ALREADY_DONE)))


@luigi.Task.event_handler(luigi.Event.BROKEN_TASK)
def _on_broken(task: luigi.Task, exception: BaseException) -> None:
    _safely("broken", lambda: records.append_record(records_path(), {
        **base_record(task, records.BROKEN), "attempt": 0, "ended_at": records.iso(records.utc_now()),
        "error": f"scheduling error: {type(exception).__name__}: {error_summary(exception)}"}))
