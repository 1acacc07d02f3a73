"""Validation runs on tiny bronze tables: seeded defects are caught, good rows flow on.

Bronze is built the way ingestion builds it (CSV reader with the bronze DDL, lineage
columns); the validation itself is the real code with Great Expectations on Spark.
"""

import datetime as dt
import os
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from churnlake.config import load_config
from churnlake.delta import read_table, replace_rows
from churnlake.ingestion.readers import read_crm_csv, read_json_lines
from churnlake.schemas import struct
from churnlake.tables import (BRONZE_BILLING_INVOICES, BRONZE_CRM_CUSTOMERS, QUALITY_RESULTS, QUALITY_RUNS,
                              quarantine_table)
from churnlake.transforms.bronze import add_lineage
from churnlake.validation.store import validated_rows
from churnlake.validation.validate import ValidationStopped, validate_table
from tests.conftest import TELCO_CSV, lakehouse_env

DAY = dt.date(2026, 11, 27)
HEADER, *TELCO = TELCO_CSV.read_text(encoding="utf-8").splitlines()
GOOD = TELCO[:20]
GOOD_IDS = [line.split(",")[0] for line in GOOD]


def _bad_lines() -> dict[str, str]:
    """One CSV line per defect class, keyed by the check that must catch it."""
    base = TELCO[30].split(",")

    def line(**over):
        fields = list(base)
        for idx, value in over.items():
            fields[int(idx[1:])] = value
        return ",".join(fields)

    return {
        "tenure_integer": line(c0="9001-TYPEA", c5="abc"),              # wrong type
        "monthly_charges_range": line(c0="9002-RANGE", c18="-5.0"),      # out of range
        "broken_line": "9003-BROKN,Male,0,Yes",                           # broken line
        "contract_values": line(c0="9004-ENUMS", c15="Weekly"),          # unknown category
        "customer_id_present": line(c0=""),                               # missing id
    }


@pytest.fixture()
def lake(tmp_path: Path):
    return load_config(environ={**os.environ, **lakehouse_env(tmp_path)})


def ingest_csv(spark, cfg, path: Path, batch: str, day=DAY):
    raw = read_crm_csv(spark, [path.as_uri()], struct(cfg, "bronze", "crm_customers"))
    bronze = add_lineage(raw, source="crm", batch_id=batch, ingested_at=dt.datetime(2026, 11, 27, 1),
                         ingest_date=day, file_col=F.col("_file"), sha_by_file={},
                         rescued_col=F.col("_corrupt_record")).drop("_file", "_corrupt_record")
    replace_rows(bronze, BRONZE_CRM_CUSTOMERS, cfg, replace_where=f"_batch_id = '{batch}'", metadata="{}")


def test_seeded_defects_are_quarantined_and_good_rows_flow(spark, lake, tmp_path):
    bad = _bad_lines()
    dup = GOOD[3]  # the same customer twice: a duplicate key, resolved in silver
    csv = tmp_path / "crm.csv"
    csv.write_text("\n".join([HEADER, *GOOD, dup, *bad.values()]) + "\n", encoding="utf-8")
    ingest_csv(spark, lake, csv, "crm-customers-2026-11-27")

    out = validate_table(spark, lake, BRONZE_CRM_CUSTOMERS, DAY)

    assert out.status == "warned"
    assert out.rows_in == len(GOOD) + 1 + len(bad)
    assert out.rows_in == out.rows_passed + out.rows_quarantined  # reconciliation
    quarantine = read_table(spark, quarantine_table(BRONZE_CRM_CUSTOMERS), lake).collect()
    reasons = {r["customerID"] or r["_rescued_data"]: set(r["_quarantine_reasons"]) for r in quarantine}
    assert len(quarantine) == len(bad)
    for check_id in bad:
        assert any(check_id in rs for rs in reasons.values()), check_id
    assert all(r["_validation_run_id"] == out.run_id for r in quarantine)

    by_check = {r.check.id: r for r in out.results}
    assert by_check["customer_id_unique"].unexpected_count == 2  # both copies of the duplicate
    assert by_check["customer_id_unique"].resolution_applied.startswith("deduplicated")
    assert by_check["broken_lines_share"].success  # 1 broken line of 26 is below the critical share

    passed = validated_rows(spark, BRONZE_CRM_CUSTOMERS, lake, DAY)
    assert sorted(r[0] for r in passed.select("customerID").collect()) == sorted(GOOD_IDS + [dup.split(",")[0]])

    results = read_table(spark, QUALITY_RESULTS, lake).where(F.col("run_id") == out.run_id)
    assert results.count() == len(out.results)
    row = results.where(F.col("check_id") == "monthly_charges_range").first()
    assert (row["severity"], row["success"], row["unexpected_count"], row["resolution"]) == \
        ("warning", False, 1, "quarantined")
    assert row["sample_values"] == ["-5.0"]
    report = Path(out.report_dir)
    assert {"report.csv", "report.html", "report.pdf", "runs.csv"} <= {p.name for p in report.iterdir()}

    # A rerun of the same date replaces its own records: same counts, no duplicates.
    again = validate_table(spark, lake, BRONZE_CRM_CUSTOMERS, DAY)
    assert (again.rows_in, again.rows_quarantined) == (out.rows_in, out.rows_quarantined)
    assert read_table(spark, QUALITY_RUNS, lake).count() == 1
    assert read_table(spark, quarantine_table(BRONZE_CRM_CUSTOMERS), lake).count() == len(bad)


def test_orphan_references_are_quarantined(spark, lake, tmp_path):
    csv = tmp_path / "crm.csv"
    csv.write_text("\n".join([HEADER, *GOOD]) + "\n", encoding="utf-8")
    ingest_csv(spark, lake, csv, "crm-customers-2026-11-27")
    invoices = [{"invoice_id": i, "customer_id": cid, "billing_month": "2026-10", "amount": "20.50",
                 "due_date": "2026-11-15", "issued_at": "2026-11-01T00:00:00", "updated_at": "2026-11-01T00:00:00"}
                for i, cid in enumerate(GOOD_IDS[:5] + ["0000-GHOST"], start=1)]
    import json
    path = tmp_path / "invoices.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in invoices) + "\n", encoding="utf-8")
    raw = read_json_lines(spark, [path.as_uri()], struct(lake, "bronze", "billing_invoices"))
    bronze = add_lineage(raw, source="billing", batch_id="billing-invoices-2026-11-27",
                         ingested_at=dt.datetime(2026, 11, 27, 2), ingest_date=DAY, file_col=F.col("_file"),
                         sha_by_file={}, rescued_col=F.col("_corrupt_record")).drop("_file", "_corrupt_record")
    replace_rows(bronze, BRONZE_BILLING_INVOICES, lake, replace_where="_source = 'billing'", metadata="{}")

    out = validate_table(spark, lake, BRONZE_BILLING_INVOICES, DAY)

    assert (out.status, out.rows_in, out.rows_passed, out.rows_quarantined) == ("warned", 6, 5, 1)
    row = read_table(spark, quarantine_table(BRONZE_BILLING_INVOICES), lake).first()
    assert (row["customer_id"], row["_quarantine_reasons"]) == ("0000-GHOST", ["customer_known"])


def test_a_critical_failure_stops_and_blocks_the_batch(spark, lake, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("\n".join([HEADER, *GOOD]) + "\n", encoding="utf-8")
    ingest_csv(spark, lake, good, "crm-customers-2026-11-26", day=DAY - dt.timedelta(days=1))
    validate_table(spark, lake, BRONZE_CRM_CUSTOMERS, DAY - dt.timedelta(days=1))
    # Next day's export lost a column: every line has 20 fields instead of 21.
    broken = tmp_path / "broken.csv"
    short = [",".join(line.split(",")[:1] + line.split(",")[2:]) for line in TELCO[100:110]]
    broken.write_text("\n".join([HEADER.replace("gender,", ""), *short]) + "\n", encoding="utf-8")
    ingest_csv(spark, lake, broken, "crm-customers-2026-11-27")

    with pytest.raises(ValidationStopped) as err:
        validate_table(spark, lake, BRONZE_CRM_CUSTOMERS, DAY)

    message = str(err.value)
    assert "bronze.crm_customers" in message and "broken_lines_share" in message
    assert "10 of 10 rows unexpected" in message
    run = read_table(spark, QUALITY_RUNS, lake).where(F.col("run_date") == F.lit(DAY)).first()
    assert (run["status"], run["rows_in"], run["rows_passed"]) == ("stopped", 10, 0)
    assert run["rows_quarantined"] + run["rows_blocked"] == 10
    # Silver sees the earlier, validated batch only.
    assert validated_rows(spark, BRONZE_CRM_CUSTOMERS, lake, DAY).count() == len(GOOD)
    report = (lake.reports_dir / "quality" / DAY.isoformat() / "report.html").read_text()
    assert "stopped" in report and "broken_lines_share" in report


def test_quarantining_most_of_a_batch_stops_it(spark, lake, tmp_path):
    # Every row fails a row-level check (an enumeration changed upstream): a systemic problem.
    lines = [",".join(line.split(",")[:15] + ["Monthly"] + line.split(",")[16:]) for line in GOOD]
    csv = tmp_path / "crm.csv"
    csv.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    ingest_csv(spark, lake, csv, "crm-customers-2026-11-27")
    with pytest.raises(ValidationStopped, match=r"quarantine_share .* 20 of 20 rows unexpected"):
        validate_table(spark, lake, BRONZE_CRM_CUSTOMERS, DAY)
    run = read_table(spark, QUALITY_RUNS, lake).first()
    assert (run["status"], run["rows_passed"]) == ("stopped", 0)


def test_a_quarantine_predicate_that_disagrees_with_great_expectations_stops_validation(spark, lake, tmp_path,
                                                                                          monkeypatch):
    from churnlake.delta import table_exists
    from churnlake.validation import validate as validate_module

    csv = tmp_path / "crm.csv"
    csv.write_text("\n".join([HEADER, *GOOD, _bad_lines()["tenure_integer"]]) + "\n", encoding="utf-8")
    ingest_csv(spark, lake, csv, "crm-customers-2026-11-27")
    real = validate_module.count_failing

    def off_by_one(df, checks):  # a predicate that finds one row fewer than GE does
        return {k: max(0, v - 1) if k == "tenure_integer" else v for k, v in real(df, checks).items()}

    monkeypatch.setattr(validate_module, "count_failing", off_by_one)
    with pytest.raises(validate_module.ValidationMismatch,
                       match="check tenure_integer: GE counted 1 unexpected rows, the quarantine predicate 0"):
        validate_table(spark, lake, BRONZE_CRM_CUSTOMERS, DAY)
    assert not table_exists(spark, quarantine_table(BRONZE_CRM_CUSTOMERS), lake)  # nothing was written


def test_two_validations_started_together_on_an_empty_lakehouse_never_race(spark, lake, tmp_path, caplog):
    """Both write the shared quality tables; the first of them creates each table, once."""
    import json
    import logging
    import threading

    csv = tmp_path / "crm.csv"
    csv.write_text("\n".join([HEADER, *GOOD]) + "\n", encoding="utf-8")
    ingest_csv(spark, lake, csv, "crm-customers-2026-11-27")
    invoices = [{"invoice_id": i, "customer_id": cid, "billing_month": "2026-10", "amount": "20.50",
                 "due_date": "2026-11-15", "issued_at": "2026-11-01T00:00:00", "updated_at": "2026-11-01T00:00:00"}
                for i, cid in enumerate(GOOD_IDS[:5], start=1)]
    path = tmp_path / "invoices.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in invoices) + "\n", encoding="utf-8")
    raw = read_json_lines(spark, [path.as_uri()], struct(lake, "bronze", "billing_invoices"))
    replace_rows(add_lineage(raw, source="billing", batch_id="billing-invoices-2026-11-27",
                             ingested_at=dt.datetime(2026, 11, 27, 2), ingest_date=DAY, file_col=F.col("_file"),
                             sha_by_file={}, rescued_col=F.col("_corrupt_record")).drop("_file", "_corrupt_record"),
                 BRONZE_BILLING_INVOICES, lake, replace_where="_source = 'billing'", metadata="{}")
    barrier, outcomes, errors = threading.Barrier(2), {}, []

    def run(table):
        try:
            barrier.wait()
            outcomes[table.name] = validate_table(spark, lake, table, DAY)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    caplog.set_level(logging.INFO, logger="churnlake.delta")
    threads = [threading.Thread(target=run, args=(t,)) for t in (BRONZE_CRM_CUSTOMERS, BRONZE_BILLING_INVOICES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert errors == [] and set(outcomes) == {"bronze.crm_customers", "bronze.billing_invoices"}
    assert not [r for r in caplog.records if "concurrent commit" in r.getMessage()]  # no race was retried
    created = [r.getMessage() for r in caplog.records if r.getMessage().startswith("created quality.")]
    assert sorted(m.split()[1] for m in created) == ["quality.validation_results", "quality.validation_runs"]
    runs = read_table(spark, QUALITY_RUNS, lake).collect()
    assert sorted(r["table_name"] for r in runs) == ["bronze.billing_invoices", "bronze.crm_customers"]


def test_hourly_runs_cover_only_the_new_hour_and_silver_sees_every_hour(spark, lake, tmp_path):
    from churnlake.validation import store

    for hour, lines in ((5, GOOD[:8]), (6, GOOD[8:14])):
        path = tmp_path / f"h{hour}.csv"
        path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
        ingest_csv(spark, lake, path, f"crm-customers-2026-11-27T{hour:02d}")
    first = validate_table(spark, lake, BRONZE_CRM_CUSTOMERS, DAY, run_hour=5)
    # Both hours had arrived: the first hourly run takes both, the next one finds nothing left.
    assert first.run_id == "crm_customers-2026-11-27T05" and first.rows_in == 14
    path = tmp_path / "h7.csv"
    path.write_text("\n".join([HEADER, *GOOD[14:20]]) + "\n", encoding="utf-8")
    ingest_csv(spark, lake, path, "crm-customers-2026-11-27T07")
    second = validate_table(spark, lake, BRONZE_CRM_CUSTOMERS, DAY, run_hour=7)
    assert second.batch_ids == ["crm-customers-2026-11-27T07"] and second.rows_in == 6
    # A rerun of the hour replaces its own record; the daily run then has nothing left to check.
    assert validate_table(spark, lake, BRONZE_CRM_CUSTOMERS, DAY, run_hour=7).batch_ids == second.batch_ids
    daily = validate_table(spark, lake, BRONZE_CRM_CUSTOMERS, DAY)
    assert (daily.batch_ids, daily.rows_in) == ([], 0)
    runs = read_table(spark, QUALITY_RUNS, lake).where(F.col("table_name") == BRONZE_CRM_CUSTOMERS.name)
    assert sorted(r["run_id"] for r in runs.collect()) == [
        "crm_customers-2026-11-27", "crm_customers-2026-11-27T05", "crm_customers-2026-11-27T07"]
    assert validated_rows(spark, BRONZE_CRM_CUSTOMERS, lake, DAY).count() == 20
    # History compares an hour with earlier hours only (the daily run is not one of them).
    past = store.history(spark, BRONZE_CRM_CUSTOMERS, lake, "crm_customers-2026-11-28T00", DAY + dt.timedelta(days=1))
    assert [h["rows_in"] for h in past] == [14, 6]
    assert store.is_hourly("web_access_logs-2026-11-28T05") and not store.is_hourly("crm_customers-2026-11-27")
