"""The demo's console: one line per task event, a heartbeat while long tasks run, a summary."""

from __future__ import annotations

import io
import json

from churnlake.monitoring import console, records


def rec(event: str, family: str = "SilverCustomers", **extra) -> dict:
    return {"event": event, "task_family": family, "task_id": f"{family}_2026_11_27_x",
            "params": {"run_date": "2026-11-27", **extra.pop("params", {})}, "is_wrapper": False, **extra}


def test_lines_name_the_task_its_parameters_duration_rows_and_failure():
    assert console.format_event(rec(records.START, attempt=1), 7) == "[  0:07] started  SilverCustomers"
    assert console.format_event(rec(records.START, attempt=2), 7).endswith("SilverCustomers (attempt 2)")
    done = console.format_event(rec(records.SUCCESS, "ValidateBronze", params={"table": "crm_customers"},
                                    duration_s=12.34, job={"rows_in": 7043, "rows_out": 7040}), 75)
    assert done.startswith("[  1:15] done     ValidateBronze[crm_customers]")
    assert done.endswith("12.3s  rows 7043 -> 7040")
    note = "nothing new: batch web-access_logs-2026-11-27T05 brought no rows"
    skipped = console.format_event(rec(records.SUCCESS, "SilverWebEvents", params={"run_hour": 5},
                                       duration_s=0.01, note=note), 3)
    assert skipped.startswith("[  0:03] done     SilverWebEvents[5]") and skipped.endswith(f"0.0s  {note}")
    failed = console.format_event(rec(records.FAILURE, attempt=1, error="FAILED after 3.0s: KeyError: x\ntrace"), 3600)
    assert failed == "[1:00:00] FAILED   SilverCustomers (attempt 1)  FAILED after 3.0s: KeyError: x"
    assert console.format_event(rec(records.ALREADY_DONE), 1).endswith("already done")
    assert console.format_event(rec(records.SCHEDULED), 1) is None
    assert console.format_event({**rec(records.START), "is_wrapper": True}, 1) is None


def test_summary_counts_a_retried_task_once_as_done():
    summary = console.Summary()
    for r in (rec(records.FAILURE, error="boom"), rec(records.SUCCESS), rec(records.ALREADY_DONE, "BronzeCrm"),
              rec(records.FAILURE, "TrainModel", error="FAILED after 1s: ValueError: no")):
        summary.add(r)
    lines = summary.lines(125)
    assert lines[0] == "1 task(s) ran, 1 already done, 1 failed, in 2:05"
    assert lines[1:] == ["  FAILED TrainModel: FAILED after 1s: ValueError: no"]


def test_progress_prints_only_what_is_appended_after_it_starts(tmp_path):
    path = tmp_path / "task_runs.jsonl"
    path.write_text(json.dumps(rec(records.SUCCESS, "Old", duration_s=1)) + "\n")
    out = io.StringIO()
    now = [100.0]
    progress = console.Progress(path, out, clock_fn=lambda: now[0])
    with open(path, "a") as fh:
        fh.write(json.dumps(rec(records.START, attempt=1)) + "\n")
        fh.write('{"event": "SUCC')  # a line still being written is left for the next poll
    now[0] = 110.0
    progress.poll()
    assert out.getvalue().splitlines() == ["[  0:10] started  SilverCustomers"]
    with open(path, "a") as fh:
        fh.write('ESS", "task_family": "SilverCustomers", "task_id": "SilverCustomers_2026_11_27_x", '
                 '"params": {}, "duration_s": 9.5}\n')
    summary = progress.stop()
    assert out.getvalue().splitlines()[-1].startswith("[  0:10] done     SilverCustomers")
    assert summary.done == ["SilverCustomers"] and "Old" not in out.getvalue()
