"""Raw-file readers: CRM CSV line endings and BOMs, JSON lines, access-log parsing."""

import pytest

from churnlake.ingestion.readers import read_crm_csv, read_json_lines
from churnlake.schemas import struct
from churnlake.transforms.access_logs import parse_access_log

HEADER = "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn"
ROW1 = "7590-VHVEG,Female,0,Yes,No,1,No,No phone service,DSL,No,Yes,No,No,No,No,Month-to-month,Yes,Electronic check,29.85,29.85,No"
ROW2 = "4472-LVYGI,Female,0,Yes,Yes,0,No,No phone service,DSL,Yes,No,Yes,Yes,Yes,No,Two year,Yes,Bank transfer (automatic),52.55, ,No"


@pytest.mark.parametrize("newline,bom", [("\n", False), ("\r\n", False), ("\n", True), ("\r\n", True)])
def test_crm_csv_reads_the_same_whatever_the_line_endings_and_bom(spark, cfg, tmp_path, newline, bom):
    path = tmp_path / "export.csv"
    text = newline.join([HEADER, ROW1, ROW2]) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    df = read_crm_csv(spark, [path.as_uri()], struct(cfg, "bronze", "crm_customers"))
    rows = df.orderBy("customerID").collect()
    assert [r["customerID"] for r in rows] == ["4472-LVYGI", "7590-VHVEG"]
    assert rows[1]["Churn"] == "No" and rows[0]["TotalCharges"] == " "  # as received
    assert all(r["_corrupt_record"] is None for r in rows)


def test_crm_csv_keeps_a_broken_line_as_corrupt_record(spark, cfg, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([HEADER, ROW1, "BROKEN,only,three"]) + "\n")
    rows = read_crm_csv(spark, [path.as_uri()], struct(cfg, "bronze", "crm_customers")).collect()
    bad = [r for r in rows if r["_corrupt_record"] is not None]
    assert len(rows) == 2 and len(bad) == 1 and bad[0]["_corrupt_record"] == "BROKEN,only,three"


def test_json_lines_malformed_line_is_kept_raw(spark, tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": 1, "v": "a"}\n{"id": 2, "v": \n{"id": 3, "v": "c"}\n')
    rows = read_json_lines(spark, [path.as_uri()], spark.createDataFrame([], "id long, v string").schema).collect()
    assert sorted(r["id"] for r in rows if r["id"] is not None) == [1, 3]
    assert [r["_corrupt_record"] for r in rows if r["_corrupt_record"]] == ['{"id": 2, "v": ']


def test_parse_access_log_fields_and_reject_reasons(spark):
    good = ('10.1.2.3 - 7590-VHVEG [27/Nov/2026:13:05:09 +0000] "GET /billing HTTP/1.1" 200 7012 '
            '"https://portal.telco.example/dashboard" "Mozilla/5.0 (X11)"')
    anon = '10.1.2.4 - - [27/Nov/2026:13:05:10 +0100] "POST /login HTTP/1.1" 302 - "-" "curl/8"'
    bad_ts = good.replace("27/Nov/2026:13:05:09", "31/Foo/2026:99:05:09")
    lines = spark.createDataFrame([(good,), (anon,), ("garbage line",), ("",), (bad_ts,)], "value string")
    out = {r["raw_line"]: r for r in parse_access_log(lines).collect()}
    g = out[good]
    assert (g["client_ip"], g["customer_id"], g["method"], g["path"], g["status"], g["bytes"]) == \
        ("10.1.2.3", "7590-VHVEG", "GET", "/billing", 200, 7012)
    assert g["event_time"].isoformat() == "2026-11-27T13:05:09" and g["_reject_reason"] is None
    a = out[anon]
    assert a["customer_id"] is None and a["bytes"] is None and a["referer"] is None
    assert a["event_time"].isoformat() == "2026-11-27T12:05:10"  # +0100 converted to UTC
    assert out["garbage line"]["_reject_reason"] == "does not match the Apache combined log format"
    assert out[""]["_reject_reason"] == "empty line"
    assert out[bad_ts]["_reject_reason"].startswith("unparseable timestamp")
    with pytest.raises(ValueError, match="no column"):
        parse_access_log(lines.withColumnRenamed("value", "x"))


def test_csv_header_problem_names_missing_extra_and_reordered_columns():
    from churnlake.ingestion.readers import csv_header_problem

    expected = ["customerID", "gender", "tenure"]
    assert csv_header_problem(b"\xef\xbb\xbfcustomerID,gender,tenure\r\n1,2,3\r\n", expected) is None
    assert csv_header_problem(b"customerID,tenure\n", expected) == "header missing gender"
    assert csv_header_problem(b"customerID,gender,tenure,plan\n", expected) == "header unexpected plan"
    assert csv_header_problem(b"customerID,tenure,gender\n", expected) == "header columns in a different order"


def test_rows_of_a_file_with_a_bad_header_are_rescued_with_the_reason(spark):
    import importlib.util

    from churnlake.config import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("ingest_crm", PROJECT_ROOT / "jobs/bronze/ingest_crm.py")
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    raw = spark.createDataFrame([("1", "x", None, "/in/a.csv"), ("2", "y", None, "/in/b.csv")],
                                "customerID string, gender string, _corrupt_record string, _file string")
    out = job.flag_header_problems(raw, {"b.csv": "header missing tenure"}, ["customerID", "gender"])
    rows = {r["customerID"]: r["_corrupt_record"] for r in out.collect()}
    assert rows == {"1": None, "2": 'header missing tenure: {"customerID":"2","gender":"y"}'}
