"""What every Spark job shares: argument parsing, logging, timing and failure handling.

A job's ``main()`` is wrapped by :func:`run_job`, which logs start, end, rows in/out and
duration to ``logs/<job>.log`` and stderr, and turns any exception into one readable
``FAILED`` line and a non-zero exit code (so Luigi marks the task failed). Each run also
appends one JSON line to ``logs/job_runs.jsonl`` (docs/monitoring.md).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from churnlake.config import Config, load_config
from churnlake.monitoring import records

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(job)s] %(message)s"
log = logging.getLogger(__name__)


class _JobFilter(logging.Filter):
    def __init__(self, job: str) -> None:
        super().__init__()
        self.job = job

    def filter(self, record: logging.LogRecord) -> bool:
        record.job = self.job
        return True


class _NotFileOnly(logging.Filter):
    """Keeps records marked ``file_only`` (tracebacks) off stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


def setup_logging(job: str, logs_dir: Path, level: int = logging.INFO) -> None:
    """Log to ``<logs_dir>/<job>.log`` and stderr, each line tagged with the job name."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    fmt = logging.Formatter(LOG_FORMAT)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.addFilter(_NotFileOnly())
    for handler in (logging.FileHandler(logs_dir / f"{job}.log", encoding="utf-8"), stderr):
        handler.setFormatter(fmt)
        handler.addFilter(_JobFilter(job))
        root.addHandler(handler)
    for noisy in ("py4j", "urllib3", "alembic", "git", "great_expectations", "xhtml2pdf"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # xhtml2pdf warns about every CSS property it does not implement (the HTML report uses them).
    logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)


def parse_run_date(value: str) -> dt.date:
    """Parse ``YYYY-MM-DD`` with a clear error."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--run-date must be YYYY-MM-DD, got {value!r}") from None


def job_arg_parser(description: str) -> argparse.ArgumentParser:
    """The arguments every job takes: ``--run-date`` and ``--config``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--run-date", type=parse_run_date, required=True, help="logical date, YYYY-MM-DD")
    parser.add_argument("--config", default=None, help="pipeline YAML (default conf/pipeline.yaml)")
    return parser


def add_run_hour_arg(parser: argparse.ArgumentParser, what: str) -> argparse.ArgumentParser:
    """Add the optional ``--run-hour 0..23`` of jobs that also run hourly (``what`` says what an
    hourly run does)."""
    parser.add_argument("--run-hour", type=int, default=None, choices=range(24), metavar="0..23", help=what)
    return parser


def with_table_arg(parser: argparse.ArgumentParser, choices, what: str) -> argparse.ArgumentParser:
    """Add the required ``--table`` argument of jobs that serve one of several tables."""
    parser.add_argument("--table", required=True, choices=sorted(choices), help=what)
    return parser


@dataclass
class JobResult:
    """What a job reports back: row counts and free-form details for the log."""

    rows_in: int = 0
    rows_out: int = 0
    details: dict = field(default_factory=dict)


class Sections:
    """Wall seconds per named step of a job (``with sections("read"): ...``), logged and
    reported in the job's details so a run record says where its time went."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._started = time.monotonic()

    def __call__(self, name: str):
        return self._timed(name)

    @contextlib.contextmanager
    def _timed(self, name: str):
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.monotonic() - start, 2)

    def total(self) -> float:
        """Seconds since the timer was made."""
        return round(time.monotonic() - self._started, 1)

    def summary(self) -> str:
        """``"read 1.2 s, checks 3.4 s"`` in the order the steps ran."""
        return ", ".join(f"{name} {secs:.1f} s" for name, secs in self.seconds.items())


def commit_metadata(job: str, run_date: dt.date, **extra: object) -> str:
    """JSON stored as Delta ``userMetadata`` so a commit can be traced to a job run."""
    return json.dumps({"job": job, "run_date": run_date.isoformat(), **extra}, sort_keys=True)


def commit_interval(meta: dict) -> str | None:
    """The interval (``YYYY-MM-DD`` or ``YYYY-MM-DDTHH``) a commit's metadata names; a commit
    that names none is its run date's daily one."""
    return meta.get("interval", meta.get("run_date"))


def job_run_record(job: str, args: argparse.Namespace, *, status: str, started_at: dt.datetime,
                   ended_at: dt.datetime, duration_s: float, result: JobResult | None = None,
                   error: str | None = None, environ=None) -> dict:
    """The ``job_runs.jsonl`` line of one job run (with its Luigi task attempt when a task started it)."""
    environ = os.environ if environ is None else environ
    attempt = environ.get(records.ENV_ATTEMPT)
    return {
        "job": job,
        "run_date": args.run_date.isoformat(),
        "args": {k: str(v) for k, v in sorted(vars(args).items()) if v is not None and k != "config"},
        "status": status,
        "started_at": records.iso(started_at),
        "ended_at": records.iso(ended_at),
        "duration_s": round(duration_s, 3),
        "rows_in": None if result is None else result.rows_in,
        "rows_out": None if result is None else result.rows_out,
        "details": None if result is None else result.details,
        "error": error,
        "task_id": environ.get(records.ENV_TASK_ID),
        "invocation": environ.get(records.ENV_INVOCATION),
        "attempt": int(attempt) if attempt and attempt.isdigit() else None,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def _record_job_run(cfg: Config, record: dict) -> None:
    """Append the run's record; a records file that cannot be written is a warning, not a failed job
    (the job's data is committed by then, and its log file still has the END or FAILED line)."""
    try:
        records.append_record(cfg.logs_dir / records.JOB_RUNS_FILE, record)
    except OSError as exc:
        log.warning("could not append the job run to %s: %s", cfg.logs_dir / records.JOB_RUNS_FILE, exc)


def log_failure(exc: BaseException, duration_s: float) -> str:
    """Report a failed job or command: the traceback to the log file only, one ``FAILED after …``
    line everywhere. Returns ``"<Error>: <first line of the cause>"``."""
    log.error("traceback of the failure", exc_info=exc, extra={"file_only": True})
    cause = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    log.error("FAILED after %.1fs: %s: %s", duration_s, type(exc).__name__, cause)
    return f"{type(exc).__name__}: {cause}"


def _engine_explained(exc: BaseException) -> BaseException:
    """A job that lost its engine mid-run fails with whatever gRPC error the client saw; when
    the engine no longer answers, the failure says so, naming the endpoint and the way back."""
    from churnlake.spark import EngineUnavailable, engine_answers, engine_down_message, engine_remote

    remote = engine_remote()
    if remote is None or isinstance(exc, EngineUnavailable) or engine_answers(remote):
        return exc
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    explained = EngineUnavailable(f"{engine_down_message(remote)} (the job saw: {type(exc).__name__}: {first})")
    explained.__cause__ = exc
    return explained


#: How often a job's watchdog checks that its engine still answers, and how many misses in a row
#: end the job (a Spark Connect client whose server was killed mid-call can wait on its gRPC
#: stream for minutes instead of failing).
WATCHDOG_INTERVAL_S = float(os.environ.get("CHURNLAKE_ENGINE_WATCHDOG_S", "5"))
WATCHDOG_MISSES = 3


def _watch_engine(remote: str, on_lost: Callable[[], None], *, interval_s: float = WATCHDOG_INTERVAL_S,
                  misses: int = WATCHDOG_MISSES) -> threading.Thread:
    """Start a daemon thread calling ``on_lost`` once the engine at ``remote`` has not answered
    ``misses`` checks in a row (one short TCP connect every ``interval_s``)."""
    from churnlake.spark import engine_answers

    def watch() -> None:
        missed = 0
        while True:
            time.sleep(interval_s)
            missed = 0 if engine_answers(remote, timeout=min(2.0, interval_s)) else missed + 1
            if missed >= misses:
                on_lost()
                return

    thread = threading.Thread(target=watch, name="engine-watchdog", daemon=True)
    thread.start()
    return thread


def run_job(job: str, main: Callable[[argparse.Namespace, Config], JobResult],
            parser: argparse.ArgumentParser, argv: list[str] | None = None) -> None:
    """Parse args, load config, run ``main`` with logging and timing; exit 1 on failure."""
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ValueError as exc:
        print(f"FAILED {job}: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    setup_logging(job, cfg.logs_dir)
    started = time.monotonic()
    started_at = records.utc_now()
    from churnlake.services.launcher import launched_by
    from churnlake.spark import engine_remote

    launcher = launched_by()
    log.info("START run_date=%s lakehouse=%s spark=%s process=%s", args.run_date, cfg.lakehouse_root,
             engine_remote() or "classic (own driver)",
             f"fork of the job launcher (pid {launcher})" if launcher else "own")
    failing = threading.Lock()

    def fail(exc: BaseException) -> None:
        duration = time.monotonic() - started
        error = log_failure(_engine_explained(exc), duration)
        _record_job_run(cfg, job_run_record(job, args, status="failed", started_at=started_at,
                                            ended_at=records.utc_now(), duration_s=duration, error=error))
        logging.shutdown()

    remote = engine_remote()
    if remote:
        def engine_lost() -> None:
            from churnlake.spark import EngineUnavailable, engine_down_message

            if failing.acquire(blocking=False):  # the job's own failure path has not started
                fail(EngineUnavailable(f"{engine_down_message(remote)} (the job's watchdog lost it "
                                       f"for {WATCHDOG_MISSES} checks {WATCHDOG_INTERVAL_S:g}s apart)"))
                os._exit(1)  # the main thread may be stuck in a gRPC call that never returns

        _watch_engine(remote, engine_lost)
    try:
        result = main(args, cfg)
    except Exception as exc:  # noqa: BLE001 - the job boundary: report and exit non-zero
        if failing.acquire(blocking=False):
            fail(exc)
            sys.exit(1)
        time.sleep(60)  # the watchdog is reporting the lost engine and ends the process
    if not failing.acquire(blocking=False):
        time.sleep(60)  # the engine went away as the job returned: the watchdog reports it
    duration = time.monotonic() - started
    log.info("END status=ok rows_in=%d rows_out=%d duration_s=%.1f details=%s",
             result.rows_in, result.rows_out, duration,
             json.dumps(result.details, sort_keys=True, default=str))
    _record_job_run(cfg, job_run_record(job, args, status="ok", started_at=started_at,
                                        ended_at=records.utc_now(), duration_s=duration, result=result))
    logging.shutdown()
