"""The data-quality report of a run date: CSV, HTML and a PDF made from the same HTML.

Written to ``<reports_dir>/quality/<run date>/`` by every validation job from the Delta
records of all tables validated for that date, so the report is complete after the last
validation and already useful (including the reason) when a run stopped.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pandas as pd
from jinja2 import Environment, select_autoescape

REPORT_COLUMNS = ["run_id", "table_name", "check_id", "expectation", "column_name", "severity",
                  "success", "element_count", "unexpected_count", "unexpected_percent",
                  "sample_values", "observed_value", "resolution", "description", "error"]
RUN_COLUMNS = ["run_id", "table_name", "status", "batches", "rows_in", "rows_passed",
               "rows_quarantined", "rows_blocked", "checks", "checks_failed", "duration_s"]

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Data-quality report {{ run_date }}</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; font-size: 10pt; margin: 1.5em; color: #222; }
h1 { font-size: 16pt; } h2 { font-size: 13pt; margin-top: 1.4em; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0; }
th, td { border: 1px solid #bbb; padding: 3px 5px; text-align: left; vertical-align: top; font-size: 8.5pt; }
th { background: #e8e8e8; }
.stopped { background: #f6c7c7; } .warned { background: #fbe9b7; } .passed { background: #d4efd4; }
.critical { color: #a40000; font-weight: bold; } .warning { color: #8a5a00; } .info { color: #555; }
.small { color: #555; font-size: 8pt; }
</style></head><body>
<h1>Data-quality report &mdash; run date {{ run_date }}</h1>
<p class="small">Generated {{ generated_at }} UTC from quality.validation_runs and
quality.validation_results. Overall status: <b>{{ overall }}</b>.
Files: report.csv (every check), runs.csv (one line per table), report.pdf.</p>

<h2>Tables</h2>
<table><tr><th>Table</th><th>Status</th><th>Batches</th><th>Rows in</th><th>To silver</th>
<th>Quarantined</th><th>Blocked</th><th>Checks failed</th><th>Seconds</th></tr>
{% for r in runs %}<tr class="{{ r.status }}"><td>{{ r.table_name }}</td><td>{{ r.status }}</td>
<td>{{ r.batches }}</td><td>{{ r.rows_in }}</td><td>{{ r.rows_passed }}</td><td>{{ r.rows_quarantined }}</td>
<td>{{ r.rows_blocked }}</td><td>{{ r.checks_failed }} / {{ r.checks }}</td><td>{{ r.duration_s }}</td></tr>
{% endfor %}</table>
<p class="small">Rows in = rows to silver + quarantined + blocked (a stopped run blocks its batches).</p>

<h2>Issues found and resolutions applied</h2>
{% if issues %}<table><tr><th>Table</th><th>Check</th><th>Column</th><th>Severity</th><th>Unexpected</th>
<th>%</th><th>Sample values / observed</th><th>Resolution</th></tr>
{% for i in issues %}<tr><td>{{ i.table_name }}</td><td>{{ i.check_id }}<br><span class="small">{{ i.expectation }}</span>
{% if i.description %}<br><span class="small">{{ i.description }}</span>{% endif %}</td>
<td>{{ i.column_name or "" }}</td><td class="{{ i.severity }}">{{ i.severity }}</td>
<td>{{ i.unexpected_count if i.unexpected_count is not none else "" }}</td>
<td>{{ "%.2f"|format(i.unexpected_percent) if i.unexpected_percent is not none else "" }}</td>
<td>{{ i.samples }}{% if i.error %}<br><b>error:</b> {{ i.error }}{% endif %}</td><td>{{ i.resolution }}</td></tr>
{% endfor %}</table>{% else %}<p>No check failed.</p>{% endif %}

<h2>Resolutions by table</h2>
<table><tr><th>Table</th><th>Resolution</th><th>Checks</th><th>Rows involved</th></tr>
{% for s in summary %}<tr><td>{{ s.table_name }}</td><td>{{ s.resolution }}</td><td>{{ s.checks }}</td>
<td>{{ s.rows }}</td></tr>{% endfor %}</table>

<h2>All checks</h2>
<table><tr><th>Table</th><th>Check</th><th>Severity</th><th>Success</th><th>Elements</th><th>Unexpected</th></tr>
{% for c in checks %}<tr><td>{{ c.table_name }}</td><td>{{ c.check_id }}</td><td class="{{ c.severity }}">{{ c.severity }}</td>
<td>{{ "yes" if c.success else "NO" }}</td><td>{{ c.element_count if c.element_count is not none else "" }}</td>
<td>{{ c.unexpected_count if c.unexpected_count is not none else "" }}</td></tr>{% endfor %}</table>
</body></html>
"""


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (list(v) if _is_list(v) else None if pd.isna(v) else v) for k, v in row.items()}
            for row in df.to_dict("records")]


def _is_list(value) -> bool:
    """Arrays arrive as lists or numpy arrays (from ``toPandas``)."""
    return not pd.api.types.is_scalar(value) and value is not None


def render_html(run_date: dt.date, runs: pd.DataFrame, results: pd.DataFrame,
                generated_at: dt.datetime) -> str:
    """The report page (also the source of the PDF)."""
    statuses = set(runs["status"]) if len(runs) else set()
    overall = "stopped" if "stopped" in statuses else "warned" if "warned" in statuses else \
        "passed" if statuses else "no validation run"
    issues = results[~results["resolution"].astype(str).str.startswith("none")].copy() if len(results) else results
    if len(issues):
        issues["samples"] = [", ".join(map(str, s)) if _is_list(s) and len(s) else (o or "")
                             for s, o in zip(issues["sample_values"], issues["observed_value"])]
    summary = (issues.groupby(["table_name", "resolution"], as_index=False)
               .agg(checks=("check_id", "count"), rows=("unexpected_count", "sum"))
               if len(issues) else pd.DataFrame(columns=["table_name", "resolution", "checks", "rows"]))
    env = Environment(autoescape=select_autoescape(default=True))
    return env.from_string(_TEMPLATE).render(
        run_date=run_date.isoformat(), generated_at=generated_at.strftime("%Y-%m-%d %H:%M:%S"),
        overall=overall, runs=_records(runs), issues=_records(issues), summary=_records(summary),
        checks=_records(results))


def html_to_pdf(html: str, path: Path) -> None:
    """Render the HTML report to PDF (xhtml2pdf, pure Python)."""
    from xhtml2pdf import pisa

    with path.open("wb") as out:
        status = pisa.CreatePDF(html, dest=out, encoding="utf-8")
    if status.err:
        raise RuntimeError(f"PDF rendering of {path} failed with {status.err} error(s)")


def write_report(out_dir: Path, run_date: dt.date, runs: pd.DataFrame, results: pd.DataFrame,
                 generated_at: dt.datetime | None = None) -> dict[str, Path]:
    """Write report.csv, runs.csv, report.html and report.pdf; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    runs = runs.copy()
    runs["batches"] = [len(b) if _is_list(b) else 0 for b in runs["batch_ids"]] if len(runs) else []
    runs = runs.reindex(columns=RUN_COLUMNS).sort_values("table_name")
    results = results.reindex(columns=REPORT_COLUMNS).sort_values(["table_name", "check_id"])
    paths = {"csv": out_dir / "report.csv", "runs_csv": out_dir / "runs.csv",
             "html": out_dir / "report.html", "pdf": out_dir / "report.pdf"}
    csv_results = results.copy()
    csv_results["sample_values"] = ["|".join(map(str, s)) if _is_list(s) else ""
                                    for s in csv_results["sample_values"]]
    # Each file is written beside its final name and renamed into place, so a reader (or a
    # validation job of another table writing the same report) never sees half a file.
    html = render_html(run_date, runs, results, generated_at)
    writers = {"csv": lambda p: csv_results.to_csv(p, index=False),
               "runs_csv": lambda p: runs.to_csv(p, index=False),
               "html": lambda p: p.write_text(html, encoding="utf-8"),
               "pdf": lambda p: html_to_pdf(html, p)}
    for key, write in writers.items():
        partial = paths[key].with_name(f".{paths[key].name}.{os.getpid()}.{threading.get_ident()}.partial")
        write(partial)
        os.replace(partial, paths[key])
    return paths
