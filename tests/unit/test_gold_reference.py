"""The single-node gold reference (benchmarks/gold_reference.py): DuckDB and pandas give the
Spark gold transform's features on tiny silver Delta tables, and the comparison catches a change."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from churnlake.config import PROJECT_ROOT
from churnlake.tables import SILVER_CUSTOMERS, SILVER_INVOICES, SILVER_PAYMENTS, SILVER_TICKETS, SILVER_WEB_EVENTS
from churnlake.transforms import gold

pytest.importorskip("duckdb")

SCRIPT = PROJECT_ROOT / "benchmarks" / "gold_reference.py"
_spec = importlib.util.spec_from_file_location("gold_reference", SCRIPT)
ref = importlib.util.module_from_spec(_spec)
sys.modules["gold_reference"] = ref
_spec.loader.exec_module(ref)

AS_OF = dt.date(2026, 11, 27)  # cutoff 2026-11-28 00:00
CUTOFF = dt.datetime(2026, 11, 28)
D = dt.datetime

CUSTOMER_SCHEMA = ("customer_id string, " + ", ".join(f"{c} string" for c in gold.CATEGORICAL_FEATURES)
                   + ", senior_citizen boolean, partner boolean, dependents boolean, phone_service boolean, "
                     "paperless_billing boolean, tenure_months int, monthly_charges double, "
                     "total_charges double, churn boolean")
INVOICE_SCHEMA = ("invoice_id long, customer_id string, billing_month date, amount double, issued_at timestamp, "
                  "valid_from timestamp, valid_to timestamp")
PAYMENT_SCHEMA = "payment_id long, customer_id string, status string, paid_at timestamp, " \
                 "valid_from timestamp, valid_to timestamp"
TICKET_SCHEMA = ("ticket_id long, customer_id string, created_at timestamp, resolved_at timestamp, "
                 "resolution_hours double, satisfaction int, category string, valid_from timestamp, "
                 "valid_to timestamp")
EVENT_SCHEMA = "customer_id string, event_time timestamp, path string, event_date date"


def _customer(cid, *, tenure=12, monthly=20.0, total=240.0, addon="Yes", contract="Month-to-month"):
    cats = {c: "No" for c in gold.CATEGORICAL_FEATURES}
    cats.update(gender="female", contract=contract, payment_method="Electronic check", online_security=addon,
                streaming_tv="Yes", internet_service="Fiber optic")
    return (cid, *[cats[c] for c in gold.CATEGORICAL_FEATURES], False, True, False, True, True, tenure,
            monthly, total, False)


def customers_v(version: int):
    """silver.customers as written for run dates 2026-11-20 (v0), 11-27 (v1) and 11-30 (v2)."""
    rows = [
        _customer("C1", tenure=11 if version == 0 else 12),
        _customer("C2", tenure=8, total=160.0),                      # no events; 8 x 30.4375 = 243.5 -> 244
        _customer("C3", tenure=0, monthly=50.0, total=0.0),          # brand new
        _customer("C4", tenure=None, monthly=70.0, total=None, addon=None),  # unknown tenure, add-on null
        _customer("C5", tenure=24, total=1500.0),
        _customer("C6", tenure=3, monthly=33.33, total=100.0, contract="Two year" if version == 2 else "One year"),
    ]
    if version == 2:
        rows.append(_customer("C7"))  # joins only after the as-of date
    return rows


def invoice_rows():
    rows = []
    for m, a in {5: 10.0, 6: 10.0, 7: 10.0, 8: 15.0, 9: 20.0, 10: 20.0, 11: 20.0}.items():
        rows.append((len(rows) + 1, "C1", dt.date(2026, m, 1), a, D(2026, m, 1), D(2026, m, 1), None))
    rows.append((100, "C1", dt.date(2026, 12, 1), 999.0, D(2026, 12, 1), D(2026, 12, 1), None))  # the future
    rows.append((101, "C6", dt.date(2026, 11, 1), 50.0, CUTOFF, CUTOFF, None))  # issued exactly at the cutoff
    # an invoice corrected after issue: the version valid at the cutoff counts
    rows.append((102, "C6", dt.date(2026, 10, 1), 40.0, D(2026, 10, 1), D(2026, 10, 1), D(2026, 10, 3)))
    rows.append((102, "C6", dt.date(2026, 10, 1), 33.33, D(2026, 10, 1), D(2026, 10, 3), None))
    rows.append((103, "C99", dt.date(2026, 11, 1), 5.0, D(2026, 11, 1), D(2026, 11, 1), None))  # no CRM record
    return rows


def c5_invoices():
    # eight invoices in the previous quarter (Jun..Aug): mean 10.00375, a tie at 4 decimals
    amounts = [10.0] * 7 + [10.03]
    return [(200 + i, "C5", dt.date(2026, 6 + i % 3, 1), a, D(2026, 6 + i % 3, 2), D(2026, 6 + i % 3, 2), None)
            for i, a in enumerate(amounts)]


def payment_rows():
    rows = [
        (1, "C1", "late", None, D(2026, 10, 5), D(2026, 12, 1)),      # late at the cutoff ...
        (1, "C1", "paid", D(2026, 12, 1), D(2026, 12, 1), None),     # ... paid only afterwards
        (2, "C1", "paid", D(2026, 11, 2), D(2026, 11, 2), None),
        (3, "C1", "failed", None, D(2026, 11, 30), None),            # after the cutoff
        (10, "C4", "failed", None, D(2026, 11, 1), None),
        (11, "C4", "late", None, D(2026, 3, 1), None),               # older than 180 days
        # a version starting exactly at the cutoff is the one valid at it (valid_from <= cutoff)
        (20, "C6", "late", None, D(2026, 11, 10), CUTOFF),
        (20, "C6", "paid", CUTOFF, CUTOFF, None),
        (21, "C6", None, None, D(2026, 11, 11), None),               # unknown status: not in the share
        (22, "C6", "paid", D(2026, 11, 20, 23, 59, 59), D(2026, 11, 20, 23, 59, 59), None),
        (30, "C99", "late", None, D(2026, 11, 1), None),
    ]
    # 1 late of 32: share 0.03125, a tie at 4 decimals (Spark rounds half up: 0.0313)
    rows += [(100 + i, "C5", "late" if i == 0 else "paid", D(2026, 9, 1) + dt.timedelta(days=i),
              D(2026, 9, 1) + dt.timedelta(days=i), None) for i in range(32)]
    return rows


def ticket_rows():
    return [
        (1, "C1", D(2026, 11, 20), None, None, None, "technical", D(2026, 11, 20), D(2026, 11, 30)),
        (1, "C1", D(2026, 11, 20), D(2026, 11, 30), 240.0, 1, "technical", D(2026, 11, 30), None),  # later
        (2, "C1", D(2026, 10, 1), D(2026, 10, 1, 10), 10.0, 4, "cancellation", D(2026, 10, 1, 10), None),
        (3, "C3", D(2026, 11, 25), None, None, None, "billing", D(2026, 11, 25), None),  # open, not rated
        (4, "C5", D(2026, 11, 26), None, None, None, "technical", D(2026, 11, 26), D(2026, 11, 29)),
        (4, "C5", D(2026, 11, 26), D(2026, 11, 29), 72.0, 5, "technical", D(2026, 11, 29), None),
        (5, "C6", D(2026, 8, 29, 23), D(2026, 8, 30, 1), 2.0, 3, "cancellation", D(2026, 8, 30, 1), None),
        (6, "C6", D(2026, 8, 30), D(2026, 8, 30, 1, 20), 1.333, 2, "cancellation", D(2026, 8, 30, 1, 20), None),
        (7, "C6", CUTOFF, None, None, None, "technical", CUTOFF, None),  # created at the cutoff: not yet
    ]


def event_rows():
    rows = [
        ("C1", D(2026, 11, 26, 10, 0), "/dashboard"), ("C1", D(2026, 11, 26, 10, 10), "/usage"),
        ("C1", D(2026, 11, 26, 10, 20), "/account/cancel"), ("C1", D(2026, 11, 24, 9), "/dashboard"),
        ("C1", D(2026, 11, 28, 8), "/account/cancel"),  # after the cutoff
        ("C1", D(2026, 10, 1), "/dashboard"),            # outside the 28-day window
        (None, D(2026, 11, 26, 11), "/login"),           # anonymous
        ("C4", D(2026, 11, 28, 1), "/dashboard"),        # only after the cutoff: never seen
        ("C5", D(2026, 10, 1, 12), "/usage"),            # seen, but not in the last 28 days
        ("C6", D(2026, 10, 31), "/dashboard"),           # the first day of the window (D - 27)
        ("C6", D(2026, 11, 20, 10, 0, 0), "/dashboard"),
        ("C6", D(2026, 11, 20, 10, 30, 0), "/usage"),    # gap 1800 s: same session
        ("C6", D(2026, 11, 20, 11, 0, 1), "/usage"),     # gap 1801 s: a new one
        ("C6", D(2026, 11, 20, 12, 0, 0, 900000), "/usage"),
        ("C6", D(2026, 11, 20, 12, 30, 0, 950000), "/account/cancel"),  # 1800.05 s, 1800 in whole seconds
        ("C6", D(2026, 11, 27, 23, 59, 59, 999999), "/usage"),         # the last instant before the cutoff
        ("C99", D(2026, 11, 26), "/usage"),
    ]
    return [(c, t, p, t.date()) for c, t, p in rows]


def _write(spark, rows, schema, path: Path, *, mode="append", partition_by=None, run_date=None):
    writer = spark.createDataFrame(rows, schema).write.format("delta").mode(mode)
    if partition_by:
        writer = writer.partitionBy(partition_by)
    if run_date:
        writer = writer.option("userMetadata", json.dumps({"job": "test", "run_date": run_date}))
    writer.save(path.as_uri())


def build_lakehouse(spark, root: Path) -> Path:
    """Tiny silver tables under ``root``, several versions each (a checkpoint in invoices)."""
    def loc(table):
        return root / table.relpath

    for version, day in enumerate(("2026-11-20", "2026-11-27", "2026-11-30")):
        _write(spark, customers_v(version), CUSTOMER_SCHEMA, loc(SILVER_CUSTOMERS), mode="overwrite", run_date=day)
    inv = loc(SILVER_INVOICES)
    _write(spark, invoice_rows(), INVOICE_SCHEMA, inv)                                          # v0
    spark.sql(f"ALTER TABLE delta.`{inv.as_uri()}` SET TBLPROPERTIES ('delta.checkpointInterval' = '2', "
              "'delta.enableDeletionVectors' = 'false')")                                        # v1
    _write(spark, c5_invoices(), INVOICE_SCHEMA, inv)                                           # v2, checkpoint
    _write(spark, [(900, "C1", dt.date(2026, 11, 1), 1000.0, D(2026, 11, 1), D(2026, 11, 1), None)],
           INVOICE_SCHEMA, inv)                                                                 # v3
    spark.sql(f"DELETE FROM delta.`{inv.as_uri()}` WHERE invoice_id = 900")                      # v4: removed again
    _write(spark, payment_rows(), PAYMENT_SCHEMA, loc(SILVER_PAYMENTS))
    _write(spark, ticket_rows(), TICKET_SCHEMA, loc(SILVER_TICKETS))
    events = event_rows()
    _write(spark, events[:8], EVENT_SCHEMA, loc(SILVER_WEB_EVENTS), partition_by="event_date")
    _write(spark, events[8:], EVENT_SCHEMA, loc(SILVER_WEB_EVENTS), partition_by="event_date")
    return root


@pytest.fixture(scope="module")
def lakehouse(spark, tmp_path_factory):
    return build_lakehouse(spark, tmp_path_factory.mktemp("gold-reference") / "lakehouse")


@pytest.fixture(scope="module")
def pinned(lakehouse):
    versions, rules = ref.pin_versions(lakehouse, AS_OF)
    return versions, rules, ref.snapshots(lakehouse, versions)


@pytest.fixture(scope="module")
def results(spark, lakehouse, pinned):
    versions, _, snaps = pinned
    return {"spark": ref.spark_features(spark, lakehouse, versions, AS_OF).toArrow(),
            "duckdb": ref.duckdb_features(snaps, AS_OF),
            "pandas": ref.pandas_features(snaps, AS_OF)}


def _null(value) -> bool:
    return value is None or value != value


def test_the_reference_workers_load_no_spark():
    """The DuckDB and pandas workers take the feature names from churnlake.features.columns,
    which gold.py uses too, without importing pyspark."""
    probe = "import sys; sys.path.insert(0, 'benchmarks'); import gold_reference; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"
    assert ref.NUMERIC_FEATURES is gold.NUMERIC_FEATURES
    assert ref.SESSION_GAP_SECONDS == gold.SESSION_GAP_MINUTES * 60


def test_versions_are_pinned_and_the_log_replay_matches_delta(spark, lakehouse, pinned, results):
    # (``results`` first: the Spark features right after the build keep the test session's
    # C1-only JIT code cache use low)
    versions, rules, snaps = pinned
    assert versions == {"customers": 1, "invoices": 4, "payments": 0, "tickets": 0, "events": 1}
    assert "as the gold job" in rules["customers"] and rules["invoices"] == "latest"
    assert snaps["invoices"].checkpoint_version == 4 and snaps["invoices"].commits_replayed == 0
    at3 = ref.read_snapshot(lakehouse / SILVER_INVOICES.relpath, 3)
    assert (at3.checkpoint_version, at3.commits_replayed) == (2, 1)
    assert snaps["events"].partition_columns == ["event_date"]
    assert all(f.partition_values.get("event_date") for f in snaps["events"].files)
    # the versions of the table with a checkpoint, a removal and a metadata-only commit; the
    # partitioned table; the pinned CRM snapshot
    for source, table in ref.SOURCES.items():
        for version in {"invoices": (1, 3, 4), "events": (1,), "customers": (1,)}.get(source, ()):
            expected = spark.read.format("delta").option("versionAsOf", version) \
                .load((lakehouse / table.relpath).as_uri()).inputFiles()
            mine = ref.read_snapshot(lakehouse / table.relpath, version).files
            assert sorted(ref.local_path(p) for p in expected) == sorted(Path(f.path) for f in mine), (source, version)


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_single_node_engines_equal_the_spark_gold_transform(results, engine):
    mismatches, notes = ref.compare({"spark": results["spark"], engine: results[engine]}, "spark")
    assert mismatches == [], "\n".join(map(str, mismatches))
    assert notes[engine]["customers_compared"] == 6
    assert notes[engine]["rounding_ties"] == {}  # the ties of this data round alike everywhere


def test_the_edge_cases_have_the_values_the_docs_promise(results):
    rows = {r["customer_id"]: r for r in ref.normalise(results["duckdb"]).to_dict("records")}
    assert set(rows) == {"C1", "C2", "C3", "C4", "C5", "C6"}  # C7 joins after the date, C99 has no CRM row
    assert rows["C1"]["tenure_months"] == 12  # the CRM snapshot of the 11-27 run, not 11-20's
    assert rows["C1"]["total_spend"] == 105.0  # the December invoice and the deleted correction are ignored
    assert rows["C2"]["tenure_days"] == 244 and rows["C2"]["events_28d"] == 0
    assert _null(rows["C2"]["days_since_last_activity"]) and _null(rows["C2"]["avg_invoice_amount"])
    c3 = rows["C3"]
    assert (c3["avg_monthly_spend"], c3["tenure_days"], c3["open_tickets"]) == (50.0, 0, 1)
    assert _null(c3["avg_satisfaction"]) and _null(c3["avg_resolution_hours"])
    c4 = rows["C4"]
    assert _null(c4["num_addon_services"]) and _null(c4["tenure_days"]) and c4["avg_monthly_spend"] == 70.0
    assert (c4["payments_failed"], c4["payments_late"], c4["late_or_failed_6m"], c4["late_or_failed_share"]) == \
        (1, 1, 1, 1.0)
    assert c4["events_28d"] == 0 and _null(c4["days_since_last_activity"])
    c5 = rows["C5"]
    assert (c5["spend_last_3m"], c5["spend_prev_3m"], c5["spend_trend"]) == (0.0, 80.03, -1.0)
    assert c5["avg_invoice_amount"] == 10.0038 and c5["late_or_failed_share"] == 0.0313  # half up
    assert c5["open_tickets"] == 1 and _null(c5["avg_satisfaction"]) and c5["late_or_failed_6m"] == 1
    assert (c5["events_28d"], c5["days_since_last_activity"]) == (0, 57)
    c6 = rows["C6"]
    assert (c6["total_spend"], c6["payments_late"], c6["days_since_last_payment"]) == (33.33, 0, -1)
    assert c6["late_or_failed_share"] == 0.0  # the unknown status is not counted
    assert (c6["tickets_total"], c6["tickets_90d"], c6["cancellation_tickets_90d"]) == (2, 1, 1)
    assert c6["avg_resolution_hours"] == 1.667  # (2 + 1.333) / 2 = 1.6665, half up
    assert (c6["events_28d"], c6["sessions_28d"], c6["active_days_28d"], c6["cancel_page_views_28d"]) == (7, 5, 3, 1)
    assert (c6["sessions_per_week"], c6["activity_frequency"], c6["tenure_days"]) == (1.25, 0.1071, 57)
    assert c6["days_since_last_activity"] == 0


def test_a_changed_value_is_reported_by_feature_and_customer(results):
    import pyarrow as pa
    import pyarrow.compute as pc

    duck = results["duckdb"]
    is_c1 = pc.equal(duck["customer_id"], "C1")
    altered = duck.set_column(duck.schema.get_field_index("tickets_90d"), "tickets_90d",
                              pc.if_else(is_c1, pc.add(duck["tickets_90d"], 1), duck["tickets_90d"]))
    sat = altered["avg_satisfaction"]
    altered = altered.set_column(altered.schema.get_field_index("avg_satisfaction"), "avg_satisfaction",
                                 pc.if_else(pc.equal(altered["customer_id"], "C2"), pa.scalar(3.0), sat))
    mismatches, _ = ref.compare({"spark": results["spark"], "duckdb": altered}, "spark")
    found = {(m.feature, m.kind, m.customer_id) for m in mismatches}
    assert found == {("tickets_90d", "value", "C1"), ("avg_satisfaction", "null", "C2")}
    text = "\n".join(map(str, mismatches))
    assert "tickets_90d differs (value) for 1 customer(s), e.g. C1: spark=2.0 duckdb=3.0" in text

    fewer = results["pandas"][results["pandas"]["customer_id"] != "C3"]
    mismatches, _ = ref.compare({"spark": results["spark"], "pandas": fewer}, "spark")
    assert [(m.feature, m.kind, m.customer_id) for m in mismatches] == [("customer_id", "missing customer", "C3")]


def test_a_tie_rounded_the_other_way_is_not_a_mismatch_but_noted(results):
    import pyarrow.compute as pc

    duck = results["duckdb"]
    col = duck["late_or_failed_share"]
    flipped = duck.set_column(duck.schema.get_field_index("late_or_failed_share"), "late_or_failed_share",
                              pc.if_else(pc.equal(duck["customer_id"], "C5"), 0.0312, col))
    mismatches, notes = ref.compare({"spark": results["spark"], "duckdb": flipped}, "spark")
    assert mismatches == [] and notes["duckdb"]["rounding_ties"] == {"late_or_failed_share": 1}


def test_spark_round_is_half_up_on_the_decimal_form():
    import pandas as pd

    out = ref.spark_round(pd.Series([0.03125, 10.00375, 2.675, -2.50375, 243.5, 730.5, 1.23444, None]), 4)
    assert out.tolist()[:7] == [0.0313, 10.0038, 2.675, -2.5038, 243.5, 730.5, 1.2344]
    assert ref.spark_round(pd.Series([243.5, 730.5, 2.675]), 0).tolist() == [244.0, 731.0, 3.0]
    assert ref.spark_round(pd.Series([2.675]), 2).tolist() == [2.68]


def test_a_mismatch_makes_the_benchmark_exit_non_zero(lakehouse, pinned, results, monkeypatch, capsys):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def fake_spawn(engine, spec, work, **_):
        table = results[engine]
        if not isinstance(table, pa.Table):
            table = pa.Table.from_pandas(table, preserve_index=False)
        if engine == "pandas":
            i = table.schema.get_field_index("events_28d")
            table = table.set_column(i, "events_28d", pc.multiply(table["events_28d"], 2.0))
        pq.write_table(table, work / f"{engine}.parquet")
        return {"engine": engine, "status": "ok", "seconds": 1.0, "rows": table.num_rows, "peak_rss_mb": 100.0}

    monkeypatch.setattr(ref, "spawn_engine", fake_spawn)
    code = ref.main(["--as-of", AS_OF.isoformat(), "--lakehouse", str(lakehouse), "--engines", "spark,duckdb,pandas"])
    out, err = capsys.readouterr()
    assert code == ref.EXIT_MISMATCH
    assert "MISMATCH pandas vs spark: events_28d differs (value)" in err and "e.g. C1" in err
    check = next(json.loads(line) for line in out.splitlines() if line.startswith('{"check"'))
    assert check["check"] == "mismatch" and {m["feature"] for m in check["mismatches"]} == {"events_28d"}
    assert "| pandas | ok | 1.000 | 6 | 100 | 1.00× |" in out


def test_the_cli_runs_duckdb_and_pandas_and_reports_a_pandas_oom(lakehouse, tmp_path):
    out_json = tmp_path / "run.json"
    res = subprocess.run([sys.executable, str(SCRIPT), "--as-of", AS_OF.isoformat(), "--lakehouse", str(lakehouse),
                          "--engines", "duckdb,pandas", "--json-out", str(out_json)],
                         capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    engines = {x["engine"]: x for x in lines if "engine" in x}
    assert engines["duckdb"]["rows"] == engines["pandas"]["rows"] == 6
    assert engines["duckdb"]["ratio_vs_duckdb"] == 1.0 and engines["pandas"]["peak_rss_mb"] > 0
    assert lines[0]["pinned"]["versions"]["silver.invoices"] == 4
    assert any(x.get("check") == "agree" for x in lines)
    assert "| engine | status | seconds | rows | peak RSS MB | ratio vs DuckDB |" in res.stdout
    saved = json.loads(out_json.read_text())
    assert saved["versions"]["silver.customers"] == 1 and saved["check"]["check"] == "agree"

    res = subprocess.run([sys.executable, str(SCRIPT), "--as-of", AS_OF.isoformat(), "--lakehouse", str(lakehouse),
                          "--engines", "duckdb,pandas", "--pandas-mem-gb", "0.2"],
                         capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
    assert res.returncode == 0, res.stdout + res.stderr  # running out of memory is a result
    pandas_line = next(json.loads(x) for x in res.stdout.splitlines() if x.startswith('{"engine": "pandas"'))
    assert pandas_line["status"] == "oom" and pandas_line["oom"] == "OOM at 0.2 GB"
    assert "| pandas | OOM at 0.2 GB | – |" in res.stdout
