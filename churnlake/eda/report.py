"""The EDA report: PNG plots, CSV tables and one self-contained ``index.html``.

Layout of a report folder (``<reports_dir>/eda/<run-date>/`` for the job)::

    index.html                    every plot and table on one page (images embedded)
    histograms.png                numeric columns, stayed vs churned
    boxplots.png                  numeric columns, stayed vs churned
    churn_rate_by_category.png    one panel per categorical column
    correlation_heatmap.png       numeric columns and the label
    summary_numeric.csv           count, nulls, mean, std, min, q1, median, q3, max
    summary_categorical.csv       count, nulls, distinct, top value and its share
    churn_rate_by_category.csv    column, category, customers, churned, churn_rate, share
    outliers.csv                  IQR fences and counts, z-score counts
    correlations.csv              the correlation matrix

The page embeds the images as base64 ``data:`` URIs, so ``index.html`` alone can be mailed
or archived and still shows everything; each figure and table also links its file.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from churnlake.config import Config
from churnlake.eda.plots import plot_boxplots, plot_churn_rates, plot_correlations, plot_histograms
from churnlake.eda.stats import LABEL, churn_rate, column_roles, compute_tables

log = logging.getLogger(__name__)

INDEX = "index.html"
TABLE_FILES: tuple[str, ...] = ("summary_numeric.csv", "summary_categorical.csv",
                                "churn_rate_by_category.csv", "outliers.csv", "correlations.csv")
PLOT_FILES: tuple[str, ...] = ("histograms.png", "boxplots.png", "churn_rate_by_category.png",
                               "correlation_heatmap.png")
CSV_FLOAT_FORMAT = "%.10g"  # 10 significant digits: exact for the data, without float noise


def report_dir(cfg: Config, run_date: dt.date) -> Path:
    """Folder of the EDA report for a run date: ``<reports_dir>/eda/<YYYY-MM-DD>``."""
    return cfg.reports_dir / "eda" / run_date.isoformat()


@dataclass(frozen=True)
class ReportHeader:
    """Where the analysed data came from, shown at the top of the page."""

    source: str
    delta_version: int | None = None
    location: str | None = None
    run_date: str | None = None
    generated_at: str = ""


def render_figures(df: pd.DataFrame, tables: dict[str, pd.DataFrame] | None = None,
                   label: str = LABEL) -> dict[str, Figure]:
    """Every EDA figure, keyed by the name of its PNG file in the report."""
    tables = compute_tables(df, label) if tables is None else tables
    roles = column_roles(df, label)
    return {
        "histograms.png": plot_histograms(df, roles.numeric, label),
        "boxplots.png": plot_boxplots(df, roles.numeric, label),
        "churn_rate_by_category.png": plot_churn_rates(tables["churn_rate_by_category.csv"],
                                                       churn_rate(df, label)),
        "correlation_heatmap.png": plot_correlations(tables["correlations.csv"]),
    }


def write_report(df: pd.DataFrame, out_dir: str | Path, *, source: str = "silver.customers",
                 delta_version: int | None = None, location: str | None = None,
                 run_date: dt.date | str | None = None, generated_at: dt.datetime | None = None,
                 label: str = LABEL, dpi: int = 100) -> dict[str, Path]:
    """Write the PNGs, CSVs and ``index.html`` of ``df`` into ``out_dir``; return the files.

    The report is assembled in a sibling folder and then moved into place, so ``out_dir``
    holds either the previous complete report or the new one, never a mix. Raises
    ``ValueError`` when ``df`` is empty or its label is unusable.
    """
    if df.empty:
        raise ValueError("no rows to analyse: the EDA needs a non-empty frame")
    started = time.monotonic()
    out_dir = Path(out_dir)
    generated = (generated_at or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    header = ReportHeader(source=source, delta_version=delta_version, location=location,
                          run_date=str(run_date) if run_date is not None else None,
                          generated_at=generated.isoformat())
    tables = compute_tables(df, label)
    figures = render_figures(df, tables, label)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    images: dict[str, str] = {}
    for name, fig in figures.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        (partial / name).write_bytes(buf.getvalue())
        images[name] = base64.b64encode(buf.getvalue()).decode("ascii")
    for name, table in tables.items():
        if name == "correlations.csv":
            table.to_csv(partial / name, index_label="column", float_format=CSV_FLOAT_FORMAT)
        else:
            table.to_csv(partial / name, index=False, float_format=CSV_FLOAT_FORMAT)
    html = render_html(df, tables, images, header, label)
    (partial / INDEX).write_text(html, encoding="utf-8")
    _swap_into_place(partial, out_dir)
    log.info("EDA report of %d rows written to %s in %.1fs", len(df), out_dir / INDEX, time.monotonic() - started)
    return {name: out_dir / name for name in (INDEX, *PLOT_FILES, *TABLE_FILES)}


def _swap_into_place(partial: Path, out_dir: Path) -> None:
    old = out_dir.with_name(f".{out_dir.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(old)
    partial.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _fmt(column: str, value: object) -> str:
    """A table cell as text: shares and rates as percentages, floats with 3 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if column.endswith(("_share", "_rate")):
            return f"{value:.1%}"
        if float(value).is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.3f}"
    return str(value)


def _html_table(table: pd.DataFrame, index_label: str | None = None) -> dict:
    frame = table.reset_index(names=index_label) if index_label else table
    headers = [str(c) for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    rows = [[_fmt(h, v) for h, v in zip(headers, row)] for row in frame.itertuples(index=False)]
    return {"headers": headers, "numeric": numeric, "rows": rows}


def render_html(df: pd.DataFrame, tables: dict[str, pd.DataFrame], images: dict[str, str],
                header: ReportHeader, label: str = LABEL) -> str:
    """The report page: header, then every figure (base64 PNG) and table (from its CSV)."""
    roles = column_roles(df, label)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    page = env.from_string(_TEMPLATE)
    html_tables = {name: _html_table(t, "column" if name == "correlations.csv" else None)
                   for name, t in tables.items()}
    return page.render(
        header=header, rows=len(df), label=label, overall=churn_rate(df, label),
        numeric=roles.numeric, categorical=roles.categorical, ignored=roles.ignored,
        images=images, tables=html_tables,
    )


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>EDA: {{ header.source }}{% if header.run_date %} ({{ header.run_date }}){% endif %}</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px; color: #222; }
 h1 { margin-bottom: .3rem; } h2 { border-bottom: 1px solid #ccc; margin-top: 2.2rem; }
 dl.meta { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
 dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; }
 table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }
 th, td { border: 1px solid #ddd; padding: .2rem .5rem; }
 th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
 figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
 figcaption, p.file { font-size: .85rem; color: #555; }
</style>
</head>
<body>
<h1>Exploratory data analysis: {{ header.source }}</h1>
<dl class="meta">
 <dt>Source table</dt><dd>{{ header.source }}{% if header.location %} <code>{{ header.location }}</code>{% endif %}</dd>
 <dt>Delta version read</dt><dd id="delta-version">{{ header.delta_version if header.delta_version is not none else "n/a" }}</dd>
 <dt>Rows</dt><dd id="row-count">{{ "{:,}".format(rows) }}</dd>
 <dt>Overall {{ label }} rate</dt><dd>{{ "{:.1%}".format(overall) }}</dd>
 <dt>Numeric columns</dt><dd>{{ numeric | join(", ") or "none" }}</dd>
 <dt>Categorical columns</dt><dd>{{ categorical | join(", ") or "none" }}</dd>
 <dt>Not analysed</dt><dd>{{ ignored | join(", ") or "none" }}</dd>
 {% if header.run_date %}<dt>Run date</dt><dd>{{ header.run_date }}</dd>{% endif %}
 <dt>Generated at</dt><dd id="generated-at">{{ header.generated_at }}</dd>
</dl>

{% macro table(name) -%}
{% set t = tables[name] -%}
<table>
<thead><tr>{% for h in t.headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in t.rows %}<tr>{% for cell in row %}<td{% if t.numeric[loop.index0] %} class="num"{% endif %}>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
<p class="file">Table: <a href="{{ name }}">{{ name }}</a></p>
{%- endmacro %}
{% macro figure(name, caption) -%}
<figure>
<img src="data:image/png;base64,{{ images[name] }}" alt="{{ caption }}">
<figcaption>{{ caption }}: <a href="{{ name }}">{{ name }}</a></figcaption>
</figure>
{%- endmacro %}

<h2>Summary statistics</h2>
<h3>Numeric columns</h3>
{{ table("summary_numeric.csv") }}
<h3>Categorical columns and the label</h3>
{{ table("summary_categorical.csv") }}

<h2>Churn rate per category</h2>
{{ figure("churn_rate_by_category.png", "Churn rate per category") }}
{{ table("churn_rate_by_category.csv") }}

<h2>Distributions by {{ label }}</h2>
{{ figure("histograms.png", "Histograms of numeric columns, stayed vs churned") }}
{{ figure("boxplots.png", "Box plots of numeric columns, stayed vs churned") }}

<h2>Outliers</h2>
<p>IQR rule: below q1 - 1.5 x IQR or above q3 + 1.5 x IQR. z-score rule: |x - mean| / std &gt; 3.</p>
{{ table("outliers.csv") }}

<h2>Correlations</h2>
{{ figure("correlation_heatmap.png", "Correlation heatmap") }}
{{ table("correlations.csv") }}
</body>
</html>
"""
