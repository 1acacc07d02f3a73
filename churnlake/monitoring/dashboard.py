"""The run dashboard: one self-contained HTML page per run date.

``<reports_dir>/runs/<run date>/dashboard.html`` (and ``summary.json`` beside it), written
by jobs/monitoring/run_summary.py from the run summary (churnlake.monitoring.summary) and
the recent rows of ``monitoring.pipeline_runs``. Inline CSS only: no script, font or image
is fetched, so the page opens from a file, a CI artefact or a mail attachment.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from jinja2 import Environment, select_autoescape

from churnlake.monitoring import records

DASHBOARD = "dashboard.html"
SUMMARY_JSON = "summary.json"

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>churnlake run {{ s.run_date }} &mdash; {{ s.status }}</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; font-size: 10pt; margin: 1.5em; color: #222; max-width: 1400px; }
h1 { font-size: 16pt; margin-bottom: 0.2em; } h2 { font-size: 12.5pt; margin-top: 1.6em; }
table { border-collapse: collapse; width: 100%; margin: 0.4em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; font-size: 9pt; }
th { background: #ececec; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 2px 9px; border-radius: 9px; font-weight: bold; color: #fff; }
.b-succeeded, .b-passed, .b-ok { background: #2e7d32; } .b-failed, .b-stopped { background: #c62828; }
.b-running { background: #1565c0; } .b-incomplete, .b-pending, .b-warned { background: #ef6c00; }
.b-already_done, .b-no_tasks, .b-not_validated, .b-unknown { background: #757575; }
tr.failed td { background: #fdecea; } tr.pending td, tr.running td { background: #fff4e5; }
tr.wrapper td { color: #777; }
.cards { display: flex; flex-wrap: wrap; gap: 0.7em; margin: 0.8em 0; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 0.5em 0.9em; min-width: 8em; }
.card b { display: block; font-size: 14pt; } .small { color: #555; font-size: 8.5pt; }
.bar { position: relative; height: 10px; background: #f1f1f1; min-width: 160px; }
.bar span { position: absolute; top: 0; height: 10px; background: #1565c0; }
.bar span.failed { background: #c62828; } .bar span.running { background: #ef6c00; }
.err { color: #a40000; font-size: 8.5pt; white-space: pre-wrap; word-break: break-word; }
code { font-size: 8.5pt; }
</style></head><body>
<h1>churnlake pipeline run &mdash; {{ s.run_date }} <span class="badge b-{{ s.status }}">{{ s.status }}</span></h1>
<p class="small">Summary generated {{ s.summarized_at }} from logs/task_runs.jsonl, logs/job_runs.jsonl, the Delta
logs of the lakehouse, quality.validation_runs and MLflow; stored in monitoring.pipeline_runs and
monitoring.task_runs. Invocations: {{ s.invocations|join(", ") or "none recorded" }}.</p>

<div class="cards">
<div class="card">Status<b><span class="badge b-{{ s.status }}">{{ s.status }}</span></b></div>
<div class="card">Duration<b>{{ fmt_duration(s.duration_s) }}</b><span class="small">{{ short_time(s.started_at) }} &rarr; {{ short_time(s.ended_at) }} UTC</span></div>
<div class="card">Tasks<b>{{ s.tasks_succeeded + s.tasks_already_done }} / {{ s.tasks_total }} done</b>
<span class="small">{{ s.tasks_succeeded }} ran, {{ s.tasks_already_done }} already done, {{ s.tasks_failed }} failed, {{ s.tasks_pending }} not run{% if s.tasks_running %}, {{ s.tasks_running }} running{% endif %}</span></div>
<div class="card">Attempts<b>{{ s.task_attempts }}</b><span class="small">{{ s.retries }} retr{{ "y" if s.retries == 1 else "ies" }}</span></div>
<div class="card">Data quality<b><span class="badge b-{{ s.quality_status }}">{{ s.quality_status }}</span></b>
{% if s.links.quality_report %}<a class="small" href="{{ s.links.quality_report }}">report</a>{% endif %}</div>
<div class="card">Model{% if s.key_metric %} ({{ s.key_metric }}){% endif %}<b>{{ fmt_metric(s.key_metric_value) if s.key_metric else "&ndash;"|safe }}</b>
<span class="small">{{ s.models|length }} MLflow run{{ "" if s.models|length == 1 else "s" }}</span></div>
</div>
{% if s.failed_tasks %}<p><b>Failed:</b> {% for t in s.failed_tasks %}<code>{{ t }}</code>{{ ", " if not loop.last }}{% endfor %}</p>{% endif %}

<h2>Tasks</h2>
{% if s.tasks %}<table><tr><th>Task</th><th>Parameters</th><th>Status</th><th>Attempts</th><th>Started</th>
<th>Duration</th><th>Timeline</th><th>Rows in</th><th>Rows out</th><th>Error</th></tr>
{% for t in s.tasks %}<tr class="{{ t.status }}{{ ' wrapper' if t.is_wrapper }}"><td>{{ t.task_family }}{% if t.is_wrapper %} <span class="small">(wrapper)</span>{% endif %}</td>
<td class="small">{{ other_params(t.params) }}</td>
<td><span class="badge b-{{ t.status }}">{{ t.status }}</span></td><td class="num">{{ t.attempts }}</td>
<td class="small">{{ short_time(t.started_at) }}</td><td class="num">{{ fmt_duration(t.duration_s) }}</td>
<td>{% set b = bar(t) %}{% if b %}<div class="bar"><span class="{{ t.status }}" style="left: {{ b[0] }}%; width: {{ b[1] }}%"></span></div>{% endif %}</td>
<td class="num">{{ fmt_int(t.rows_in) }}</td><td class="num">{{ fmt_int(t.rows_out) }}</td>
<td>{% if t.error %}<div class="err">{{ t.error }}</div>{% endif %}</td></tr>
{% endfor %}</table>
<p class="small">One line per task: its latest attempt over every invocation for the date. Attempts counts runs
(a failed task is retried by the scheduler, docs/monitoring.md); "not run" tasks waited on a failed dependency.</p>
{% if retried %}<h3 style="font-size: 10.5pt">Every attempt of retried or failed tasks</h3>
<table><tr><th>Task</th><th>Invocation</th><th>Attempt</th><th>Status</th><th>Started</th><th>Duration</th><th>Error</th></tr>
{% for a in retried %}<tr class="{{ a.status }}"><td>{{ a.task_family }} <span class="small">{{ other_params(a.params) }}</span></td>
<td class="small">{{ a.invocation }}</td><td class="num">{{ a.attempt }}</td><td><span class="badge b-{{ a.status }}">{{ a.status }}</span></td>
<td class="small">{{ short_time(a.started_at) }}</td><td class="num">{{ fmt_duration(a.duration_s) }}</td>
<td>{% if a.error %}<div class="err">{{ a.error }}</div>{% endif %}</td></tr>{% endfor %}</table>{% endif %}
{% else %}<p>No task of this run date was recorded (logs/task_runs.jsonl).</p>{% endif %}

<h2>Rows per table</h2>
{% if s.tables %}<table><tr><th>Table</th><th>Delta version</th><th>Rows</th><th>Written this run</th>
<th>Commits this run</th><th>Last operation</th><th>Last commit</th><th>By job</th></tr>
{% for t in s.tables %}<tr><td>{{ t.table_name }}</td><td class="num">{{ t.delta_version }}</td><td class="num">{{ fmt_int(t.total_rows) }}</td>
<td class="num">{{ fmt_int(t.run_rows_written) }}</td><td class="num">{{ t.run_commits }}</td><td>{{ t.last_operation or "" }}</td>
<td class="small">{{ short_time(t.last_commit_at) }}</td><td class="small">{{ t.last_job or "" }}</td></tr>{% endfor %}</table>
<p class="small">Rows = the table at its latest version; written this run = numOutputRows of the commits stamped with {{ s.run_date }}.</p>
{% else %}<p>No Delta table exists yet.</p>{% endif %}
{% if s.missing_tables %}<p class="small">Not created yet: {{ s.missing_tables|join(", ") }}.</p>{% endif %}

<h2>Data quality <span class="badge b-{{ s.quality_status }}">{{ s.quality_status }}</span></h2>
{% if s.quality %}<table><tr><th>Table</th><th>Status</th><th>Rows in</th><th>Passed</th><th>Quarantined</th><th>Blocked</th><th>Checks failed</th><th>Validated</th></tr>
{% for q in s.quality %}<tr><td>{{ q.table_name }}</td><td><span class="badge b-{{ q.status }}">{{ q.status }}</span></td>
<td class="num">{{ fmt_int(q.rows_in) }}</td><td class="num">{{ fmt_int(q.rows_passed) }}</td><td class="num">{{ fmt_int(q.rows_quarantined) }}</td>
<td class="num">{{ fmt_int(q.rows_blocked) }}</td><td class="num">{{ q.checks_failed }} / {{ q.checks }}</td><td class="small">{{ short_time(q.validated_at) }}</td></tr>{% endfor %}</table>
{% else %}<p>No validation run recorded for {{ s.run_date }}.</p>{% endif %}
{% if s.links.quality_report %}<p>Full report (checks, issues, resolutions): <a href="{{ s.links.quality_report }}">quality/{{ s.run_date }}/report.html</a></p>
{% else %}<p class="small">No data-quality report for {{ s.run_date }} (reports/quality/{{ s.run_date }}/report.html).</p>{% endif %}
{% if s.links.eda_report %}<p class="small">EDA report: <a href="{{ s.links.eda_report }}">eda/{{ s.run_date }}/index.html</a></p>{% endif %}

<h2>Model</h2>
{% if s.models_error %}<p class="err">MLflow could not be read: {{ s.models_error }}</p>{% endif %}
{% if s.models %}<table><tr><th>MLflow run</th><th>Candidate</th><th>Status</th>{% for m in s.metric_columns %}<th>{{ m }}</th>{% endfor %}<th>Registered</th></tr>
{% for r in s.models %}<tr><td class="small">{{ r.run_name or "" }}<br><code>{{ r.run_id }}</code>{% if r.parent_run_id %}<br>child of <code>{{ r.parent_run_id[:8] }}</code>{% endif %}</td>
<td>{{ r.candidate or "" }}</td><td>{{ r.status }}</td>
{% for m in s.metric_columns %}<td class="num">{{ fmt_metric(r.metrics.get(m)) }}</td>{% endfor %}
<td>{% if r.model_version %}{{ r.registered_model }} v{{ r.model_version }}{% if r.aliases %} @{{ r.aliases|join(", @") }}{% endif %}{% endif %}</td></tr>{% endfor %}</table>
{% elif not s.models_error %}<p>No MLflow run is tagged churnlake.run_date = {{ s.run_date }}.</p>{% endif %}

<h2>Recent runs</h2>
{% if history %}<table><tr><th>Run date</th><th>Status</th><th>Duration</th><th>Tasks done / total</th><th>Failed</th><th>Retries</th><th>Data quality</th><th>Key metric</th><th>Summarised</th></tr>
{% for h in history %}<tr class="{{ 'failed' if h.status == 'failed' }}"><td>{% if h.run_date == s.run_date %}<b>{{ h.run_date }}</b>{% else %}<a href="../{{ h.run_date }}/dashboard.html">{{ h.run_date }}</a>{% endif %}</td>
<td><span class="badge b-{{ h.status }}">{{ h.status }}</span></td><td class="num">{{ fmt_duration(h.duration_s) }}</td>
<td class="num">{{ (h.tasks_succeeded or 0) + (h.tasks_already_done or 0) }} / {{ h.tasks_total or 0 }}</td><td class="num">{{ h.tasks_failed or 0 }}</td>
<td class="num">{{ h.retries or 0 }}</td><td><span class="badge b-{{ h.quality_status or 'unknown' }}">{{ h.quality_status or "" }}</span></td>
<td>{% if h.key_metric %}{{ h.key_metric }} {{ fmt_metric(h.key_metric_value) }}{% endif %}</td><td class="small">{{ short_time(h.summarized_at) }}</td></tr>{% endfor %}</table>
{% else %}<p>No earlier run recorded.</p>{% endif %}
</body></html>
"""


def fmt_duration(seconds) -> str:
    """``42.1 s``, ``3 min 05 s``, ``1 h 02 min``; empty for None."""
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def fmt_int(value) -> str:
    """Thousands separated; empty for None."""
    return "" if value is None else f"{int(value):,}"


def fmt_metric(value) -> str:
    """Four decimals; empty for None."""
    return "" if value is None else f"{float(value):.4f}"


def short_time(value: str | None) -> str:
    """``2026-11-27 01:02:03`` from an ISO UTC timestamp."""
    return "" if not value else value.replace("T", " ")[:19]


def other_params(params: dict | None) -> str:
    """The task parameters other than the run date (shown in the table)."""
    return ", ".join(f"{k}={v}" for k, v in sorted((params or {}).items())
                     if k not in ("run_date", "date") and v not in (None, "", "None"))


def _timeline(summary: dict):
    start = records.parse_time(summary.get("started_at"))
    end = records.parse_time(summary.get("ended_at"))
    total = (end - start).total_seconds() if start and end else 0.0

    def bar(task: dict):
        began = records.parse_time(task.get("started_at"))
        if not began or total <= 0:
            return None
        finished = records.parse_time(task.get("ended_at")) or end
        left = max(0.0, (began - start).total_seconds() / total * 100)
        width = max(0.6, (finished - began).total_seconds() / total * 100)
        return round(left, 2), round(min(width, 100 - left), 2)
    return bar


def render_dashboard(summary: dict, history: list[dict]) -> str:
    """The dashboard page of one run summary, with ``history`` (recent summaries, newest first)."""
    tasks_retried = {t["task_id"] for t in summary.get("tasks", []) if t.get("attempts", 0) > 1
                     or t["status"] == records.FAILED}
    retried = [a for a in summary.get("attempts", []) if a["task_id"] in tasks_retried and a["attempt"] > 0]
    env = Environment(autoescape=select_autoescape(default=True))
    env.globals.update(fmt_duration=fmt_duration, fmt_int=fmt_int, fmt_metric=fmt_metric, short_time=short_time,
                       other_params=other_params, bar=_timeline(summary))
    return env.from_string(_TEMPLATE).render(s=summary, history=history, retried=retried)


def merge_history(summary: dict, earlier: list[dict], limit: int) -> list[dict]:
    """This run's summary with the stored summaries of other dates: newest run date first."""
    rows = {h["run_date"]: h for h in earlier if h.get("run_date") != summary["run_date"]}
    rows[summary["run_date"]] = summary
    return [rows[d] for d in sorted(rows, reverse=True)[:limit]]


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_dashboard(out_dir: Path, summary: dict, history: list[dict]) -> dict[str, Path]:
    """Write ``dashboard.html`` and ``summary.json`` into ``out_dir``, each renamed into place
    (a reader never sees half a file). Returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"html": out_dir / DASHBOARD, "json": out_dir / SUMMARY_JSON}
    _write_atomically(paths["json"], json.dumps(summary, indent=1, sort_keys=True, default=str) + "\n")
    _write_atomically(paths["html"], render_dashboard(summary, history))
    return paths


def dashboard_dir(reports_dir: Path, run_date: dt.date | str) -> Path:
    """``<reports_dir>/runs/<run date>``."""
    return reports_dir / "runs" / str(run_date)


def report_links(reports_dir: Path, run_date: dt.date | str) -> tuple[dict[str, str], dict[str, str]]:
    """The run date's other reports that exist: relative links from the dashboard (so the
    reports folder can be copied elsewhere) and their paths."""
    day = str(run_date)
    links, paths = {}, {"dashboard": str(dashboard_dir(reports_dir, day) / DASHBOARD)}
    for key, rel in (("quality_report", f"quality/{day}/report.html"), ("eda_report", f"eda/{day}/index.html")):
        if (reports_dir / rel).is_file():
            links[key], paths[key] = f"../../{rel}", str(reports_dir / rel)
    return links, paths
