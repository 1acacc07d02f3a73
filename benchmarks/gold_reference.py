"""Gold customer features on one node, in DuckDB and pandas, side by side with Spark.

    .venv/bin/python benchmarks/gold_reference.py --as-of 2026-11-27 [--lakehouse PATH]
        [--engines spark,duckdb,pandas] [--pandas-mem-gb N] [--versions silver.invoices=12,...]
        [--repeat N] [--json-out PATH]

Every engine computes ``gold.customer_features`` as of ``--as-of`` from the **same pinned
Delta versions** of the five silver tables:

- ``spark``: the pipeline's own ``churnlake.transforms.gold.customer_features``, on the
  session spark-submit.sh would give a job: the engine when ``CHURNLAKE_ENGINE_REMOTE`` or the
  config's ``engine.remote`` names one (``auto``: this config's engine if it runs;
  ``churnlake.spark.get_spark``), else a local classic session (``churnlake.spark.local_spark``;
  ``--spark-master`` forces it, ``--spark-driver-memory``); each table read with ``versionAsOf``;
- ``duckdb``: one SQL statement over the Parquet files that are active in the pinned versions;
- ``pandas``: the same logic in pandas over the same files (read with pyarrow).

The file lists come from replaying each table's ``_delta_log`` here (latest checkpoint at or
below the version, then the JSON commits after it: ``add``/``remove``, partition values);
the replay for the pinned version is part of each single-node engine's timed read, as Delta's
is part of Spark's. Versions default to the latest, except ``silver.customers``: like the
gold job, the version written by the latest run for a date up to the as-of date (the
latest version when no commit carries a run date). They are printed and saved.

Each engine runs in its own subprocess (clean peak RSS; pandas with an optional address-space
cap ``--pandas-mem-gb``, so running out of memory is observed and reported as
``OOM at N GB``: a MemoryError, an allocation or thread-stack failure, or a kill; the cap is on
address space, which runs ahead of resident memory, so pandas fails with somewhat less than
N GB resident). Time = resolve the snapshot + read + aggregate + materialise the whole
result in the driver (a pyarrow Table for Spark ``toArrow()`` and DuckDB ``.arrow()``, a
pandas DataFrame for pandas); session start-up is reported apart. Peak RSS: the worker's
``ru_maxrss``, plus the driver JVM's ``VmHWM`` for classic Spark.

``--repeat N`` runs each engine N times in its process and reports the best (all runs are in
the JSON): a new JVM's first run pays class loading and JIT warm-up.

The results are compared per customer with Spark's (or the first engine run): same customer
set; numeric features equal within 1e-6 relative, nulls in the same places; text equal. A
difference is reported by feature name with an example customer and makes the exit status 1.
One exception, counted in the check's ``rounding_ties`` instead: a rounded feature whose two
values are one unit of its last decimal apart around an exact tie (x.5 units). Spark's
``round`` is HALF_UP on the double's decimal form, which both references reproduce, but which
side of a tie a mean lands on depends on the order of the floating-point sum (Spark's
partitions; pandas sums with compensation). Exit status: 0, 1 on a mismatch, 2 when an engine
failed other than by running out of memory (an OOM is a result).
Output: one JSON line per engine and one for the check, then a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from churnlake.tables import (SILVER_CUSTOMERS, SILVER_INVOICES, SILVER_PAYMENTS,  # noqa: E402
                              SILVER_TICKETS, SILVER_WEB_EVENTS, Table)

# churnlake.features.columns imports no pyspark, so the DuckDB and pandas workers do not load it.
from churnlake.features.columns import (ADDON_SERVICES, BILLING_FEATURES, CATEGORICAL_FEATURES,  # noqa: E402,F401
                                       CRM_NUMERIC_FEATURES, NUMERIC_FEATURES, SESSION_GAP_MINUTES,
                                       TICKET_FEATURES, WEB_FEATURES, ZERO_WHEN_ABSENT)

CRM_FLAGS = CRM_NUMERIC_FEATURES[:5]
OUTPUT_COLUMNS = ("customer_id", *CATEGORICAL_FEATURES, *NUMERIC_FEATURES, "as_of_date")
SESSION_GAP_SECONDS = SESSION_GAP_MINUTES * 60
#: Decimal places of the features gold.py rounds (F.round: HALF_UP on the double's decimal form).
ROUND_SCALE = {"avg_monthly_spend": 4, "total_spend": 2, "avg_invoice_amount": 4, "spend_last_3m": 2,
               "spend_prev_3m": 2, "spend_trend": 4, "late_or_failed_share": 4, "avg_resolution_hours": 3,
               "avg_satisfaction": 4, "sessions_per_week": 4, "activity_frequency": 4}

SOURCES: dict[str, Table] = {"customers": SILVER_CUSTOMERS, "invoices": SILVER_INVOICES,
                             "payments": SILVER_PAYMENTS, "tickets": SILVER_TICKETS,
                             "events": SILVER_WEB_EVENTS}
#: The columns each engine reads, with the type it reads them as.
COLUMNS: dict[str, dict[str, str]] = {
    "customers": {"customer_id": "string", **{c: "string" for c in CATEGORICAL_FEATURES},
                  **{c: "boolean" for c in CRM_FLAGS}, "tenure_months": "int",
                  "monthly_charges": "double", "total_charges": "double"},
    "invoices": {"customer_id": "string", "billing_month": "date", "amount": "double",
                 "issued_at": "timestamp", "valid_from": "timestamp", "valid_to": "timestamp"},
    "payments": {"customer_id": "string", "status": "string", "paid_at": "timestamp",
                 "valid_from": "timestamp", "valid_to": "timestamp"},
    "tickets": {"customer_id": "string", "created_at": "timestamp", "resolved_at": "timestamp",
                "resolution_hours": "double", "satisfaction": "int", "category": "string",
                "valid_from": "timestamp", "valid_to": "timestamp"},
    "events": {"customer_id": "string", "event_time": "timestamp", "path": "string"},
}
ENGINES = ("spark", "duckdb", "pandas")
EXIT_MISMATCH, EXIT_ENGINE_FAILED = 1, 2
#: Failures that mean "out of memory" when they are not a MemoryError (a C library under an
#: RLIMIT_AS cap cannot map a shared object or allocate; the JVM's heap is exhausted).
OOM_MARKERS = ("OutOfMemory", "Cannot allocate memory", "std::bad_alloc", "failed to map segment",
               "Unable to allocate", "Memory allocation", "out of memory")
#: Under the address-space cap only: a thread's stack could not be mapped.
CAPPED_OOM_MARKERS = ("can't start new thread", "Resource temporarily unavailable")


# --- Delta log replay ----------------------------------------------------------------------

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?\.parquet$")
_V2_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint\.[0-9a-fA-F-]{36}\.(json|parquet)$")


def local_path(location: str | Path) -> Path:
    """A local folder from a path or a ``file:`` URI (DuckDB and pandas read local files only)."""
    text = str(location)
    if text.startswith("file:"):
        return Path(unquote(urlparse(text).path))
    if "://" in text:
        raise ValueError(f"{text}: the single-node reference reads a local lakehouse only "
                         "(copy the silver tables to a local folder, or use --lakehouse)")
    return Path(text).resolve()


@dataclass
class DataFile:
    """One active Parquet file of a snapshot."""

    path: str  # absolute local path
    partition_values: dict[str, str | None] = field(default_factory=dict)
    size: int | None = None


@dataclass
class Snapshot:
    """The state of a Delta table at one version, as replayed from its log."""

    table: str
    location: str
    version: int
    files: list[DataFile]
    schema: dict[str, str]  # column -> Delta type name
    partition_columns: list[str]
    checkpoint_version: int | None  # the checkpoint the replay started from
    commits_replayed: int

    def summary(self) -> dict[str, Any]:
        """What the output records about the pinned version."""
        return {"version": self.version, "files": len(self.files),
                "bytes": sum(f.size or 0 for f in self.files),
                "partition_columns": self.partition_columns,
                "checkpoint_version": self.checkpoint_version, "commits_replayed": self.commits_replayed}


def _log_listing(table_dir: Path) -> tuple[dict[int, Path], dict[int, list[Path]]]:
    log = table_dir / "_delta_log"
    if not log.is_dir():
        raise FileNotFoundError(f"{table_dir} is not a Delta table (no _delta_log)")
    commits: dict[int, Path] = {}
    parts: dict[int, dict[tuple[int, int], Path]] = {}
    v2: set[int] = set()
    for entry in log.iterdir():
        if m := _COMMIT.match(entry.name):
            commits[int(m.group(1))] = entry
        elif m := _CHECKPOINT.match(entry.name):
            part, total = (int(m.group(2)), int(m.group(3))) if m.group(2) else (1, 1)
            parts.setdefault(int(m.group(1)), {})[(part, total)] = entry
        elif m := _V2_CHECKPOINT.match(entry.name):
            v2.add(int(m.group(1)))
    checkpoints: dict[int, list[Path]] = {}
    for version, found in parts.items():
        for total in sorted({t for _, t in found}):  # a complete set of parts (single file: 1 of 1)
            if all((i, total) in found for i in range(1, total + 1)):
                checkpoints[version] = [found[(i, total)] for i in range(1, total + 1)]
                break
    for version in v2 - set(checkpoints):
        checkpoints[version] = []  # marker: a v2 checkpoint, not supported (raised if needed)
    return commits, checkpoints


def latest_version(table_dir: Path) -> int:
    """The newest version of the table (its last commit file)."""
    commits, checkpoints = _log_listing(table_dir)
    if not commits and not checkpoints:
        raise FileNotFoundError(f"{table_dir}: the Delta log holds no commit")
    return max([*commits, *checkpoints])


def _partition_values(value: Any) -> dict[str, str | None]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    return {k: v for k, v in value}  # a Parquet map read by pyarrow: list of (key, value)


def _checkpoint_actions(files: list[Path]) -> list[dict]:
    import pyarrow.parquet as pq

    actions: list[dict] = []
    for path in files:
        names = set(pq.read_schema(path).names)
        cols = [c for c in ("protocol", "metaData", "add", "remove") if c in names]
        for row in pq.read_table(path, columns=cols).to_pylist():
            actions.extend({k: v} for k, v in row.items() if v is not None)
    return actions


def _json_actions(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _file_path(table_dir: Path, path: str) -> str:
    if "://" in path or path.startswith("file:"):
        return str(local_path(path))
    return str(table_dir / unquote(path))


def read_snapshot(location: str | Path, version: int | None = None, *, name: str = "") -> Snapshot:
    """Replay the log of the Delta table at ``location`` up to ``version`` (default latest):
    the latest complete checkpoint at or below it, then every JSON commit after it."""
    table_dir = local_path(location)
    commits, checkpoints = _log_listing(table_dir)
    target = latest_version(table_dir) if version is None else int(version)
    below = [v for v in checkpoints if v <= target]
    start = max(below) if below else None
    if start is not None and not checkpoints[start]:
        raise NotImplementedError(f"{table_dir}: version {start} has a v2 (UUID-named) checkpoint, "
                                  "which this replay does not read")
    first = 0 if start is None else start + 1
    missing = [v for v in range(first, target + 1) if v not in commits]
    if missing:
        raise FileNotFoundError(f"{table_dir}: cannot rebuild version {target}: commit {missing[0]} is no longer "
                                "in the log (log retention) and no checkpoint at or below it covers it")
    actions = _checkpoint_actions(checkpoints[start]) if start is not None else []
    for v in range(first, target + 1):
        actions.extend(_json_actions(commits[v]))
    active: dict[str, dict] = {}
    meta: dict | None = None
    for action in actions:
        if "metaData" in action:
            meta = action["metaData"]
        elif "add" in action:
            add = action["add"]
            if add.get("deletionVector"):
                raise NotImplementedError(f"{table_dir}: file {add['path']} has a deletion vector; "
                                          "this replay reads tables without deletion vectors only")
            active[add["path"]] = add
        elif "remove" in action:
            active.pop(action["remove"]["path"], None)
    if meta is None:
        raise ValueError(f"{table_dir}: no metaData action up to version {target}")
    config = _partition_values(meta.get("configuration"))  # a map: a dict in JSON, pairs in a checkpoint
    if (config.get("delta.columnMapping.mode") or "none") != "none":
        raise NotImplementedError(f"{table_dir}: column mapping ({config['delta.columnMapping.mode']}) "
                                  "gives Parquet columns physical names; not supported here")
    schema = {f["name"]: (f["type"] if isinstance(f["type"], str) else f["type"].get("type", "struct"))
              for f in json.loads(meta["schemaString"])["fields"]}
    files = [DataFile(_file_path(table_dir, p), _partition_values(a.get("partitionValues")), a.get("size"))
             for p, a in sorted(active.items())]
    return Snapshot(name or str(table_dir), str(table_dir), target, files, schema,
                    list(meta.get("partitionColumns") or []), start, target + 1 - first)


def commit_run_dates(location: str | Path) -> list[tuple[str, int]]:
    """(run date, version) of every commit still in the log whose ``userMetadata`` names a run
    date (what jobs/gold/customer_features.run_versions reads)."""
    table_dir = local_path(location)
    commits, _ = _log_listing(table_dir)
    out = []
    for version, path in sorted(commits.items()):
        for action in _json_actions(path):
            meta = (action.get("commitInfo") or {}).get("userMetadata")
            if isinstance(meta, str):
                try:
                    meta = json.loads(meta)
                except json.JSONDecodeError:
                    continue
            if isinstance(meta, dict) and meta.get("run_date"):
                out.append((str(meta["run_date"]), version))
    return out


def _gold_job():
    spec = importlib.util.spec_from_file_location("_gold_job", ROOT / "jobs" / "gold" / "customer_features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pin_versions(lakehouse: str | Path, as_of: dt.date, overrides: dict[str, int] | None = None
                 ) -> tuple[dict[str, int], dict[str, str]]:
    """The Delta version of each silver source, and how it was chosen.

    ``silver.customers``: the gold job's rule (``snapshot_version``: the latest version written by
    a run for a date up to ``as_of``), or the latest version when no commit carries a run date;
    the other tables: the latest version. ``overrides`` (by source or table name) win."""
    overrides = overrides or {}
    root = local_path(lakehouse)
    versions, rules = {}, {}
    for source, table in SOURCES.items():
        location = root / table.relpath
        given = overrides.get(source, overrides.get(table.name))
        if given is not None:
            versions[source], rules[source] = int(given), "given"
            continue
        if source == "customers":
            dated = commit_run_dates(location)
            if dated:
                versions[source] = _gold_job().snapshot_version(dated, table, as_of)
                rules[source] = f"latest run for a date <= {as_of} (as the gold job)"
                continue
        versions[source], rules[source] = latest_version(location), "latest"
    return versions, rules


def snapshots(lakehouse: str | Path, versions: dict[str, int]) -> dict[str, Snapshot]:
    """The replayed snapshot of every silver source at its pinned version."""
    root = local_path(lakehouse)
    return {s: read_snapshot(root / t.relpath, versions[s], name=t.name) for s, t in SOURCES.items()}


# --- as-of instants (churnlake.transforms.gold) -----------------------------------------------

def _bounds(as_of: dt.date) -> dict[str, Any]:
    midnight = dt.time()
    first = as_of.replace(day=1)

    def months_back(n: int) -> dt.date:
        y, m = divmod(first.year * 12 + first.month - 1 - n, 12)
        return dt.date(y, m + 1, 1)

    return {"as_of": as_of,
            "cutoff": dt.datetime.combine(as_of + dt.timedelta(days=1), midnight),
            "month_2": months_back(2), "month_5": months_back(5),
            "six_months": dt.datetime.combine(as_of - dt.timedelta(days=180), midnight),
            "d90": dt.datetime.combine(as_of - dt.timedelta(days=89), midnight),
            "web_start": dt.datetime.combine(as_of - dt.timedelta(days=27), midnight)}


# --- DuckDB ----------------------------------------------------------------------------------

_DUCK_TYPES = {"string": "VARCHAR", "boolean": "BOOLEAN", "int": "INTEGER", "double": "DOUBLE",
               "date": "DATE", "timestamp": "TIMESTAMP"}


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _duck_relation(snap: Snapshot, columns: dict[str, str]) -> str:
    """A SELECT of ``columns`` (cast to the types gold.py sees) over the snapshot's files;
    partition columns come from the log's partition values, not from the file paths."""
    missing = [c for c in columns if c not in snap.schema]
    if missing:
        raise ValueError(f"{snap.table} v{snap.version} has no column {', '.join(missing)}")
    typed = ", ".join(f"CAST({_q(c)} AS {_DUCK_TYPES[t]}) AS {_q(c)}" for c, t in columns.items())
    if not snap.files:
        nulls = ", ".join(f"CAST(NULL AS {_DUCK_TYPES[t]}) AS {_q(c)}" for c, t in columns.items())
        return f"SELECT {nulls} WHERE false"
    files = "[" + ", ".join(_sql_str(f.path) for f in snap.files) + "]"
    from_parts = [c for c in columns if c in snap.partition_columns]
    if not from_parts:
        return f"SELECT {typed} FROM read_parquet({files}, union_by_name = true)"
    values = ", ".join("(" + ", ".join([_sql_str(f.path), *[
        "NULL" if f.partition_values.get(c) is None else _sql_str(f.partition_values[c]) for c in from_parts]]) + ")"
        for f in snap.files)
    names = ", ".join(["_file", *[_q(c) for c in from_parts]])
    data_cols = ", ".join(["filename", *[_q(c) for c in columns if c not in from_parts]])
    return (f"SELECT {typed} FROM (SELECT {data_cols} FROM read_parquet({files}, union_by_name = true, "
            f"filename = true)) d JOIN (VALUES {values}) p({names}) ON d.filename = p._file")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


#: Spark's round(double, s): HALF_UP on the double's shortest decimal form (BigDecimal.valueOf);
#: DuckDB's VARCHAR form of a double is the shortest one, and VARCHAR -> DECIMAL rounds half up.
_DUCK_MACROS = "\n".join(
    f"CREATE OR REPLACE MACRO round{s}(x) AS CASE WHEN isfinite(x) THEN "
    f"CAST(CAST(CAST(x AS VARCHAR) AS DECIMAL(38, {s})) AS DOUBLE) ELSE x END;" for s in (0, 2, 3, 4))

DUCKDB_FEATURES_SQL = """
WITH
crm AS (
  SELECT customer_id, {categoricals}, {flags},
         tenure_months, monthly_charges, total_charges,
         round4(CASE WHEN tenure_months > 0 THEN total_charges / tenure_months ELSE monthly_charges END)
           AS avg_monthly_spend,
         {addons} AS num_addon_services
  FROM customers),
inv AS (
  SELECT * FROM invoices
  WHERE valid_from <= {cutoff} AND (valid_to IS NULL OR valid_to > {cutoff}) AND issued_at < {cutoff}),
spend AS (
  SELECT customer_id,
         round2(sum(amount)) AS total_spend,
         round4(avg(amount)) AS avg_invoice_amount,
         round2(sum(CASE WHEN billing_month >= {month_2} THEN amount ELSE 0.0 END)) AS spend_last_3m,
         round2(sum(CASE WHEN billing_month >= {month_5} AND billing_month < {month_2} THEN amount ELSE 0.0 END))
           AS spend_prev_3m,
         min(billing_month) AS first_billing_month
  FROM inv GROUP BY customer_id),
pay AS (
  SELECT * FROM payments WHERE valid_from <= {cutoff} AND (valid_to IS NULL OR valid_to > {cutoff})),
behaviour AS (
  SELECT customer_id,
         sum(CAST(status = 'late' AS INTEGER)) AS payments_late,
         sum(CAST(status = 'failed' AS INTEGER)) AS payments_failed,
         sum(CAST(status IN ('late', 'failed') AND coalesce(paid_at, valid_from) >= {six_months} AS INTEGER))
           AS late_or_failed_6m,
         round4(avg(CAST(status IN ('late', 'failed') AS DOUBLE))) AS late_or_failed_share,
         {as_of} - CAST(max(paid_at) AS DATE) AS days_since_last_payment
  FROM pay GROUP BY customer_id),
billing AS (
  SELECT customer_id, s.total_spend, s.avg_invoice_amount, s.spend_last_3m, s.spend_prev_3m,
         CASE WHEN s.spend_prev_3m > 0 THEN round4((s.spend_last_3m - s.spend_prev_3m) / s.spend_prev_3m) END
           AS spend_trend,
         s.first_billing_month, b.payments_late, b.payments_failed, b.late_or_failed_6m,
         b.late_or_failed_share, b.days_since_last_payment
  FROM spend s FULL OUTER JOIN behaviour b USING (customer_id)),
tk AS (
  SELECT customer_id,
         count(*) AS tickets_total,
         sum(CAST(created_at >= {d90} AS INTEGER)) AS tickets_90d,
         sum(CAST(NOT (resolved_at IS NOT NULL AND resolved_at < {cutoff}) AS INTEGER)) AS open_tickets,
         sum(CAST(category = 'cancellation' AND created_at >= {d90} AS INTEGER)) AS cancellation_tickets_90d,
         round3(avg(CASE WHEN resolved_at IS NOT NULL AND resolved_at < {cutoff} THEN resolution_hours END))
           AS avg_resolution_hours,
         round4(avg(satisfaction)) AS avg_satisfaction,
         {as_of} - CAST(max(created_at) AS DATE) AS days_since_last_ticket
  FROM tickets
  WHERE valid_from <= {cutoff} AND (valid_to IS NULL OR valid_to > {cutoff}) AND created_at < {cutoff}
  GROUP BY customer_id),
known AS (
  SELECT customer_id, event_time, path FROM events WHERE customer_id IS NOT NULL AND event_time < {cutoff}),
last_seen AS (
  SELECT customer_id, max(event_time) AS last_event FROM known GROUP BY customer_id),
win AS (
  SELECT customer_id, event_time, path,
         floor(epoch(event_time))
           - floor(epoch(lag(event_time) OVER (PARTITION BY customer_id ORDER BY event_time))) AS gap
  FROM known WHERE event_time >= {web_start}),
recent AS (
  SELECT customer_id,
         count(*) AS events_28d,
         sum(CASE WHEN gap IS NULL OR gap > {gap} THEN 1 ELSE 0 END) AS sessions_28d,
         count(DISTINCT CAST(event_time AS DATE)) AS active_days_28d,
         sum(CAST(path = '/account/cancel' AS INTEGER)) AS cancel_page_views_28d
  FROM win GROUP BY customer_id),
web AS (
  SELECT customer_id, r.events_28d, r.sessions_28d, round4(CAST(r.sessions_28d AS DOUBLE) / 4.0) AS sessions_per_week,
         r.active_days_28d, round4(CAST(r.active_days_28d AS DOUBLE) / 28.0) AS activity_frequency, r.cancel_page_views_28d,
         {as_of} - CAST(l.last_event AS DATE) AS days_since_last_activity
  FROM last_seen l LEFT JOIN recent r USING (customer_id))
SELECT {select}
FROM crm c
LEFT JOIN billing b USING (customer_id)
LEFT JOIN tk t USING (customer_id)
LEFT JOIN web w USING (customer_id)
"""


def duckdb_sql(as_of: dt.date) -> str:
    """The DuckDB statement of the gold features (views customers, invoices, payments, tickets,
    events must exist)."""
    b = _bounds(as_of)
    lit = {k: (f"DATE '{v.isoformat()}'" if type(v) is dt.date else f"TIMESTAMP '{v.isoformat(sep=' ')}'")
           for k, v in b.items()}
    source = {**{c: "c" for c in ("customer_id", *CATEGORICAL_FEATURES, *CRM_NUMERIC_FEATURES)},
              **{c: "b" for c in BILLING_FEATURES}, **{c: "t" for c in TICKET_FEATURES},
              **{c: "w" for c in WEB_FEATURES}}
    integer = {"payments_late", "payments_failed", "late_or_failed_6m", "days_since_last_payment", "tickets_total",
               "tickets_90d", "open_tickets", "cancellation_tickets_90d", "days_since_last_ticket", "events_28d",
               "sessions_28d", "active_days_28d", "cancel_page_views_28d", "days_since_last_activity"}
    select = []
    for name in OUTPUT_COLUMNS:
        if name == "customer_id":
            select.append("customer_id")
        elif name == "as_of_date":
            select.append(f"{lit['as_of']} AS as_of_date")
        elif name == "tenure_days":
            select.append(f"CAST(coalesce({lit['as_of']} - b.first_billing_month, "
                          f"CAST(round0(CAST(c.tenure_months AS DOUBLE) * 30.4375) AS INTEGER)) AS BIGINT) AS tenure_days")
        else:
            expr = f"{source[name]}.{name}"
            if name in integer:
                expr = f"CAST({expr} AS BIGINT)"
            if name in ZERO_WHEN_ABSENT:
                expr = f"coalesce({expr}, 0)"
            select.append(f"{expr} AS {name}")
    addons = " + ".join(f"CAST({c} = 'Yes' AS INTEGER)" for c in ADDON_SERVICES)
    return DUCKDB_FEATURES_SQL.format(
        categoricals=", ".join(CATEGORICAL_FEATURES),
        flags=", ".join(f"CAST({c} AS INTEGER) AS {c}" for c in CRM_FLAGS),
        addons=addons, gap=SESSION_GAP_SECONDS, select=",\n       ".join(select), **lit)


def duckdb_features(snaps: dict[str, Snapshot], as_of: dt.date, con=None):
    """The gold features as a pyarrow Table, computed by DuckDB over the snapshots' files."""
    import duckdb

    con = con or duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(_DUCK_MACROS)
    for source, cols in COLUMNS.items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {source} AS {_duck_relation(snaps[source], cols)}")
    result = con.sql(duckdb_sql(as_of))
    return result.to_arrow_table() if hasattr(result, "to_arrow_table") else result.arrow()


# --- pandas ----------------------------------------------------------------------------------

def spark_round(values, scale: int):
    """Spark's ``round(double, scale)`` on a float Series: HALF_UP on the shortest decimal form.

    Away from a tie every rounding mode agrees, so numpy rounds; values within 1e-6 of a tie
    (after scaling) are rounded exactly with ``Decimal(repr(x))``."""
    import numpy as np
    import pandas as pd

    x = pd.Series(values, dtype="float64")
    scaled = x.abs() * 10.0 ** scale
    out = np.sign(x) * np.floor(scaled + 0.5) / 10.0 ** scale
    near = ((scaled - np.floor(scaled)) - 0.5).abs() < 1e-6 + scaled * 1e-15
    quantum = Decimal(1).scaleb(-scale)
    for i in np.flatnonzero(near.to_numpy()):
        v = float(x.iat[i])
        if math.isfinite(v):
            out.iat[i] = float(Decimal(repr(v)).quantize(quantum, rounding=ROUND_HALF_UP))
    return out.where(np.isfinite(x), x)


def _read_pandas(snap: Snapshot, columns: dict[str, str]):
    """The snapshot's rows (``columns`` only) as a pandas DataFrame; timestamps as naive UTC."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    frames = []
    for f in snap.files:
        present = set(pq.read_schema(f.path).names)
        table = pq.read_table(f.path, columns=[c for c in columns if c in present])
        for c in columns:
            if c not in present:
                value = f.partition_values.get(c) if c in snap.partition_columns else None
                table = table.append_column(c, pa.array([value] * table.num_rows, pa.string()))
        frames.append(table.select(list(columns)).to_pandas())
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: [] for c in columns})
    for c, kind in columns.items():
        s = df[c]
        if kind == "timestamp":
            s = pd.to_datetime(s, utc=True).dt.tz_convert("UTC").dt.tz_localize(None)
        elif kind == "date":
            s = pd.to_datetime(s)
        elif kind in ("double", "int"):
            s = pd.to_numeric(s, errors="coerce").astype("float64")
        elif kind == "boolean":
            s = s.map({True: 1.0, False: 0.0, "true": 1.0, "false": 0.0}).astype("float64")
        else:
            s = s.astype(object).where(s.notna(), None)
        df[c] = s
    return df


def _valid_at(df, cutoff):
    return df[(df["valid_from"] <= cutoff) & (df["valid_to"].isna() | (df["valid_to"] > cutoff))]


def _days_before(as_of: dt.date, times):
    import pandas as pd

    return (pd.Timestamp(as_of) - times.dt.floor("D")).dt.days.astype("float64")


def _sum(series_by_group):
    return series_by_group.sum(min_count=1)  # SQL sum: null when every input is null


def pandas_features(snaps: dict[str, Snapshot], as_of: dt.date):
    """The gold features as a pandas DataFrame, computed with pandas over the snapshots' files."""
    import numpy as np
    import pandas as pd

    b = _bounds(as_of)
    cutoff = pd.Timestamp(b["cutoff"])
    data = {s: _read_pandas(snaps[s], cols) for s, cols in COLUMNS.items()}

    # CRM
    c = data["customers"]
    crm = c[["customer_id", *CATEGORICAL_FEATURES, *CRM_FLAGS, "tenure_months", "monthly_charges",
             "total_charges"]].copy()
    tenure = crm["tenure_months"]
    per_month = pd.Series(np.where(tenure.fillna(0) > 0, crm["total_charges"] / tenure.where(tenure != 0),
                                   crm["monthly_charges"]), index=crm.index)
    crm["avg_monthly_spend"] = spark_round(per_month, 4)
    addons = pd.concat([c[a].eq("Yes").astype("float64").where(c[a].notna()) for a in ADDON_SERVICES], axis=1)
    crm["num_addon_services"] = addons.sum(axis=1, skipna=False)

    # billing
    inv = _valid_at(data["invoices"], cutoff)
    inv = inv[inv["issued_at"] < cutoff].copy()
    month = inv["billing_month"]
    inv["_last"] = np.where(month >= pd.Timestamp(b["month_2"]), inv["amount"], 0.0)
    inv["_prev"] = np.where((month >= pd.Timestamp(b["month_5"])) & (month < pd.Timestamp(b["month_2"])),
                            inv["amount"], 0.0)
    g = inv.groupby("customer_id", sort=False)
    spend = pd.DataFrame({"total_spend": spark_round(_sum(g["amount"]), 2),
                          "avg_invoice_amount": spark_round(g["amount"].mean(), 4),
                          "spend_last_3m": spark_round(_sum(g["_last"]), 2),
                          "spend_prev_3m": spark_round(_sum(g["_prev"]), 2),
                          "_first_billing_month": g["billing_month"].min()})
    prev = spend["spend_prev_3m"]
    spend["spend_trend"] = spark_round(((spend["spend_last_3m"] - prev) / prev).where(prev > 0), 4)
    pay = _valid_at(data["payments"], cutoff).copy()
    status = pay["status"]
    bad = status.isin(["late", "failed"])
    when = pay["paid_at"].fillna(pay["valid_from"])
    pay["_late"] = status.eq("late").astype("float64")
    pay["_failed"] = status.eq("failed").astype("float64")
    pay["_bad6m"] = (bad & (when >= pd.Timestamp(b["six_months"]))).astype("float64")
    pay["_bad"] = bad.astype("float64").where(status.notna())
    g = pay.groupby("customer_id", sort=False)
    behaviour = pd.DataFrame({"payments_late": g["_late"].sum(), "payments_failed": g["_failed"].sum(),
                              "late_or_failed_6m": g["_bad6m"].sum(),
                              "late_or_failed_share": spark_round(g["_bad"].mean(), 4),
                              "days_since_last_payment": _days_before(as_of, g["paid_at"].max())})
    billing = spend.join(behaviour, how="outer")

    # support tickets
    t = _valid_at(data["tickets"], cutoff)
    t = t[t["created_at"] < cutoff].copy()
    d90 = pd.Timestamp(b["d90"])
    resolved = t["resolved_at"].notna() & (t["resolved_at"] < cutoff)
    t["_90d"] = (t["created_at"] >= d90).astype("float64")
    t["_open"] = (~resolved).astype("float64")
    t["_cancel90"] = (t["category"].eq("cancellation") & (t["created_at"] >= d90)).astype("float64")
    t["_resolution"] = t["resolution_hours"].where(resolved)
    g = t.groupby("customer_id", sort=False)
    tickets = pd.DataFrame({"tickets_total": g.size().astype("float64"), "tickets_90d": g["_90d"].sum(),
                            "open_tickets": g["_open"].sum(), "cancellation_tickets_90d": g["_cancel90"].sum(),
                            "avg_resolution_hours": spark_round(g["_resolution"].mean(), 3),
                            "avg_satisfaction": spark_round(g["satisfaction"].mean(), 4),
                            "days_since_last_ticket": _days_before(as_of, g["created_at"].max())})

    # portal activity
    e = data["events"]
    known = e[e["customer_id"].notna() & (e["event_time"] < cutoff)]
    last = known.groupby("customer_id", sort=False)["event_time"].max()
    w = known[known["event_time"] >= pd.Timestamp(b["web_start"])].sort_values(["customer_id", "event_time"],
                                                                              kind="stable")
    # unix_timestamp(): whole seconds (floor), so the gap is measured as Spark measures it
    seconds = w["event_time"].astype("datetime64[us]").astype("int64") // 1_000_000
    first_of_customer = w["customer_id"].ne(w["customer_id"].shift())
    new_session = first_of_customer | (seconds.diff() > SESSION_GAP_SECONDS)
    w = w.assign(_new=new_session.astype("float64"), _day=w["event_time"].dt.floor("D"),
                 _cancel=w["path"].eq("/account/cancel").astype("float64"))
    g = w.groupby("customer_id", sort=False)
    recent = pd.DataFrame({"events_28d": g.size().astype("float64"), "sessions_28d": g["_new"].sum(),
                           "active_days_28d": g["_day"].nunique().astype("float64"),
                           "cancel_page_views_28d": g["_cancel"].sum()})
    recent["sessions_per_week"] = spark_round(recent["sessions_28d"] / 4.0, 4)
    recent["activity_frequency"] = spark_round(recent["active_days_28d"] / 28.0, 4)
    web = pd.DataFrame({"days_since_last_activity": _days_before(as_of, last)}).join(recent, how="left")

    out = crm.set_index("customer_id", drop=False)
    for part in (billing, tickets, web):
        part = part[part.index.notna()]
        out = out.join(part, how="left")
    for name in ZERO_WHEN_ABSENT:
        out[name] = out[name].fillna(0.0)
    since_first = _days_before(as_of, out["_first_billing_month"])
    out["tenure_days"] = since_first.fillna(spark_round(out["tenure_months"] * 30.4375, 0))
    out["as_of_date"] = as_of
    return out.reset_index(drop=True)[list(OUTPUT_COLUMNS)]


# --- Spark -----------------------------------------------------------------------------------

def spark_features(spark, lakehouse: str | Path, versions: dict[str, int], as_of: dt.date):
    """The pipeline's own gold transform on the pinned versions (a Spark DataFrame)."""
    from churnlake.transforms.gold import customer_features

    root = local_path(lakehouse)
    frames = {s: spark.read.format("delta").option("versionAsOf", versions[s]).load((root / t.relpath).as_uri())
              for s, t in SOURCES.items()}
    customers = frames.pop("customers")
    return customer_features(customers, as_of, **frames)


# --- comparison ------------------------------------------------------------------------------

@dataclass
class Mismatch:
    """One feature on which an engine differs from the reference."""

    engine: str
    reference: str
    feature: str
    customers: int  # how many customers differ on it
    customer_id: str | None  # an example
    expected: Any
    actual: Any
    kind: str  # "value", "null", "missing customer", "extra customer", "missing column", "duplicate customer"

    def __str__(self) -> str:
        return (f"{self.engine} vs {self.reference}: {self.feature} differs ({self.kind}) for {self.customers} "
                f"customer(s), e.g. {self.customer_id}: {self.reference}={self.expected!r} "
                f"{self.engine}={self.actual!r}")


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def normalise(frame) -> Any:
    """A result (pyarrow Table or pandas DataFrame) as a pandas frame indexed by customer_id:
    numbers as float64 (NaN = null), text as object (None = null), the date as ISO text."""
    import pandas as pd

    df = frame.to_pandas() if hasattr(frame, "to_pandas") and not isinstance(frame, pd.DataFrame) else frame.copy()
    for c in df.columns:
        if c in NUMERIC_FEATURES:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        elif c == "as_of_date":
            df[c] = pd.to_datetime(df[c]).dt.strftime("%Y-%m-%d")
        else:
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df.set_index("customer_id", drop=False)


def _tie_flip(a, b, scale: int):
    """True where ``a`` and ``b`` are the two roundings of one tie at ``scale`` decimals (the
    unrounded aggregate sat on x.5 units, and summation order decided the side)."""
    import numpy as np

    unit = 10.0 ** -scale
    mid = (a + b) / 2 / unit
    return (np.abs(np.abs(a - b) - unit) <= 1e-9 * np.maximum(1.0, np.abs(a) + np.abs(b))) & \
        (np.abs(np.abs(mid - np.floor(mid)) - 0.5) < 1e-6)


def compare(results: dict[str, Any], reference: str, rel_tol: float = 1e-6) -> tuple[list[Mismatch], dict]:
    """Compare every result with ``results[reference]`` per customer.

    Numeric features agree within ``rel_tol`` relative (or 1e-12 absolute), nulls in the same
    places; text is equal. Two values one rounding unit apart around an exact tie of a rounded
    feature (``ROUND_SCALE``) are counted in the returned notes as ``rounding_ties``, not failed."""
    import numpy as np

    frames = {name: normalise(r) for name, r in results.items()}
    ref = frames[reference]
    mismatches: list[Mismatch] = []
    notes: dict[str, Any] = {}
    for name, other in frames.items():
        if name == reference:
            continue
        for label, frame in ((reference, ref), (name, other)):
            dup = frame.index[frame.index.duplicated()]
            if len(dup):
                mismatches.append(Mismatch(label, reference, "customer_id", len(dup), str(dup[0]), None, None,
                                           "duplicate customer"))
        if any(m.kind == "duplicate customer" for m in mismatches):
            continue
        missing = ref.index.difference(other.index)
        extra = other.index.difference(ref.index)
        if len(missing):
            mismatches.append(Mismatch(name, reference, "customer_id", len(missing), str(missing[0]),
                                       str(missing[0]), None, "missing customer"))
        if len(extra):
            mismatches.append(Mismatch(name, reference, "customer_id", len(extra), str(extra[0]), None,
                                       str(extra[0]), "extra customer"))
        common = ref.index.intersection(other.index)
        a_all, b_all = ref.loc[common], other.loc[common]
        ties: dict[str, int] = {}
        for feature in OUTPUT_COLUMNS[1:]:
            if feature not in b_all.columns or feature not in a_all.columns:
                mismatches.append(Mismatch(name, reference, feature, len(common), None, None, None, "missing column"))
                continue
            a, b = a_all[feature], b_all[feature]
            null_a, null_b = a.isna().to_numpy(), b.isna().to_numpy()
            null_diff = null_a != null_b
            if feature in NUMERIC_FEATURES:
                x, y = a.to_numpy(dtype="float64"), b.to_numpy(dtype="float64")
                both = ~null_a & ~null_b
                with np.errstate(invalid="ignore"):
                    close = np.abs(x - y) <= np.maximum(rel_tol * np.maximum(np.abs(x), np.abs(y)), 1e-12)
                value_diff = both & ~close
                if feature in ROUND_SCALE and value_diff.any():
                    flip = value_diff & _tie_flip(x, y, ROUND_SCALE[feature])
                    if flip.any():
                        ties[feature] = int(flip.sum())
                        value_diff &= ~flip
            else:
                value_diff = ~null_a & ~null_b & (a.to_numpy() != b.to_numpy())
            for kind, diff in (("null", null_diff), ("value", value_diff)):
                if diff.any():
                    i = int(np.flatnonzero(diff)[0])
                    mismatches.append(Mismatch(name, reference, feature, int(diff.sum()), str(common[i]),
                                               _plain(a.iloc[i]), _plain(b.iloc[i]), kind))
        notes[name] = {"customers_compared": len(common), "rounding_ties": ties}
    return mismatches, notes


# --- workers ---------------------------------------------------------------------------------

def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _jvm_hwm_mb(spark) -> float | None:
    """Peak resident memory of a classic session's driver JVM (VmHWM), None for Spark Connect."""
    try:
        import psutil

        proc = spark.sparkContext._gateway.proc
        candidates = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        for p in candidates:
            if "java" in p.name():
                for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024.0
    except Exception:  # noqa: BLE001 - Connect sessions have no gateway; memory is then unknown
        return None
    return None


def _spark_session(spec: dict):
    """The session spark-submit.sh would give a job: the engine named by CHURNLAKE_ENGINE_REMOTE,
    or by ``engine.remote`` of the config (``auto``: this config's engine when it runs), else a
    classic local session; ``--spark-master`` always means classic, as for spark-submit.sh."""
    from churnlake.config import load_config
    from churnlake.spark import ENV_REMOTE, engine_remote, get_spark, local_spark

    cfg = load_config()
    if not spec["spark_master"] and os.environ.get("CHURNLAKE__ENGINE__REMOTE", "").lower() != "classic":
        if not engine_remote():
            from churnlake.services.engine import resolve_remote

            remote = resolve_remote(cfg)
            if remote:
                os.environ[ENV_REMOTE] = remote
        if engine_remote():
            return get_spark("bench-gold-reference", cfg), "engine " + str(engine_remote())
    extra = {"spark.master": spec["spark_master"] or cfg.spark_local_master,
             "spark.driver.memory": spec["spark_driver_memory"]}
    if spec.get("spark_shuffle_partitions"):
        extra["spark.sql.shuffle.partitions"] = str(spec["spark_shuffle_partitions"])
    return local_spark("bench-gold-reference", cfg, extra=extra), f"classic {extra['spark.master']}"


def run_engine(engine: str, spec: dict) -> dict:
    """Run one engine ``spec['repeat']`` times; write its result to ``spec['out']``; metrics."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    as_of = dt.date.fromisoformat(spec["as_of"])
    metrics: dict[str, Any] = {"engine": engine}
    runs, result, spark = [], None, None
    started = time.perf_counter()
    if engine == "spark":
        spark, metrics["session"] = _spark_session(spec)
        metrics["startup_s"] = round(time.perf_counter() - started, 3)
        metrics["materialised"] = "pyarrow Table (DataFrame.toArrow)"
    elif engine == "duckdb":
        import duckdb

        metrics["materialised"] = "pyarrow Table (DuckDB relation to Arrow)"
        metrics["duckdb_version"] = duckdb.__version__
    else:
        import pandas as pd

        metrics["materialised"] = "pandas DataFrame"
        metrics["pandas_version"] = pd.__version__
    try:
        for _ in range(spec["repeat"]):
            t0 = time.perf_counter()
            if engine == "spark":
                result = spark_features(spark, spec["lakehouse"], spec["versions"], as_of).toArrow()
            else:
                snaps = snapshots(spec["lakehouse"], spec["versions"])
                result = duckdb_features(snaps, as_of) if engine == "duckdb" else pandas_features(snaps, as_of)
            runs.append(round(time.perf_counter() - t0, 3))
        metrics["rows"] = result.num_rows if isinstance(result, pa.Table) else len(result)
        metrics["peak_rss_mb"] = round(_rss_mb(), 1)
        if spark is not None:
            jvm = _jvm_hwm_mb(spark)
            metrics["python_peak_rss_mb"] = metrics["peak_rss_mb"]
            metrics["jvm_peak_rss_mb"] = None if jvm is None else round(jvm, 1)
            if jvm is None:
                metrics["peak_rss_note"] = "the Python client only: the engine is a shared long-running JVM"
            if jvm is not None:
                metrics["peak_rss_mb"] = round(metrics["peak_rss_mb"] + jvm, 1)
    finally:
        if spark is not None:
            spark.stop()
    metrics["seconds_runs"] = runs
    metrics["seconds"] = min(runs)
    table = result if isinstance(result, pa.Table) else pa.Table.from_pandas(result, preserve_index=False)
    pq.write_table(table, spec["out"])
    metrics["status"] = "ok"
    return metrics


def _worker_main(engine: str, spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    metrics_path = Path(spec["metrics"])
    try:
        metrics = run_engine(engine, spec)
        code = 0
    except MemoryError as exc:  # pyarrow's ArrowMemoryError is one too
        metrics = {"engine": engine, "status": "oom", "error": f"{type(exc).__name__}: {exc}"[:500],
                   "peak_rss_mb": round(_rss_mb(), 1)}
        code = 3
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides the exit status
        text = f"{type(exc).__name__}: {exc}"
        capped = bool(spec.get("mem_cap_gb"))
        oom = any(s in text for s in OOM_MARKERS + (CAPPED_OOM_MARKERS if capped else ()))
        metrics = {"engine": engine, "status": "oom" if oom else "error", "error": text[:2000],
                   "traceback": traceback.format_exc()[-4000:], "peak_rss_mb": round(_rss_mb(), 1)}
        code = 3 if oom else 4
    metrics_path.write_text(json.dumps(metrics, default=str))
    return code


def _limit_memory(gb: float):
    def apply():
        cap = int(gb * 1024 ** 3)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return apply


def spawn_engine(engine: str, spec: dict, work: Path, *, mem_gb: float | None = None,
                 timeout: float | None = None) -> dict:
    """Run one engine in a subprocess; an OOM (MemoryError, or killed) is a result, not a crash."""
    spec = dict(spec, out=str(work / f"{engine}.parquet"), metrics=str(work / f"{engine}.metrics.json"),
                mem_cap_gb=mem_gb)
    spec_path = work / f"{engine}.spec.json"
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ)
    if mem_gb:
        # Under an address-space cap, allocators that reserve large virtual regions up front
        # (glibc's per-thread arenas, Arrow's jemalloc/mimalloc pools) would fail early: use
        # the system allocator with few arenas (and one OpenBLAS thread buffer) so the cap
        # measures the data the engine holds.
        env.update(MALLOC_ARENA_MAX="2", ARROW_DEFAULT_MEMORY_POOL="system", OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", engine, "--_spec", str(spec_path)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, cwd=ROOT, preexec_fn=_limit_memory(mem_gb) if mem_gb else None,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"engine": engine, "status": "timeout", "error": f"no result within {timeout} s"}
    wall = round(time.perf_counter() - t0, 3)
    metrics_file = Path(spec["metrics"])
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else None
    if metrics is None:
        killed = proc.returncode < 0 or proc.returncode in (137, 134)
        tail = (proc.stderr or "").strip().splitlines()[-5:]
        markers = ("MemoryError", *OOM_MARKERS, *(CAPPED_OOM_MARKERS if mem_gb else ()))
        oom = killed or any(s in (proc.stderr or "") for s in markers)
        metrics = {"engine": engine, "status": "oom" if oom else "error",
                   "error": f"worker exited with {proc.returncode}: " + " | ".join(tail)}
    if metrics["status"] == "oom":
        metrics["oom"] = f"OOM at {mem_gb:g} GB" if mem_gb else "OOM (no cap set: killed or MemoryError)"
    if metrics["status"] == "error" and proc.stderr:
        metrics.setdefault("stderr_tail", proc.stderr[-2000:])
    metrics["process_wall_s"] = wall
    if mem_gb:
        metrics["mem_cap_gb"] = mem_gb
    return metrics


# --- report ----------------------------------------------------------------------------------

def markdown_table(rows: list[dict]) -> str:
    """engine | status | seconds | rows | peak RSS MB | ratio vs DuckDB."""
    duck = next((r.get("seconds") for r in rows if r["engine"] == "duckdb" and r.get("status") == "ok"), None)
    lines = ["| engine | status | seconds | rows | peak RSS MB | ratio vs DuckDB |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        ok = r.get("status") == "ok"
        status = "ok" if ok else (r.get("oom") or r.get("status", "?"))
        seconds = f"{r['seconds']:.3f}" if ok else "–"
        ratio = f"{r['seconds'] / duck:.2f}×" if ok and duck else "–"
        rss = r.get("peak_rss_mb")
        lines.append(f"| {r['engine']} | {status} | {seconds} | {r.get('rows', '–') if ok else '–'} | "
                     f"{'–' if rss is None else f'{rss:,.0f}'} | {ratio} |")
    return "\n".join(lines)


def _parse_versions(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in filter(None, (text or "").split(",")):
        name, _, version = item.partition("=")
        name = name.strip().removeprefix("silver.")
        name = "events" if name == "web_events" else name
        if name not in SOURCES or not version.strip().isdigit():
            raise SystemExit(f"--versions: expected source=version (sources: {', '.join(SOURCES)}), got {item!r}")
        out[name] = int(version)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--as-of", required=True, type=dt.date.fromisoformat, help="features as of this date")
    p.add_argument("--lakehouse", help="lakehouse root (path or file: URI); default: the project's config")
    p.add_argument("--engines", default="spark,duckdb,pandas", help="comma-separated, run in this order")
    p.add_argument("--versions", help="pin versions, e.g. invoices=12,silver.customers=3 (default: see above)")
    p.add_argument("--pandas-mem-gb", type=float, help="address-space cap of the pandas worker (RLIMIT_AS)")
    p.add_argument("--repeat", type=int, default=1, help="runs per engine in one process; the best is reported")
    p.add_argument("--spark-master", help="classic session master (default: spark.local_master of the config)")
    p.add_argument("--spark-driver-memory", default="4g")
    p.add_argument("--spark-shuffle-partitions", type=int)
    p.add_argument("--timeout", type=float, default=4 * 3600, help="seconds per engine")
    p.add_argument("--json-out", help="also write the engines, versions and check as JSON here")
    p.add_argument("--keep", help="keep each engine's result Parquet in this folder")
    p.add_argument("--_worker", help=argparse.SUPPRESS)
    p.add_argument("--_spec", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        p.error(f"--engines: choose from {', '.join(ENGINES)}")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.lakehouse:
        lakehouse = str(local_path(args.lakehouse))
    else:
        from churnlake.config import load_config

        lakehouse = str(local_path(load_config().lakehouse_root))
    versions, rules = pin_versions(lakehouse, args.as_of, _parse_versions(args.versions))
    pinned = snapshots(lakehouse, versions)
    header = {"as_of": args.as_of.isoformat(), "lakehouse": lakehouse,
              "versions": {SOURCES[s].name: versions[s] for s in SOURCES},
              "version_rules": {SOURCES[s].name: rules[s] for s in SOURCES},
              "snapshots": {SOURCES[s].name: pinned[s].summary() for s in SOURCES}}
    print(json.dumps({"pinned": header}), flush=True)
    spec = {"as_of": args.as_of.isoformat(), "lakehouse": lakehouse, "versions": versions, "repeat": args.repeat,
            "spark_master": args.spark_master, "spark_driver_memory": args.spark_driver_memory,
            "spark_shuffle_partitions": args.spark_shuffle_partitions}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="gold-reference-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for engine in engines:
            mem = args.pandas_mem_gb if engine == "pandas" else None
            rows.append(spawn_engine(engine, spec, work, mem_gb=mem, timeout=args.timeout))
        duck = next((r["seconds"] for r in rows if r["engine"] == "duckdb" and r.get("status") == "ok"), None)
        for r in rows:
            if r.get("status") == "ok" and duck:
                r["ratio_vs_duckdb"] = round(r["seconds"] / duck, 3)
            r.update(as_of=args.as_of.isoformat(), versions=header["versions"])
            print(json.dumps({k: v for k, v in r.items() if k != "traceback"}, default=str), flush=True)
        done = [r["engine"] for r in rows if r.get("status") == "ok"]
        check: dict[str, Any] = {"check": "skipped", "engines": done}
        mismatches: list[Mismatch] = []
        if len(done) >= 2:
            import pyarrow.parquet as pq

            reference = "spark" if "spark" in done else done[0]
            results = {e: pq.read_table(work / f"{e}.parquet") for e in done}
            mismatches, notes = compare(results, reference)
            check = {"check": "mismatch" if mismatches else "agree", "reference": reference, "engines": done,
                     "rel_tol": 1e-6, "details": notes, "mismatches": [asdict(m) for m in mismatches]}
        print(json.dumps(check, default=str), flush=True)
    for m in mismatches:
        print(f"MISMATCH {m}", file=sys.stderr)
    print()
    print(f"gold.customer_features as of {args.as_of} on {lakehouse}; versions "
          + ", ".join(f"{k} v{v}" for k, v in header["versions"].items()))
    print()
    print(markdown_table(rows))
    print()
    print(f"correctness: {check['check']}" + (f" ({len(mismatches)} feature mismatches; see stderr)"
                                             if mismatches else ""))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({**header, "engines": rows, "check": check}, indent=2,
                                                  default=str) + "\n")
    if mismatches:
        return EXIT_MISMATCH
    if any(r.get("status") not in ("ok", "oom") for r in rows):
        return EXIT_ENGINE_FAILED
    return 0


if __name__ == "__main__":
    if "--_worker" in sys.argv:
        argv = sys.argv[1:]
        sys.exit(_worker_main(argv[argv.index("--_worker") + 1], argv[argv.index("--_spec") + 1]))
    sys.exit(main())
