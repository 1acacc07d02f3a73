"""CRM exports as real CRM systems produce them: columns in another order, an extra column,
values padded with spaces, a missing column, the wrong delimiter, an empty file. The batch
flows; only the files that cannot be mapped are rejected, with their cause; every line ends in
bronze or among the rejected lines, and the counts are checked against the landed bytes."""

import json

import pytest
from pyspark.sql import functions as F

from churnlake import tables
from churnlake.config import load_config
from churnlake.delta import read_table
from tests.conftest import TELCO_CSV
from tests.integration.helpers import PROJECT_ROOT, pipeline_env, run

pytestmark = pytest.mark.integration
RUN_DATE = "2026-11-27"
HEADER, *ROWS = TELCO_CSV.read_text().splitlines()
FIELDS = HEADER.split(",")


def export(rows: list[str], order=None, extra=None, pad=False, sep=",", drop=None) -> str:
    """A CSV export of ``rows`` in the bundled layout, rearranged as a CRM system might."""
    idx = [i for i in (order or range(len(FIELDS))) if FIELDS[i] != drop]
    names = [FIELDS[i] for i in idx] + ([extra] if extra else [])
    lines = [[r.split(",")[i] for i in idx] + (["Gold"] if extra else []) for r in rows]
    if pad:
        return "\n".join([" , ".join(f"  {n} " for n in names), *(" ,  ".join(f" {v}  " for v in line)
                                                                    for line in lines)]) + "\n"
    return "\n".join([sep.join(names), *(sep.join(line) for line in lines)]) + "\n"


def test_realistic_bad_exports_flow_and_only_unmappable_files_are_rejected(tmp_path, spark):
    env = pipeline_env(tmp_path)
    cfg = load_config(environ=env)
    inbox = tmp_path / "inbox" / "crm"
    inbox.mkdir(parents=True)
    files = {
        "a_good.csv": export(ROWS[0:10]),
        "b_reordered.csv": export(ROWS[10:15], order=list(reversed(range(len(FIELDS))))),
        "c_extra.csv": export(ROWS[15:20], extra="LoyaltyTier"),
        "d_padded.csv": export(ROWS[20:25], pad=True),
        "e_no_churn.csv": export(ROWS[25:30], drop="Churn"),
        "f_semicolon.csv": export(ROWS[30:35], sep=";"),
        "g_empty.csv": "",
    }
    for name, text in files.items():
        (inbox / name).write_text(text)
    res = run([str(PROJECT_ROOT / "spark-submit.sh"), "jobs/bronze/ingest_crm.py", "--run-date", RUN_DATE], env)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert "e_no_churn.csv rejected: header lacks required column Churn" in out
    assert "f_semicolon.csv rejected: wrong delimiter: found ';'" in out
    assert "skip g_empty.csv: the file is empty (0 bytes)" in out

    bronze = read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg)
    got = {r["customerID"]: r for r in bronze.collect()}
    expected = {line.split(",")[0]: line.split(",") for line in ROWS[0:25]}
    assert set(got) == set(expected)  # every row of the four mappable files, none of the others
    for cid, values in expected.items():  # values in the right columns, trimmed
        assert [got[cid][f] or "" for f in FIELDS] == [v.strip() for v in values], cid
    extras = [json.loads(got[line.split(",")[0]]["_rescued_data"]) for line in ROWS[15:20]]
    assert extras == [{"_extra_columns": {"LoyaltyTier": "Gold"}}] * 5
    assert all(got[line.split(",")[0]]["_rescued_data"] is None for line in ROWS[0:15] + ROWS[20:25])

    rejected = read_table(spark, tables.BRONZE_CRM_REJECTED, cfg).collect()
    assert sorted(r["reason"] for r in rejected) == sorted(
        ["file rejected: header lacks required column Churn"] * 5
        + ["file rejected: wrong delimiter: found ';', the CRM export is comma-separated"] * 5)
    assert {r["_source_file"].rsplit("/", 1)[1] for r in rejected} == {"e_no_churn.csv", "f_semicolon.csv"}

    log = json.loads((tmp_path / "logs" / "ingestion.log").read_text().splitlines()[-1])
    assert (log["rows_read"], log["rows_written"], log["rows_rejected"]) == (35, 25, 10)
    assert log["empty_files"] == ["g_empty.csv"] and set(log["rejected_files"]) == {"e_no_churn.csv", "f_semicolon.csv"}
    assert log["rejected_files"]["e_no_churn.csv"] == "header lacks required column Churn"

    # The batch flows through validation (the extra column is reported, not quarantined) into silver.
    val = run([str(PROJECT_ROOT / "spark-submit.sh"), "jobs/validation/validate_bronze.py", "--run-date", RUN_DATE,
               "--table", "crm_customers"], env)
    assert val.returncode == 0, val.stderr[-3000:]
    assert read_table(spark, tables.quarantine_table(tables.BRONZE_CRM_CUSTOMERS), cfg).count() == 0
    silver = run([str(PROJECT_ROOT / "spark-submit.sh"), "jobs/silver/customers.py", "--run-date", RUN_DATE], env)
    assert silver.returncode == 0, silver.stderr[-3000:]
    customers = read_table(spark, tables.SILVER_CUSTOMERS, cfg)
    assert customers.count() == 25 and customers.where(F.col("customer_id").isNull()).count() == 0
