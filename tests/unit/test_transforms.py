"""Bronze, silver and gold transforms on tiny frames."""

import datetime as dt

import pytest
from pyspark.sql import functions as F

from churnlake.transforms.bronze import LINEAGE_COLUMNS, add_lineage
from churnlake.transforms.gold import churn_labels, customer_features
from churnlake.transforms.silver import CRM_RENAMES, latest_per_key, type_crm_customers
from tests.conftest import assert_same_rows

RAW_COLS = list(CRM_RENAMES)


def crm_row(cid, tenure="5", total="100.5", churn="No", monthly="20.1", senior="0", **over):
    row = {c: "No" for c in RAW_COLS}
    row.update(customerID=cid, gender="Female", SeniorCitizen=senior, tenure=tenure,
               MultipleLines="No", InternetService="DSL", OnlineSecurity="Yes",
               OnlineBackup="No internet service", Contract="Month-to-month",
               PaymentMethod="Electronic check", MonthlyCharges=monthly, TotalCharges=total,
               Churn=churn)
    row.update(over)
    return row


def bronze_frame(spark, rows, ingested="2026-11-27 00:00:00", batch="crm-2026-11-27"):
    df = spark.createDataFrame([[r[c] for c in RAW_COLS] for r in rows],
                               ", ".join(f"{c} string" for c in RAW_COLS))
    return df.withColumn("_ingested_at", F.lit(ingested).cast("timestamp")) \
             .withColumn("_batch_id", F.lit(batch))


def test_add_lineage_adds_every_lineage_column_and_maps_file_hashes(spark):
    df = spark.createDataFrame([("a", "file:/x/in/one.csv"), ("b", "file:/x/in/two.csv")], "v string, f string")
    out = add_lineage(df, source="crm", batch_id="b1", ingested_at=dt.datetime(2026, 11, 27, 1),
                      ingest_date=dt.date(2026, 11, 27), file_col=F.col("f"),
                      sha_by_file={"one.csv": "h1", "two.csv": "h2"})
    assert set(LINEAGE_COLUMNS) <= set(out.columns)
    got = {r["v"]: (r["_source"], r["_batch_id"], str(r["_ingest_date"]), r["_source_file_sha256"])
           for r in out.collect()}
    assert got == {"a": ("crm", "b1", "2026-11-27", "h1"), "b": ("crm", "b1", "2026-11-27", "h2")}
    with pytest.raises(ValueError, match="non-empty"):
        add_lineage(df, source="", batch_id="b", ingested_at=dt.datetime(2026, 1, 1),
                    ingest_date=dt.date(2026, 1, 1), file_col=F.col("f"), sha_by_file={})


def test_type_crm_customers_casts_trims_and_fills_blank_total_at_tenure_zero(spark):
    rows = [crm_row(" C1 ", tenure="0", total=" ", churn="Yes", senior="1"),
            crm_row("C2", tenure="10", total="201.0", Partner=" yes ")]
    out = {r["customer_id"]: r for r in type_crm_customers(bronze_frame(spark, rows)).collect()}
    assert set(out) == {"C1", "C2"}
    assert out["C1"]["total_charges"] == 0.0 and out["C1"]["tenure_months"] == 0
    assert out["C1"]["churn"] is True and out["C1"]["senior_citizen"] is True
    assert out["C2"]["total_charges"] == 201.0 and out["C2"]["partner"] is True
    assert out["C2"]["gender"] == "female"


def test_blank_total_with_positive_tenure_stays_null(spark):
    out = type_crm_customers(bronze_frame(spark, [crm_row("C3", tenure="4", total=" ")])).first()
    assert out["total_charges"] is None


def test_type_crm_customers_names_missing_columns(spark):
    df = bronze_frame(spark, [crm_row("C1")]).drop("Churn", "tenure")
    with pytest.raises(ValueError, match="Churn, tenure|tenure.*Churn"):
        type_crm_customers(df)


def test_latest_per_key_keeps_the_latest_record(spark):
    df = spark.createDataFrame(
        [("C1", "old", "2026-11-01 00:00:00"), ("C1", "new", "2026-11-02 00:00:00"),
         ("C2", "only", "2026-11-01 00:00:00")], "k string, v string, ts string"
    ).withColumn("ts", F.col("ts").cast("timestamp"))
    out = latest_per_key(df, "k", ["ts"]).select("k", "v")
    assert_same_rows(out, spark.createDataFrame([("C1", "new"), ("C2", "only")], "k string, v string"))
    with pytest.raises(ValueError):
        latest_per_key(df, "k", [])


def test_customer_features_and_labels(spark):
    rows = [crm_row("C1", tenure="0", total=" ", monthly="30.0", churn="Yes", OnlineSecurity="Yes",
                    TechSupport="Yes"),
            crm_row("C2", tenure="4", total="100.0", monthly="26.0", churn="No")]
    customers = type_crm_customers(bronze_frame(spark, rows))
    as_of = dt.date(2026, 11, 27)
    feats = {r["customer_id"]: r for r in customer_features(customers, as_of).collect()}
    assert feats["C1"]["avg_monthly_spend"] == 30.0  # no history: the monthly charge
    assert feats["C2"]["avg_monthly_spend"] == 25.0
    assert feats["C1"]["num_addon_services"] == 2 and feats["C2"]["num_addon_services"] == 1
    assert feats["C1"]["as_of_date"] == as_of
    assert "churn" not in customer_features(customers, as_of).columns
    labels = {r["customer_id"]: r["churned"] for r in churn_labels(customers, as_of).collect()}
    assert labels == {"C1": 1, "C2": 0}
