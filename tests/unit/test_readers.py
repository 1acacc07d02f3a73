"""Raw-file readers: CRM CSV line endings and BOMs, JSON lines, access-log parsing."""

import pytest

from churnlake.ingestion.readers import count_records, group_by_plan, plan_crm_csv, read_crm_csv, read_json_lines
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
    assert rows[1]["Churn"] == "No" and rows[0]["TotalCharges"] is None  # " " trimmed: no value
    assert all(r["_corrupt_record"] is None for r in rows)


def test_crm_csv_keeps_a_broken_line_as_corrupt_record(spark, cfg, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([HEADER, ROW1, "BROKEN,only,three"]) + "\n")
    rows = read_crm_csv(spark, [path.as_uri()], struct(cfg, "bronze", "crm_customers")).collect()
    bad = [r for r in rows if r["_corrupt_record"] is not None]
    assert len(rows) == 2 and len(bad) == 1 and bad[0]["_corrupt_record"] == "BROKEN,only,three"


FIELDS = HEADER.split(",")


def _crm(spark, cfg, tmp_path, text: str, name="export.csv"):
    path = tmp_path / name
    data = text.encode()
    path.write_bytes(data)
    schema = struct(cfg, "bronze", "crm_customers")
    plan = plan_crm_csv(data, schema.fieldNames())
    return plan, (read_crm_csv(spark, [path.as_uri()], schema, plan) if plan.kind == "ok" else None)


def test_columns_in_another_order_are_mapped_by_header_name(spark, cfg, tmp_path):
    order = list(reversed(range(len(FIELDS))))
    header = ",".join(FIELDS[i] for i in order)
    rows = [",".join(r.split(",")[i] for i in order) for r in (ROW1,)]
    plan, df = _crm(spark, cfg, tmp_path, "\n".join([header, *rows]) + "\n")
    assert plan.kind == "ok" and plan.reordered and not plan.extras
    row = df.first()
    assert row["customerID"] == "7590-VHVEG" and row["Churn"] == "No" and row["MonthlyCharges"] == "29.85"
    assert row["_corrupt_record"] is None


def test_an_extra_column_is_kept_in_rescued_data_and_the_row_flows(spark, cfg, tmp_path):
    import json

    plan, df = _crm(spark, cfg, tmp_path, "\n".join([HEADER + ",LoyaltyTier", ROW1 + ",Gold"]) + "\n")
    assert plan.kind == "ok" and [n for n, _ in plan.extras] == ["LoyaltyTier"]
    row = df.first()
    assert row["customerID"] == "7590-VHVEG" and row["Churn"] == "No"
    assert json.loads(row["_corrupt_record"]) == {"_extra_columns": {"LoyaltyTier": "Gold"}}


def test_padded_values_and_header_names_are_trimmed(spark, cfg, tmp_path):
    header = " , ".join(f" {f.upper()} " for f in FIELDS)  # case and spaces do not matter
    padded = " ,  ".join(f"  {v}  " for v in ROW1.split(","))
    plan, df = _crm(spark, cfg, tmp_path, "\n".join([header, padded]) + "\n")
    assert plan.kind == "ok" and not plan.reordered
    row = df.first()
    assert row["customerID"] == "7590-VHVEG" and row["Contract"] == "Month-to-month" and row["Churn"] == "No"
    assert row["_corrupt_record"] is None


@pytest.mark.parametrize("text, cause", [
    (HEADER.replace(",Churn", "") + "\n" + ROW1.rsplit(",", 1)[0] + "\n", "header lacks required column Churn"),
    (HEADER.replace(",", ";") + "\n" + ROW1.replace(",", ";") + "\n",
     "wrong delimiter: found ';', the CRM export is comma-separated"),
    (HEADER.replace(",", "\t") + "\n", "wrong delimiter: found '\\t'"),
    (HEADER + ",customerid\n", "header names customerID more than once"),
])
def test_a_file_that_cannot_be_mapped_is_rejected_naming_the_cause(text, cause):
    plan = plan_crm_csv(text.encode(), FIELDS)
    assert plan.kind == "reject" and plan.cause.startswith(cause)


def test_an_empty_file_is_skipped_not_read():
    assert plan_crm_csv(b"", FIELDS).kind == "empty" and "0 bytes" in plan_crm_csv(b"", FIELDS).cause
    assert plan_crm_csv(b"\n\r\n", FIELDS).kind == "empty"


def test_records_are_counted_from_the_bytes():
    assert count_records(f"{HEADER}\r\n{ROW1}\r\n\r\n{ROW2}".encode()) == 2
    assert count_records(b"") == 0 and count_records(f"{HEADER}\n".encode()) == 0
    assert count_records(b"line one\nline two", header=False) == 2
    assert count_records(b"a\n\nb\r\n", header=False, blank=True) == 3  # access logs: blank lines count too


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


def test_files_with_one_read_plan_are_read_in_one_scan_each_row_keeping_its_file(spark, cfg, tmp_path):
    import json

    schema = struct(cfg, "bronze", "crm_customers")
    texts = {"a.csv": "\ufeff" + "\r\n".join([HEADER, ROW1, ROW2]) + "\r\n",  # BOM, CRLF
             "b.csv": "\n".join([HEADER.upper(), ROW2]) + "\n",  # same layout, other case: same plan
             "c.csv": "\n".join([HEADER + ",LoyaltyTier", ROW1 + ",Gold"]) + "\n"}  # an extra column
    planned = []
    for name, text in texts.items():
        data = text.encode()
        (tmp_path / name).write_bytes(data)
        planned.append((plan_crm_csv(data, schema.fieldNames()), (tmp_path / name).as_uri()))
    scans = group_by_plan(planned)
    assert [[u.rsplit("/", 1)[1] for u in uris] for _, uris in scans] == [["a.csv", "b.csv"], ["c.csv"]]
    plan, uris = scans[0]
    rows = read_crm_csv(spark, uris, schema, plan).collect()
    by_file = sorted((r["_file"].rsplit("/", 1)[1], r["customerID"]) for r in rows)
    assert by_file == [("a.csv", "4472-LVYGI"), ("a.csv", "7590-VHVEG"), ("b.csv", "4472-LVYGI")]  # headers skipped
    assert all(r["_corrupt_record"] is None for r in rows)
    extra_plan, extra_uris = scans[1]
    extra = read_crm_csv(spark, extra_uris, schema, extra_plan).first()
    assert json.loads(extra["_corrupt_record"]) == {"_extra_columns": {"LoyaltyTier": "Gold"}}


def test_only_readable_files_are_grouped():
    reject = plan_crm_csv(HEADER.replace(",", ";").encode(), FIELDS)
    with pytest.raises(ValueError, match="only a readable file has a read plan"):
        group_by_plan([(reject, "file:///x.csv")])
    assert group_by_plan([]) == []
