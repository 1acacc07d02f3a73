"""The gold tables served over JDBC by the engine, next to the jobs it runs.

One module-wide set-up: the real bronze -> validation -> silver -> gold jobs on a 200-row CRM
sample, with empty billing/ticket/web silver tables (the gold job twice, for two run dates,
so the tables have two Delta versions), all run through ./spark-submit.sh as clients of the
test session's engine (Spark Connect), which registers the gold tables in its own metastore;
then the sample queries of ``sql/queries`` through PyHive and beeline against the same
engine's Thrift endpoint, checked against the Delta tables read by path. While JDBC sessions
are open, the gold job runs a third time through the engine (the metastore is shared, no
Derby lock).

Timings (point query, VERSION AS OF) are printed and written to
``<tmp>/logs/thrift_measurements.json``; run with ``-s`` to see them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
import subprocess
import time

import pytest
from pyspark.sql import functions as F

from churnlake import tables
from churnlake.config import PROJECT_ROOT, load_config
from churnlake.delta import read_table
from tests.integration.helpers import (VENV_BIN, pipeline_env, run, write_empty_silver_sources,
                                      write_sample)

pytestmark = pytest.mark.integration

SAMPLE_ROWS = 200
RUN_DATES = ("2026-11-26", "2026-11-27")
LATE_RUN_DATE = "2026-11-28"  # run while the Thrift server is up
CUSTOMER = "7590-VHVEG"  # first customer of the bundled Telco CSV
QUERIES = PROJECT_ROOT / "sql" / "queries"
REPETITIONS = 5


def spark_submit(job: str, env: dict[str, str], *args: str) -> None:
    res = run([str(PROJECT_ROOT / "spark-submit.sh"), job, *args], env)
    assert res.returncode == 0, f"{job} {args} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"


def query_text(name: str) -> str:
    return (QUERIES / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def served(tmp_path_factory, spark, engine):
    """Gold tables built by the real jobs through the engine, served by the engine's JDBC endpoint."""
    base = tmp_path_factory.mktemp("thrift")
    env = pipeline_env(base)
    assert env["CHURNLAKE__ENGINE__REMOTE"] == engine.remote_url
    # Only the run dates' snapshots: no training snapshot partition (D - horizon) in this table,
    # so the queries below see exactly the dates the test wrote.
    env["CHURNLAKE__TRAINING__LABEL_HORIZON_DAYS"] = "0"
    write_sample(base / "inbox" / "crm", SAMPLE_ROWS)
    spark_submit("jobs/bronze/ingest_crm.py", env, "--run-date", RUN_DATES[0])
    spark_submit("jobs/validation/validate_bronze.py", env, "--table", "crm_customers", "--run-date", RUN_DATES[0])
    spark_submit("jobs/silver/customers.py", env, "--run-date", RUN_DATES[0])
    write_empty_silver_sources(spark, load_config(environ=env))  # only the CRM features matter here
    for run_date in RUN_DATES:  # two commits per gold table
        spark_submit("jobs/gold/customer_features.py", env, "--run-date", run_date)
    cfg = load_config(environ=env)
    measurements = {}
    try:
        yield {"base": base, "env": env, "cfg": cfg, "server": engine, "m": measurements}
    finally:
        out = cfg.logs_dir / "thrift_measurements.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(measurements, indent=2))
        print(f"\nJDBC measurements ({out}): {json.dumps(measurements)}")


@pytest.fixture(scope="module")
def conn(served, spark):
    from pyhive import hive

    history = history_by_path(spark, served["cfg"])
    # Inside version 1's lifetime: the first run's data with the table comment (version 2 is
    # the second run's write).
    between = (history[1]["epoch"] + history[2]["epoch"]) / 2
    served["as_of_ts"] = dt.datetime.fromtimestamp(between, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    started = time.monotonic()
    connection = hive.connect(host="127.0.0.1", port=served["server"].thrift_port, username="churnlake",
                              configuration={"set:hivevar:customer_id": CUSTOMER,
                                             "set:hivevar:as_of_ts": served["as_of_ts"]})
    served["m"]["pyhive_connect_s"] = round(time.monotonic() - started, 2)
    yield connection
    connection.close()


def history_by_path(spark, cfg) -> list[dict]:
    """Versions of gold.customer_features, oldest first, from the Delta log (no metastore)."""
    from churnlake.delta import history as delta_history

    history = delta_history(spark, tables.GOLD_CUSTOMER_FEATURES.uri(cfg))
    rows = (history.select("version", "operation", "userMetadata",
                           F.col("timestamp").cast("double").alias("epoch"))
            .orderBy("version").collect())
    return [r.asDict() for r in rows]


def fetch(conn, sql: str) -> tuple[list[str], list[tuple]]:
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
        names = [d[0].split(".")[-1] for d in cursor.description] if cursor.description else []
        return names, rows
    finally:
        cursor.close()


def timed(conn, sql: str) -> tuple[float, list[tuple]]:
    """Median seconds of REPETITIONS runs (execute + fetch), and the last result."""
    times, rows = [], None
    for _ in range(REPETITIONS):
        started = time.monotonic()
        _, rows = fetch(conn, sql)
        times.append(time.monotonic() - started)
    return statistics.median(times), rows


def pyvalue(value):
    return value.isoformat() if isinstance(value, dt.date) else value


def close(a, b) -> bool:
    return abs(float(a) - float(b)) <= 1e-3


@pytest.fixture(scope="module")
def gold(served, spark):
    """The gold tables read by path (the independent side of every comparison)."""
    cfg = served["cfg"]
    features = read_table(spark, tables.GOLD_CUSTOMER_FEATURES, cfg)
    labels = read_table(spark, tables.GOLD_CHURN_LABELS, cfg)
    latest = labels.agg(F.max("as_of_date")).first()[0]
    joined = features.join(labels, ["customer_id", "as_of_date"]).where(F.col("as_of_date") == latest)
    return {"features": features, "labels": labels, "latest": latest, "joined": joined}


def test_describe_shows_the_delta_columns(conn, gold):
    _, rows = fetch(conn, "DESCRIBE gold.customer_features")
    described, comments = {}, {}
    for name, dtype, comment in rows:
        if not name or name.startswith("#"):
            break
        described[name], comments[name] = dtype, comment
    expected = {f.name: f.dataType.simpleString() for f in gold["features"].schema.fields}
    assert described == expected
    # Column comments come from schemas/gold/customer_features.ddl; the table has one too.
    assert comments["spend_trend"].startswith("Billing: (spend_last_3m - spend_prev_3m)")
    assert all(comments.values())
    _, props = fetch(conn, "DESCRIBE TABLE EXTENDED gold.customer_features")
    assert any(r[0] == "Comment" and "Churn-model features" in (r[1] or "") for r in props)


def test_churn_risk_segments(conn, gold):
    names, rows = fetch(conn, query_text("churn_risk_segments.sql"))
    assert names == ["contract", "internet_service", "customers", "churned", "churn_rate"]
    expected = (gold["joined"].groupBy("contract", "internet_service")
                .agg(F.count("*").alias("n"), F.sum("churned").alias("c"))
                .where("n >= 5").collect())
    by_segment = {(r["contract"], r["internet_service"]): (r["n"], r["c"]) for r in expected}
    assert len(rows) == min(10, len(by_segment)) and rows
    for contract, internet, customers, churned, rate in rows:
        assert (customers, churned) == by_segment[(contract, internet)]
        assert close(rate, churned / customers)
    rates = [r[4] for r in rows]
    assert rates == sorted(rates, reverse=True)
    top = max(c / n for n, c in by_segment.values())
    assert close(rates[0], top)


def test_features_of_one_customer(conn, gold, served):
    names, rows = fetch(conn, query_text("customer_features.sql"))
    expected = (gold["features"].where(F.col("customer_id") == CUSTOMER)
                .orderBy(F.col("as_of_date").desc()).collect())
    assert [r[names.index("as_of_date")] for r in rows] == list(reversed(RUN_DATES))
    assert [dict(zip(names, r)) for r in rows] == [{k: pyvalue(v) for k, v in e.asDict().items()} for e in expected]
    median, _ = timed(conn, query_text("customer_features.sql"))
    served["m"]["point_query_median_s"] = round(median, 3)


def test_an_application_binds_the_customer_id_instead_of_splicing_it(conn, gold):
    from churnlake.serving.queries import run_query

    cursor = run_query(conn.cursor(), "customer_features.sql", customer_id=CUSTOMER)
    assert [r[0] for r in cursor.fetchall()] == [CUSTOMER] * len(RUN_DATES)
    # Spliced as text, this value would turn the filter into "… = 'x' OR '1'='1'" (every row).
    cursor = run_query(conn.cursor(), "customer_features.sql", customer_id="x' OR '1'='1")
    assert cursor.fetchall() == []
    with pytest.raises(ValueError, match="needs customer_id"):
        run_query(conn.cursor(), "customer_features.sql")


def test_churn_rate_by_contract(conn, gold):
    names, rows = fetch(conn, query_text("churn_rate_by_contract.sql"))
    assert names == ["contract", "customers", "churned", "churn_rate"]
    expected = (gold["joined"].groupBy("contract").agg(F.count("*").alias("n"), F.sum("churned").alias("c"))
                .orderBy("contract").collect())
    assert [(r[0], r[1], r[2]) for r in rows] == [(e["contract"], e["n"], e["c"]) for e in expected]
    assert sum(r[1] for r in rows) == SAMPLE_ROWS
    for _, customers, churned, rate in rows:
        assert close(rate, churned / customers)


def per_date(df) -> list[tuple]:
    return [(r["as_of_date"].isoformat(), r["n"], r["m"], r["t"]) for r in
            df.groupBy("as_of_date").agg(F.count("*").alias("n"), F.avg("monthly_charges").alias("m"),
                                         F.avg("tenure_months").alias("t")).orderBy("as_of_date").collect()]


def assert_same_per_date(rows, expected) -> None:
    assert [(r[0], r[1]) for r in rows] == [(e[0], e[1]) for e in expected]
    for row, exp in zip(rows, expected):
        assert close(row[2], exp[2]) and close(row[3], exp[3])


def test_version_as_of(conn, served, spark):
    names, rows = fetch(conn, query_text("features_version_as_of.sql"))
    assert names == ["as_of_date", "customers", "avg_monthly_charges", "avg_tenure_months"]
    v0 = read_table(spark, tables.GOLD_CUSTOMER_FEATURES, served["cfg"], version=0)
    expected = per_date(v0)
    assert [e[0] for e in expected] == [RUN_DATES[0]]
    assert_same_per_date(rows, expected)
    median, _ = timed(conn, query_text("features_version_as_of.sql"))
    served["m"]["version_as_of_median_s"] = round(median, 3)


def test_timestamp_as_of(conn, served, spark):
    _, rows = fetch(conn, query_text("features_timestamp_as_of.sql"))
    at = (spark.read.format("delta").option("timestampAsOf", served["as_of_ts"])
          .load(tables.GOLD_CUSTOMER_FEATURES.uri(served["cfg"])))
    expected = per_date(at)
    assert [e[0] for e in expected] == [RUN_DATES[0]]  # the timestamp lies between versions 1 and 2
    assert_same_per_date(rows, expected)


def test_describe_history(conn, served, spark):
    names, rows = fetch(conn, query_text("history.sql"))
    got = [dict(zip(names, r)) for r in rows]
    expected = list(reversed(history_by_path(spark, served["cfg"])))
    # The first run wrote the data (0) and the table comment (1); the second run its data (2).
    assert [g["version"] for g in got] == [e["version"] for e in expected] == [2, 1, 0]
    assert [g["operation"] for g in got] == [e["operation"] for e in expected]
    assert got[1]["operation"] == "SET TBLPROPERTIES"
    assert [json.loads(g["userMetadata"])["run_date"] for g in got] == [RUN_DATES[1], RUN_DATES[0], RUN_DATES[0]]


def test_beeline_query_and_column_metadata(served, gold, tmp_path):
    """The bundled beeline runs a query, and JDBC getColumns (!columns) lists the Delta columns."""
    script = tmp_path / "beeline.sql"
    script.write_text(query_text("churn_rate_by_contract.sql") + "\n!columns customer_features\n")
    env = {k: v for k, v in served["env"].items() if k != "SPARK_HOME"}
    started = time.monotonic()
    res = subprocess.run([str(VENV_BIN / "beeline"), "-u", served["server"].jdbc_url("gold"), "-n", "churnlake",
                          "--silent=true", "--outputformat=csv2", "-f", str(script)],
                         env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
    served["m"]["beeline_call_s"] = round(time.monotonic() - started, 2)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    # beeline -f redraws its prompt with carriage returns ("\rnull"), glued to the next header.
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", res.stdout) if ln.strip()]
    expected = (gold["joined"].groupBy("contract").agg(F.count("*").alias("n"), F.sum("churned").alias("c"))
                .orderBy("contract").collect())
    start = next(i for i, ln in enumerate(lines) if ln.endswith("contract,customers,churned,churn_rate"))
    got = [ln.split(",") for ln in lines[start + 1:start + 1 + len(expected)]]
    assert [(g[0], int(g[1]), int(g[2])) for g in got] == [(e["contract"], e["n"], e["c"]) for e in expected]
    columns = [ln.split(",")[3] for ln in lines if ",customer_features," in ln]
    assert columns == [f.name for f in gold["features"].schema.fields]


def test_gold_job_runs_while_the_server_serves(served, conn):
    """The gold job (a Connect client of the same engine) registers and writes while a JDBC
    session is open, and the JDBC session sees the new version at once."""
    started = time.monotonic()
    spark_submit("jobs/gold/customer_features.py", served["env"], "--run-date", LATE_RUN_DATE)
    served["m"]["gold_job_while_serving_s"] = round(time.monotonic() - started, 1)
    _, rows = fetch(conn, "SELECT as_of_date, count(*) FROM gold.customer_features GROUP BY as_of_date ORDER BY 1")
    assert rows == [(d, SAMPLE_ROWS) for d in (*RUN_DATES, LATE_RUN_DATE)]
    _, history = fetch(conn, query_text("history.sql"))
    assert [h[0] for h in history] == [3, 2, 1, 0]
    assert served["server"].running()
