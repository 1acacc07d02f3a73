"""Incremental silver builds (churnlake.silver.build_silver) on tiny Delta tables.

For each kind of silver table — latest row per key, every version with validity (SCD2), key-less
events — bronze gets batch 1 (full build), batch 2 (incremental), batch 3 with an update of an
existing key, a duplicate event, a later version of an invoice (incremental); the result must be
row for row the table a full rebuild over all three batches writes. Plus: the incremental runs
commit a Delta MERGE, a rerun is a no-op, a rewritten batch or a changed quarantine forces a full
build, a batch validated late is merged, and a missed day run late changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
from pyspark.sql import functions as F

from churnlake.config import load_config
from churnlake.delta import create_if_missing, history, read_table, replace_rows
from churnlake.jobrun import commit_metadata
from churnlake.silver import build_silver, precedes, rewritten_batch
from churnlake.tables import QUALITY_RUNS, SILVER_REJECTS, Table, quarantine_table
from churnlake.transforms.silver import WEB_EVENT_COLUMNS, blank_to_null, type_invoices, web_events
from churnlake.validation import store
from tests.conftest import lakehouse_env

D1, D2, D3, D4 = (dt.date(2026, 11, d) for d in (1, 2, 3, 4))
T1, T2, T3 = (dt.datetime(2026, 11, d, 6) for d in (1, 2, 3))
LINEAGE = "_source string, _ingest_date date, _batch_id string, _ingested_at timestamp, _source_file string"
BRONZE_PARTS = ("_source", "_ingest_date")


@pytest.fixture()
def lake(tmp_path):
    """A config whose lakehouse is this test's own temporary folder."""
    return load_config(environ={**os.environ, **lakehouse_env(tmp_path)})


def lineage(batch: str, day: dt.date, at: dt.datetime) -> tuple:
    return ("s", day, batch, at, f"{batch}.txt")


def ingest(spark, cfg, bronze: Table, schema: str, batch: str, day: dt.date, rows: list[tuple]) -> None:
    """Write (or rewrite) one bronze batch the way the ingestion jobs do: replaceWhere on its id."""
    replace_rows(spark.createDataFrame(rows, schema), bronze, cfg,
                 replace_where=f"_source = 's' AND _batch_id = '{batch}'",
                 metadata=commit_metadata("bronze_test", day, batch_id=batch))


def validate(spark, cfg, bronze: Table, day: dt.date, batches: list[str], status: str = "passed",
             run_hour: int | None = None) -> None:
    """Record the validation run of ``day`` (or of one hour of it) covering ``batches`` (what
    validated_rows accepts)."""
    run_id = store.run_id_for(bronze, day, run_hour)
    row = (run_id, day, bronze.name, batches, status, 0, 0, 0, 0, 1, 0, {}, "test.yaml", 0.1,
           dt.datetime(2026, 12, 1))
    create_if_missing(spark, QUALITY_RUNS, cfg, store.RUNS_SCHEMA)
    replace_rows(spark.createDataFrame([row], store.RUNS_SCHEMA), QUALITY_RUNS, cfg,
                 replace_where=f"table_name = '{bronze.name}' AND run_id = '{run_id}'",
                 metadata=commit_metadata("validate_test", day, batch_id=run_id, table=bronze.name))


def quarantine(spark, cfg, bronze: Table, day: dt.date, where: str) -> None:
    """Quarantine the bronze rows matching ``where`` under the validation run of ``day``."""
    rows = read_table(spark, bronze, cfg)
    columns = list(rows.columns)
    run_id = store.run_id_for(bronze, day)
    bad = (rows.where(where).withColumn("_reasons", F.array(F.lit("test")))
           .withColumn("_row_hash", store.row_hash(rows, columns))
           .withColumn("_validation_run_id", F.lit(run_id)).withColumn("_validation_date", F.lit(day)))
    replace_rows(bad, quarantine_table(bronze), cfg, replace_where=f"_validation_run_id = '{run_id}'",
                 metadata=commit_metadata("validate_test", day, batch_id=run_id))


def assert_identical(actual, expected) -> None:
    """Both frames hold exactly the same rows (as multisets), and not none."""
    columns = sorted(expected.columns)
    assert sorted(actual.columns) == columns
    a, e = actual.select(*columns), expected.select(*columns)
    missing, extra = e.exceptAll(a).collect(), a.exceptAll(e).collect()
    assert not missing and not extra, f"missing from the incremental table: {missing}; extra in it: {extra}"
    assert a.count() == e.count() > 0


def last_commit(spark, cfg, table: Table):
    return history(spark, table.uri(cfg), 1).first()


def version(spark, cfg, table: Table) -> int:
    return int(last_commit(spark, cfg, table)["version"])


# --- latest row per key (silver.customers) --------------------------------------------------

CUSTOMERS_BRONZE = Table("bronze.test_customers", "bronze/test_customers", partition_by=BRONZE_PARTS)
CUSTOMERS = Table("silver.test_customers", "silver/test_customers")
CUSTOMERS_FULL = Table("silver.test_customers_full", "silver/test_customers_full")
CUSTOMERS_SCHEMA = f"customer_id string, plan string, amount string, {LINEAGE}"


def prepare_customers(df):
    return df.select(blank_to_null(F.col("customer_id")).alias("customer_id"), "plan",
                     F.col("amount").try_cast("double").alias("amount"), "_ingested_at", "_batch_id")


def build_customers(spark, cfg, day, *, silver=CUSTOMERS, job="silver_test_customers", full_refresh=False,
                    run_hour=None):
    return build_silver(spark, cfg, job=job, run_date=day, bronze=CUSTOMERS_BRONZE, silver=silver,
                        prepare=prepare_customers, key="customer_id", full_refresh=full_refresh, run_hour=run_hour)


def customer_batch(spark, cfg, batch, day, at, rows, *, validated=True):
    ingest(spark, cfg, CUSTOMERS_BRONZE, CUSTOMERS_SCHEMA, batch, day, [r + lineage(batch, day, at) for r in rows])
    if validated:
        validate(spark, cfg, CUSTOMERS_BRONZE, day, [batch])


def test_latest_per_key_merges_new_batches_to_the_table_a_full_build_writes(spark, lake):
    customer_batch(spark, lake, "b1", D1, T1, [("C1", "basic", "10"), ("C2", "basic", "20"), ("C3", "pro", "30")])
    first = build_customers(spark, lake, D1)
    assert first.details["mode"] == "full" and "does not exist" in first.details["full_reason"]
    assert last_commit(spark, lake, CUSTOMERS)["operation"] == "WRITE"

    customer_batch(spark, lake, "b2", D2, T2, [("C4", "pro", "40"), ("  ", "pro", "1"), ("C2", "pro", "25")])
    second = build_customers(spark, lake, D2)
    assert second.details["mode"] == "incremental"
    assert (second.rows_in, second.details["rejected_no_key"]) == (3, 1)  # only batch 2's rows were read
    assert (second.details["rows_inserted"], second.details["rows_updated"]) == (1, 1)
    assert last_commit(spark, lake, CUSTOMERS)["operation"] == "MERGE"

    customer_batch(spark, lake, "b3", D3, T3, [("C1", "premium", "50"), ("C4", "pro", "41"), ("C5", "basic", "5"),
                                               ("", "basic", "2")])
    third = build_customers(spark, lake, D3)
    commit = last_commit(spark, lake, CUSTOMERS)
    assert third.details["mode"] == "incremental" and commit["operation"] == "MERGE"
    meta = json.loads(commit["userMetadata"])
    assert meta["job"] == "silver_test_customers" and meta["run_date"] == "2026-11-03" and meta["batches"] == ["b3"]
    assert meta["bronze_version"] == version(spark, lake, CUSTOMERS_BRONZE)
    assert (third.rows_in, third.rows_out, third.details["rejected_no_key"]) == (4, 3, 1)
    assert (third.details["rows_inserted"], third.details["rows_updated"]) == (1, 2)

    build_customers(spark, lake, D3, silver=CUSTOMERS_FULL, job="silver_test_full", full_refresh=True)
    incremental, full = read_table(spark, CUSTOMERS, lake), read_table(spark, CUSTOMERS_FULL, lake)
    assert_identical(incremental, full)
    state = {r["customer_id"]: (r["plan"], r["_batch_id"]) for r in incremental.collect()}
    assert state == {"C1": ("premium", "b3"), "C2": ("pro", "b2"), "C3": ("pro", "b1"), "C4": ("pro", "b3"),
                     "C5": ("basic", "b3")}

    # Rejects: each run date keeps the rejects of the batches it merged.
    rejects = read_table(spark, SILVER_REJECTS, lake).where(F.col("silver_table") == CUSTOMERS.name)
    assert sorted((str(r["run_date"]), r["_batch_id"]) for r in rejects.collect()) == \
        [("2026-11-02", "b2"), ("2026-11-03", "b3")]

    # A rerun of the same date after success changes nothing: no commit, same rows.
    before, rejects_before = version(spark, lake, CUSTOMERS), version(spark, lake, SILVER_REJECTS)
    rerun = build_customers(spark, lake, D3)
    assert (rerun.rows_in, rerun.details["rows_inserted"], rerun.details["rows_updated"]) == (0, 0, 0)
    assert version(spark, lake, CUSTOMERS) == before and version(spark, lake, SILVER_REJECTS) == rejects_before
    assert_identical(read_table(spark, CUSTOMERS, lake), full)

    # A later day without new batches: one empty commit for its date (the Luigi target), same rows.
    build_customers(spark, lake, D4)
    commit = last_commit(spark, lake, CUSTOMERS)
    assert int(commit["version"]) == before + 1 and commit["operation"] == "SET TBLPROPERTIES"
    assert json.loads(commit["userMetadata"])["run_date"] == "2026-11-04"
    assert_identical(read_table(spark, CUSTOMERS, lake), full)
    build_customers(spark, lake, D3)  # day 3 again, after day 4: still committed, nothing to do
    assert version(spark, lake, CUSTOMERS) == before + 1


def test_hourly_builds_merge_their_hour_and_leave_the_day_its_own_build(spark, lake):
    from luigi_tasks.targets import DeltaCommitTarget

    def target(interval):
        batch = interval if "T" in interval else None
        return DeltaCommitTarget(CUSTOMERS, "silver_test_customers", "2026-11-02", cfg=lake, batch_id=batch,
                                 interval=interval)

    customer_batch(spark, lake, "b1", D1, T1, [("C1", "basic", "10"), ("C2", "basic", "20")])
    build_customers(spark, lake, D1)
    ingest(spark, lake, CUSTOMERS_BRONZE, CUSTOMERS_SCHEMA, "h5", D2,
           [("C2", "pro", "25") + lineage("h5", D2, T2), ("C3", "pro", "30") + lineage("h5", D2, T2)])
    validate(spark, lake, CUSTOMERS_BRONZE, D2, ["h5"], run_hour=5)
    hour = build_customers(spark, lake, D2, run_hour=5)
    meta = json.loads(last_commit(spark, lake, CUSTOMERS)["userMetadata"])
    assert (hour.details["mode"], meta["batches"]) == ("incremental", ["h5"])
    assert (meta["interval"], meta["batch_id"], meta["run_date"]) == ("2026-11-02T05", "2026-11-02T05", "2026-11-02")
    assert target("2026-11-02T05").exists() and not target("2026-11-02T06").exists()
    assert not target("2026-11-02").exists()  # the hour does not stand in for the day
    after_hour = version(spark, lake, CUSTOMERS)
    build_customers(spark, lake, D2, run_hour=5)  # the hour again: committed, nothing to do
    assert version(spark, lake, CUSTOMERS) == after_hour

    # The daily build after it: nothing validated that the hour did not merge, so an empty
    # commit of its own (its target), then a rerun of the day is a no-op.
    day = build_customers(spark, lake, D2)
    commit = last_commit(spark, lake, CUSTOMERS)
    assert day.details["batches"] == 0 and int(commit["version"]) == after_hour + 1
    assert json.loads(commit["userMetadata"])["interval"] == "2026-11-02"
    assert target("2026-11-02").exists()
    build_customers(spark, lake, D2)
    assert version(spark, lake, CUSTOMERS) == after_hour + 1

    build_customers(spark, lake, D2, silver=CUSTOMERS_FULL, job="silver_test_full", full_refresh=True)
    assert_identical(read_table(spark, CUSTOMERS, lake), read_table(spark, CUSTOMERS_FULL, lake))
    assert {r["customer_id"]: r["plan"] for r in read_table(spark, CUSTOMERS, lake).collect()} == \
        {"C1": "basic", "C2": "pro", "C3": "pro"}


def test_a_rewritten_batch_forces_a_full_build_and_a_late_validated_batch_is_merged(spark, lake):
    customer_batch(spark, lake, "b1", D1, T1, [("C1", "basic", "10"), ("C2", "basic", "20")])
    build_customers(spark, lake, D1)
    # Batch 2 arrives, its validation stops; it is rebuilt in place and validation passes later:
    # silver never held it, so its rewrite is no reason to rebuild.
    customer_batch(spark, lake, "b2", D2, T2, [("C2", "broken", "x")], validated=False)
    validate(spark, lake, CUSTOMERS_BRONZE, D2, ["b2"], status="stopped")
    assert build_customers(spark, lake, D2).details["rows_in"] == 0
    customer_batch(spark, lake, "b2", D2, T2, [("C2", "pro", "25"), ("C3", "pro", "30")])
    late = build_customers(spark, lake, D2)
    assert late.details["mode"] == "incremental" and late.rows_in == 2
    assert last_commit(spark, lake, CUSTOMERS)["operation"] == "MERGE"

    # Batch 1, already in silver, is rebuilt in place with the same id: the table is rebuilt.
    customer_batch(spark, lake, "b1", D1, T1, [("C1", "gold", "99")], validated=False)
    rebuilt = build_customers(spark, lake, D3)
    assert rebuilt.details["mode"] == "full" and "rewrote batch b1" in rebuilt.details["full_reason"]
    assert last_commit(spark, lake, CUSTOMERS)["operation"] == "WRITE"
    state = {r["customer_id"]: r["plan"] for r in read_table(spark, CUSTOMERS, lake).collect()}
    assert state == {"C1": "gold", "C2": "pro", "C3": "pro"}  # C2 of the old batch 1 is gone with it

    # The next run builds on the full one incrementally again.
    customer_batch(spark, lake, "b4", D4, T3, [("C4", "pro", "1")])
    assert build_customers(spark, lake, D4).details["mode"] == "incremental"
    assert build_customers(spark, lake, D4, full_refresh=True).details["full_reason"] == "--full-refresh"


def test_a_changed_quarantine_or_a_withdrawn_batch_forces_a_full_build(spark, lake):
    customer_batch(spark, lake, "b1", D1, T1, [("C1", "basic", "10"), ("C2", "basic", "20")])
    build_customers(spark, lake, D1)
    # Quarantine of a new batch's row: incremental, the row stays out.
    customer_batch(spark, lake, "b2", D2, T2, [("C3", "pro", "30"), ("C4", "bad", "?")])
    quarantine(spark, lake, CUSTOMERS_BRONZE, D2, "customer_id = 'C4'")
    second = build_customers(spark, lake, D2)
    assert second.details["mode"] == "incremental" and second.rows_in == 1
    # Validation of day 1 is rerun and now quarantines C2, which silver holds: rebuild without it.
    quarantine(spark, lake, CUSTOMERS_BRONZE, D1, "customer_id = 'C2'")
    third = build_customers(spark, lake, D2)
    assert third.details["mode"] == "full" and "quarantine" in third.details["full_reason"]
    assert sorted(r[0] for r in read_table(spark, CUSTOMERS, lake).select("customer_id").collect()) == ["C1", "C3"]
    # Day 2's run is rerun and stopped: its batch leaves silver by a full build.
    validate(spark, lake, CUSTOMERS_BRONZE, D2, ["b2"], status="stopped")
    fourth = build_customers(spark, lake, D2)
    assert fourth.details["mode"] == "full" and "no longer validated" in fourth.details["full_reason"]
    assert [r[0] for r in read_table(spark, CUSTOMERS, lake).select("customer_id").collect()] == ["C1"]


def test_a_missed_day_run_late_gives_the_table_of_an_on_time_run(spark, lake):
    customer_batch(spark, lake, "b1", D1, T1, [("C1", "basic", "10")])
    build_customers(spark, lake, D1)
    customer_batch(spark, lake, "b2", D2, T2, [("C1", "pro", "20"), ("C2", "pro", "30")])
    customer_batch(spark, lake, "b3", D3, T3, [("C3", "pro", "40")])
    # Day 2's silver run was missed; day 3 runs first, then day 2 late.
    assert build_customers(spark, lake, D3).details["batches"] == 2
    after_d3 = version(spark, lake, CUSTOMERS)
    late = build_customers(spark, lake, D2)
    assert late.rows_in == 0 and version(spark, lake, CUSTOMERS) == after_d3 + 1  # its date's commit only
    assert json.loads(last_commit(spark, lake, CUSTOMERS)["userMetadata"])["run_date"] == "2026-11-02"
    build_customers(spark, lake, D3, silver=CUSTOMERS_FULL, job="silver_test_full", full_refresh=True)
    assert_identical(read_table(spark, CUSTOMERS, lake), read_table(spark, CUSTOMERS_FULL, lake))


# --- versions with validity (silver.invoices / payments / tickets) ---------------------------

INVOICES_BRONZE = Table("bronze.test_invoices", "bronze/test_invoices", partition_by=BRONZE_PARTS)
INVOICES = Table("silver.test_invoices", "silver/test_invoices")
INVOICES_FULL = Table("silver.test_invoices_full", "silver/test_invoices_full")
INVOICES_SCHEMA = (f"invoice_id long, customer_id string, billing_month string, amount string, due_date string, "
                   f"issued_at string, updated_at string, {LINEAGE}")


def invoice(invoice_id, amount, updated_day):
    return (invoice_id, f"C{invoice_id}", "2026-10", amount, "2026-11-15", "2026-11-01T00:00:00",
            f"2026-11-{updated_day:02d}T00:00:00")


def build_invoices(spark, cfg, day, *, silver=INVOICES, job="silver_test_invoices", full_refresh=False):
    return build_silver(spark, cfg, job=job, run_date=day, bronze=INVOICES_BRONZE, silver=silver,
                        prepare=type_invoices, key=None, versions=("invoice_id", "updated_at"),
                        full_refresh=full_refresh)


def invoice_batch(spark, cfg, batch, day, at, rows):
    ingest(spark, cfg, INVOICES_BRONZE, INVOICES_SCHEMA, batch, day, [r + lineage(batch, day, at) for r in rows])
    validate(spark, cfg, INVOICES_BRONZE, day, [batch])


def test_versions_of_the_touched_records_are_recomputed_with_their_validity(spark, lake):
    invoice_batch(spark, lake, "b1", D1, T1, [invoice(1, "20", 1), invoice(2, "30", 1)])
    assert build_invoices(spark, lake, D1).details["mode"] == "full"
    invoice_batch(spark, lake, "b2", D2, T2, [invoice(1, "25", 2), invoice(3, "40", 2)])
    second = build_invoices(spark, lake, D2)
    assert second.details["mode"] == "incremental" and last_commit(spark, lake, INVOICES)["operation"] == "MERGE"
    # invoice 1's first version is closed (updated), its second and invoice 3 are inserted
    assert (second.details["rows_inserted"], second.details["rows_updated"]) == (2, 1)
    # Batch 3: a later version of invoice 1, invoice 2's same version fetched again, a new invoice.
    invoice_batch(spark, lake, "b3", D3, T3, [invoice(1, "27", 3), invoice(2, "30", 1), invoice(4, "50", 3)])
    third = build_invoices(spark, lake, D3)
    assert third.details["mode"] == "incremental" and last_commit(spark, lake, INVOICES)["operation"] == "MERGE"
    assert (third.details["rows_inserted"], third.details["rows_updated"]) == (2, 2)

    build_invoices(spark, lake, D3, silver=INVOICES_FULL, job="silver_test_full", full_refresh=True)
    incremental = read_table(spark, INVOICES, lake)
    assert_identical(incremental, read_table(spark, INVOICES_FULL, lake))
    versions = sorted((r["invoice_id"], r["amount"], r["valid_to"] is None, r["is_current"], r["_batch_id"])
                      for r in incremental.collect())
    assert versions == [(1, 20.0, False, False, "b1"), (1, 25.0, False, False, "b2"), (1, 27.0, True, True, "b3"),
                        (2, 30.0, True, True, "b3"), (3, 40.0, True, True, "b2"), (4, 50.0, True, True, "b3")]
    before = version(spark, lake, INVOICES)
    assert build_invoices(spark, lake, D3).rows_in == 0 and version(spark, lake, INVOICES) == before


# --- key-less events (silver.web_events) ------------------------------------------------------

EVENTS_BRONZE = Table("bronze.test_access_logs", "bronze/test_access_logs", partition_by=BRONZE_PARTS)
EVENTS = Table("silver.test_web_events", "silver/test_web_events", partition_by=("event_date",))
EVENTS_FULL = Table("silver.test_web_events_full", "silver/test_web_events_full", partition_by=("event_date",))
EVENTS_SCHEMA = (f"client_ip string, customer_id string, event_time timestamp, method string, path string, "
                 f"status int, bytes long, user_agent string, {LINEAGE}")


def event(day, hour, path, customer="C1", ip="10.0.0.1"):
    return (ip, customer, dt.datetime(2026, 11, day, hour), "get", path, 200, 10, "ua")


def build_events(spark, cfg, day, *, silver=EVENTS, job="silver_test_web_events", full_refresh=False):
    return build_silver(spark, cfg, job=job, run_date=day, bronze=EVENTS_BRONZE, silver=silver,
                        prepare=lambda df: web_events(df, "k"), key=None, distinct_on=WEB_EVENT_COLUMNS,
                        full_refresh=full_refresh)


def event_batch(spark, cfg, batch, day, at, rows):
    ingest(spark, cfg, EVENTS_BRONZE, EVENTS_SCHEMA, batch, day, [r + lineage(batch, day, at) for r in rows])
    validate(spark, cfg, EVENTS_BRONZE, day, [batch])


def test_events_not_in_silver_yet_are_inserted_once(spark, lake):
    event_batch(spark, lake, "b1", D1, T1, [event(1, 10, "/a"), event(1, 11, "/b")])
    assert build_events(spark, lake, D1).details["mode"] == "full"
    event_batch(spark, lake, "b2", D2, T2, [event(2, 9, "/c"), event(2, 9, "/c"), event(1, 12, "/late")])
    second = build_events(spark, lake, D2)
    assert (second.rows_in, second.rows_out, second.details["duplicates_removed"]) == (3, 2, 1)
    assert second.details["rows_inserted"] == 2
    # Batch 3 logs batch 1's first request again, a new one, and an anonymous one.
    event_batch(spark, lake, "b3", D3, T3, [event(1, 10, "/a"), event(3, 8, "/d"), event(3, 9, "/e", customer=None)])
    third = build_events(spark, lake, D3)
    commit = last_commit(spark, lake, EVENTS)
    assert third.details["mode"] == "incremental" and commit["operation"] == "MERGE"
    assert (third.details["rows_inserted"], third.details["rows_updated"]) == (2, 0)
    assert "event_date" in commit["operationParameters"]["predicate"]  # scoped to the new events' dates

    build_events(spark, lake, D3, silver=EVENTS_FULL, job="silver_test_full", full_refresh=True)
    incremental = read_table(spark, EVENTS, lake)
    assert_identical(incremental, read_table(spark, EVENTS_FULL, lake))
    assert incremental.count() == 6
    assert [r["_batch_id"] for r in incremental.where("path = '/a'").collect()] == ["b1"]  # first seen kept
    before = version(spark, lake, EVENTS)
    assert build_events(spark, lake, D3).rows_in == 0 and version(spark, lake, EVENTS) == before


# --- the pieces -----------------------------------------------------------------------------

def test_rewritten_batch_reads_only_a_single_batch_replace_where():
    assert rewritten_batch("_source = 's' AND _batch_id = 'crm-customers-2026-11-27'") == "crm-customers-2026-11-27"
    assert rewritten_batch("((_source = 's') AND (_batch_id = 'b1'))") == "b1"
    assert rewritten_batch("_source = 's'") is None
    assert rewritten_batch("_batch_id = 'b1' OR _batch_id = 'b2'") is None
    assert rewritten_batch("_source = 's' AND _batch_id = 'b1' AND _batch_id = 'b2'") is None


def test_precedes_orders_like_latest_per_key(spark):
    df = spark.createDataFrame([(2, "a", 1, "z"), (1, "z", 1, "a"), (1, "b", 1, "a"), (1, "a", 1, "a"),
                                (1, None, 1, "a"), (None, "a", 1, "a"), (1, "a", 1, None)],
                               "s_t int, s_b string, t_t int, t_b string")
    expr = precedes("s", "t", ("t", "b"), descending=True).replace("s.`", "`s_").replace("t.`", "`t_")
    got = [r[0] for r in df.select(F.expr(expr)).collect()]
    assert got == [True, True, True, False, False, False, True]
