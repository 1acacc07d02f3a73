"""One concise console line per task while a Luigi run goes on, and a summary at the end.

``make demo`` sends Luigi's own (verbose) output to a log file and shows instead what the
task-run records (``<logs_dir>/task_runs.jsonl``, :mod:`luigi_tasks.runlog`) say, as they are
written::

    [  0:07] started  BronzeCrm
    [  0:14] done     BronzeCrm                        7.3s  rows 7043 -> 7043
    [  1:05] FAILED   SilverTickets (attempt 1, will retry)  FAILED after 3.1s: ...
    [  2:00] running  TrainModel (1:12)

:func:`format_event` is pure (unit-tested); :class:`Progress` follows the file in a thread.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, TextIO

from churnlake.monitoring import records

NAME_WIDTH = 34


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) of an elapsed time."""
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def task_label(rec: dict) -> str:
    """The task family plus the parameters that tell its instances apart (table, hour)."""
    params = rec.get("params") or {}
    extra = [str(v) for k, v in sorted(params.items()) if k not in ("run_date",) and v not in ("", None)]
    return rec.get("task_family", "?") + (f"[{','.join(extra)}]" if extra else "")


def format_event(rec: dict, elapsed_s: float) -> Optional[str]:
    """The console line of one task-run record, or None for records not worth a line
    (scheduling, wrapper tasks)."""
    event = rec.get("event")
    if rec.get("is_wrapper") or event in (records.SCHEDULED, None):
        return None
    stamp = f"[{clock(elapsed_s):>6}]"
    name = task_label(rec)
    if event == records.START:
        attempt = rec.get("attempt") or 1
        return f"{stamp} started  {name}" + (f" (attempt {attempt})" if attempt > 1 else "")
    if event == records.ALREADY_DONE:
        return f"{stamp} skipped  {name:<{NAME_WIDTH}} already done"
    if event == records.SUCCESS:
        job = rec.get("job") or {}
        line = f"{stamp} done     {name:<{NAME_WIDTH}} {rec.get('duration_s') or 0:6.1f}s"
        if job.get("rows_in") is not None or job.get("rows_out") is not None:
            line += f"  rows {job.get('rows_in')} -> {job.get('rows_out')}"
        if rec.get("note"):
            line += f"  {rec['note']}"
        return line
    if event in (records.FAILURE, records.BROKEN):
        error = (rec.get("error") or "").strip().splitlines()
        return (f"{stamp} FAILED   {name} (attempt {rec.get('attempt') or 1})  "
                + (error[0][:300] if error else "no reason recorded"))
    return None


@dataclass
class Summary:
    """What a run did, counted from its records."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def add(self, rec: dict) -> None:
        if rec.get("is_wrapper"):
            return
        name, event = task_label(rec), rec.get("event")
        if event == records.SUCCESS:
            self.done.append(name)
            self.failed.pop(name, None)
        elif event == records.ALREADY_DONE:
            self.skipped.append(name)
        elif event in (records.FAILURE, records.BROKEN):
            self.failed[name] = (rec.get("error") or "").strip().splitlines()[0][:300] if rec.get("error") else ""

    def lines(self, wall_s: float) -> list[str]:
        out = [f"{len(self.done)} task(s) ran, {len(self.skipped)} already done, "
               f"{len(self.failed)} failed, in {clock(wall_s)}"]
        out += [f"  FAILED {name}: {why}" for name, why in self.failed.items()]
        return out


class Progress:
    """Follows ``task_runs.jsonl`` from its current end and prints each new event of one
    invocation-independent run (lines written after :meth:`start`); every ``heartbeat_s``
    seconds without news it names what is still running."""

    def __init__(self, path: Path, out: TextIO, *, heartbeat_s: float = 30.0,
                 clock_fn: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.out = out
        self.heartbeat_s = heartbeat_s
        self._clock = clock_fn
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._offset = path.stat().st_size if path.exists() else 0
        self._t0 = clock_fn()
        self._running: dict[str, tuple[float, str]] = {}  # task id -> (started, label)
        self.summary = Summary()

    def _emit(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def poll(self) -> None:
        """Read and print what was appended since the last call."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read()
        end = chunk.rfind(b"\n") + 1
        self._offset += end
        for raw in chunk[:end].decode("utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            now = self._clock() - self._t0
            key = rec.get("task_id", "")
            if rec.get("event") == records.START and not rec.get("is_wrapper"):
                self._running[key] = (now, task_label(rec))
            elif rec.get("event") in (records.SUCCESS, records.FAILURE, records.BROKEN):
                self._running.pop(key, None)
            self.summary.add(rec)
            line = format_event(rec, now)
            if line:
                self._emit(line)
                self._last_news = now

    def _loop(self) -> None:
        self._last_news = 0.0
        while not self._stop.wait(1.0):
            self.poll()
            now = self._clock() - self._t0
            if self._running and now - self._last_news >= self.heartbeat_s:
                names = ", ".join(f"{label} ({clock(now - t)})" for t, label in self._running.values())
                self._emit(f"[{clock(now):>6}] running  {names}")
                self._last_news = now

    def start(self) -> "Progress":
        self._thread = threading.Thread(target=self._loop, name="churnlake-progress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Summary:
        """Print what is left and stop following; returns the run's summary."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.poll()
        return self.summary
