"""Silver cleaning rules for billing, tickets and web events, on tiny frames."""

import datetime as dt

import pytest
from pyspark.sql import functions as F

from churnlake.transforms.silver import (latest_per_key, pseudonymise, standardise_service_flags,
                                         type_invoices, type_payments, type_tickets, web_events)

LINEAGE = "_ingested_at timestamp, _batch_id string"
T1, T2 = dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 2)


def test_no_service_values_become_no(spark):
    df = spark.createDataFrame([("No internet service", "No phone service", "Yes", "DSL")],
                               "online_security string, multiple_lines string, streaming_tv string, internet_service string")
    row = standardise_service_flags(df).first()
    assert (row["online_security"], row["multiple_lines"], row["streaming_tv"], row["internet_service"]) == \
        ("No", "No", "Yes", "DSL")


def test_invoices_are_typed_and_the_latest_version_wins(spark):
    bronze = spark.createDataFrame([
        (1, " C1 ", "2026-10", "20.50", "2026-11-15", "2026-11-01T00:00:00", "2026-11-01T00:00:00", T1, "b1"),
        (1, "C1", "2026-10", "25.00", "2026-11-15", "2026-11-01T00:00:00", "2026-11-03T00:00:00", T1, "b1"),
        (2, "C2", "2026-09-01", "x", "2026-10-15", "2026-10-01T00:00:00", "2026-10-01T00:00:00", T2, "b2"),
    ], f"invoice_id long, customer_id string, billing_month string, amount string, due_date string, "
       f"issued_at string, updated_at string, {LINEAGE}")
    typed = type_invoices(bronze)
    out = {r["invoice_id"]: r for r in latest_per_key(typed, "invoice_id", ["updated_at", "_ingested_at"]).collect()}
    assert out[1]["amount"] == 25.0 and out[1]["customer_id"] == "C1"
    assert out[1]["billing_month"] == dt.date(2026, 10, 1) and out[1]["due_date"] == dt.date(2026, 11, 15)
    assert out[2]["amount"] is None  # unparseable text becomes null, never an exception
    assert out[2]["billing_month"] == dt.date(2026, 9, 1)  # the billing database's own YYYY-MM-01


def test_payments_lowercase_status_and_keep_missing_paid_at(spark):
    bronze = spark.createDataFrame([(7, 1, "C1", None, "20.5", " FAILED ", "Credit_Card", "2026-11-02T10:00:00", T1, "b")],
                                   f"payment_id long, invoice_id long, customer_id string, paid_at string, amount string, "
                                   f"status string, method string, updated_at string, {LINEAGE}")
    row = type_payments(bronze).first()
    assert (row["status"], row["method"], row["paid_at"], row["amount"]) == ("failed", "credit_card", None, 20.5)
    assert row["updated_at"] == dt.datetime(2026, 11, 2, 10)


def test_tickets_get_resolution_hours(spark):
    bronze = spark.createDataFrame([
        (5, "C1", "2026-11-01T00:00:00Z", "2026-11-02T12:00:00Z", "2026-11-02T12:00:00Z", "Billing", "high",
         "resolved", "chat", 4, T1, "b"),
        (6, "C2", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z", None, "technical", "low", "open", "web", None, T1, "b"),
    ], f"ticket_id long, customer_id string, created_at string, updated_at string, resolved_at string, category string, "
       f"priority string, status string, channel string, satisfaction int, {LINEAGE}")
    rows = {r["ticket_id"]: r for r in type_tickets(bronze).collect()}
    assert rows[5]["resolution_hours"] == 36.0 and rows[5]["category"] == "billing"
    assert rows[6]["resolution_hours"] is None and rows[6]["resolved_at"] is None


LOG_SCHEMA = (f"raw_line string, client_ip string, customer_id string, request_ts string, event_time timestamp, "
              f"method string, path string, protocol string, status int, bytes long, referer string, "
              f"user_agent string, {LINEAGE}")


def log_row(ip, path="/dashboard", batch="b1", ingested=T1):
    return (f'{ip} - C1 [..] "GET {path} HTTP/1.1" 200 10 "-" "ua"', ip, "C1", "01/Nov/2026:10:00:00 +0000",
            dt.datetime(2026, 11, 1, 10), "GET", path, "HTTP/1.1", 200, 10, "https://x/?q=1", "ua", ingested, batch)


def test_web_events_pseudonymise_ips_drop_raw_text_and_duplicates(spark):
    bronze = spark.createDataFrame([log_row("10.0.0.1"), log_row("10.0.0.1", batch="b2", ingested=T2),
                                    log_row("10.0.0.2"), log_row("10.0.0.1", path="/usage")], LOG_SCHEMA)
    out = web_events(bronze, key="k1")
    assert out.count() == 3  # the same request logged twice counts once
    assert not {"raw_line", "client_ip", "referer", "request_ts"} & set(out.columns)
    pseudonyms = {r["path"]: r["client_pseudonym"] for r in out.where("path = '/usage'").collect()}
    first = out.where("path = '/dashboard'").select("client_pseudonym").distinct().count()
    assert first == 2  # two IPs, two pseudonyms
    same_ip = out.where("path = '/dashboard'").orderBy("client_pseudonym").collect()
    assert pseudonyms["/usage"] in {r["client_pseudonym"] for r in same_ip}  # same IP, same pseudonym
    assert all("10.0.0" not in str(v) for r in out.collect() for v in r)  # no IP anywhere
    assert out.first()["event_date"] == dt.date(2026, 11, 1)


def test_pseudonyms_depend_on_the_key(spark):
    df = spark.createDataFrame([("10.0.0.1",), (None,)], "ip string")
    a = [r[0] for r in df.select(pseudonymise(F.col("ip"), "k1")).collect()]
    b = [r[0] for r in df.select(pseudonymise(F.col("ip"), "k2")).collect()]
    assert a[0] != b[0] and len(a[0]) == 64 and a[1] is None
    with pytest.raises(ValueError):
        pseudonymise(F.col("ip"), "")


def test_history_versions_keep_each_version_once_with_validity(spark):
    from churnlake.transforms.silver import as_of, history_versions

    d = dt.datetime
    df = spark.createDataFrame([
        (1, "open", d(2026, 11, 1), T1, "b1"),
        (1, "open", d(2026, 11, 1), T2, "b2"),        # the same version fetched again
        (1, "resolved", d(2026, 11, 5), T2, "b2"),
        (2, "open", d(2026, 11, 3), T2, "b2"),
    ], f"ticket_id long, status string, updated_at timestamp, {LINEAGE}")
    versions = history_versions(df, "ticket_id", "updated_at")
    rows = sorted((r["ticket_id"], r["status"], r["valid_to"], r["is_current"], r["_batch_id"])
                  for r in versions.collect())
    assert rows == [(1, "open", d(2026, 11, 5), False, "b2"), (1, "resolved", None, True, "b2"),
                    (2, "open", None, True, "b2")]

    def state_at(t):
        return sorted((r["ticket_id"], r["status"]) for r in as_of(versions, F.lit(t)).collect())

    assert state_at(d(2026, 11, 2)) == [(1, "open")]           # ticket 2 did not exist yet
    assert state_at(d(2026, 11, 4)) == [(1, "open"), (2, "open")]  # the resolution is in the future
    assert state_at(d(2026, 11, 5)) == [(1, "resolved"), (2, "open")]


def test_rows_without_a_key_are_set_aside_with_a_reason_not_dropped(spark):
    import json

    from churnlake.silver import silver_counts
    from churnlake.transforms.silver import split_missing_key

    df = spark.createDataFrame([("C1", 1, "b1"), (None, 2, "b1"), ("  ", 3, "b2"), ("C1", 4, "b2")],
                               "customer_id string, n int, _batch_id string")
    kept, rejected = split_missing_key(df, "customer_id")
    assert sorted(r["n"] for r in kept.collect()) == [1, 4]
    rows = rejected.collect()
    assert sorted(json.loads(r["record"])["n"] for r in rows) == [2, 3]
    assert all("customer_id is missing" in r["reason"] for r in rows)
    assert {r["_batch_id"] for r in rows} == {"b1", "b2"} and all(r["_source_file"] is None for r in rows)
    # 4 rows in: 1 written after dedup, 2 rejected without a key, 1 duplicate, each named as such.
    assert silver_counts(4, 1, 2) == {"rows_in": 4, "rejected_no_key": 2, "duplicates_removed": 1}
    with pytest.raises(ValueError, match="more out than in"):
        silver_counts(2, 2, 1)
