"""Bronze jobs against real servers: the billing job on PostgreSQL, ingestion into HDFS."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from churnlake import tables
from churnlake.config import load_config
from churnlake.demo.generate import generate_all
from churnlake.demo.ticket_api import serve_in_thread, shutdown
from tests.conftest import TELCO_CSV
from tests.integration.helpers import VENV_BIN, failed_line, pipeline_env, run

pytestmark = pytest.mark.integration
AS_OF = dt.date(2026, 11, 27)


@pytest.fixture()
def pg_billing_url(postgres_server, tmp_path):
    """A fresh PostgreSQL database holding a small demo billing history."""
    name = f"billing_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(postgres_server.url).set(database=name).render_as_string(hide_password=False)
    manifest = generate_all(TELCO_CSV, tmp_path / "demo", 42, AS_OF, n_customers=60, days=0, db_url=url)
    yield url, manifest
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_billing_job_reads_postgres_incrementally(pg_billing_url, tmp_path, spark):
    url, manifest = pg_billing_url
    env = pipeline_env(tmp_path) | {"CHURNLAKE__SOURCES__BILLING__URL": url}
    job = ["./spark-submit.sh", "jobs/bronze/ingest_billing.py", "--table", "payments", "--run-date", "2026-11-27"]
    res = run(job, env)
    assert res.returncode == 0, res.stderr[-3000:]
    cfg = load_config(environ=env)
    bronze = spark.read.format("delta").load(tables.BRONZE_BILLING_PAYMENTS.uri(cfg))
    expected = manifest["artefacts"]["billing_db"]["tables"]["payments"]
    assert bronze.count() == bronze.select("payment_id").distinct().count() == expected
    # Three new payments arrive; the next batch reads exactly those.
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        top = conn.execute(sa.text("SELECT max(payment_id), max(updated_at) FROM payments")).one()
        for i in range(1, 4):
            conn.execute(sa.text(
                "INSERT INTO payments (payment_id, invoice_id, customer_id, paid_at, amount, status, method, updated_at) "
                "SELECT :pid, invoice_id, customer_id, NULL, amount, 'failed', method, :ts FROM payments "
                "WHERE payment_id = :top"), {"pid": top[0] + i, "ts": top[1] + dt.timedelta(hours=i), "top": top[0]})
    engine.dispose()
    res = run(job[:-1] + ["2026-11-28"], env)
    assert res.returncode == 0, res.stderr[-3000:]
    bronze = spark.read.format("delta").load(tables.BRONZE_BILLING_PAYMENTS.uri(cfg))
    assert bronze.where("_batch_id = 'billing-payments-2026-11-28'").count() == 3
    assert bronze.count() == expected + 3


def test_access_logs_land_and_load_on_hdfs(hdfs_cluster, tmp_path, spark):
    logs = tmp_path / "logs_in"
    logs.mkdir()
    good = ('10.0.0.{i} - 7590-VHVEG [27/Nov/2026:10:{i:02d}:00 +0000] "GET /usage HTTP/1.1" 200 {i}00 '
            '"-" "Mozilla/5.0"')
    (logs / "access-2026-11-27-10.log").write_text("\n".join(good.format(i=i) for i in range(1, 11)) + "\nnot a log line\n")
    root = hdfs_cluster.uri(f"/churnlake-{uuid.uuid4().hex[:6]}")
    env = pipeline_env(tmp_path) | {
        "CHURNLAKE__LAKEHOUSE__ROOT": root,
        "CHURNLAKE__LAKEHOUSE__WEBHDFS_URL": hdfs_cluster.webhdfs_url,
        "CHURNLAKE__SOURCES__WEB_LOGS__INBOX": str(logs),
    }
    task = [str(VENV_BIN / "luigi"), "--module", "luigi_tasks.ingestion", "BronzeAccessLogs",
            "--run-date", "2026-11-27", "--run-hour", "10", "--local-scheduler"]
    res = run(task, env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    cfg = load_config(environ=env)
    assert cfg.lakehouse_root.startswith("hdfs://127.0.0.1:")
    client = hdfs_cluster.client()
    landing = root.split(str(hdfs_cluster.namenode_port), 1)[1] + \
        "/bronze/_landing/source=web/type=access_logs/ingest_date=2026-11-27/ingest_hour=10"
    assert client.list(landing) == ["access-2026-11-27-10.log"]
    bronze = spark.read.format("delta").load(tables.BRONZE_WEB_ACCESS_LOGS.uri(cfg))
    quarantine = spark.read.format("delta").load(tables.QUARANTINE_WEB_ACCESS_LOGS.uri(cfg))
    assert bronze.count() == 10 and quarantine.count() == 1
    assert quarantine.first()["raw_line"] == "not a log line"
    # The Luigi target reads the Delta log over WebHDFS: a second run submits nothing.
    again = run(task, env)
    assert again.returncode == 0 and "Running command" not in again.stdout + again.stderr
    assert "Did not run any tasks" in again.stdout + again.stderr  # Luigi found the task complete


def test_webhdfs_store_uploads_a_file_as_a_stream_and_hashes_it_in_chunks(hdfs_cluster, tmp_path, monkeypatch):
    import hashlib

    import churnlake.storage as storage
    from churnlake.storage import WebHdfsStore

    store = WebHdfsStore(hdfs_cluster.webhdfs_url)
    uri = hdfs_cluster.uri(f"/store-{uuid.uuid4().hex[:6]}/landing/b.jsonl")
    staged = tmp_path / "b.jsonl"
    data = b"".join(b'{"n": %d}\n' % i for i in range(20_000))
    staged.write_bytes(data)
    assert store.staging_dir(uri) is None  # prepared locally, then uploaded
    store.write_file(uri, staged)
    assert not staged.exists() and store.read_bytes(uri) == data
    monkeypatch.setattr(storage, "CHUNK", 4096)  # many chunks
    assert store.sha256(uri) == hashlib.sha256(data).hexdigest()
    staged.write_bytes(b"replaced\n")
    store.write_file(uri, staged)  # over an existing file: temp file + rename
    assert store.read_bytes(uri) == b"replaced\n"
    assert store.list(uri.rsplit("/", 1)[0]) == ["b.jsonl"]  # no temp file left, none listed


def test_ticket_fetch_that_exhausts_its_retries_commits_nothing(tmp_path):
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text('{"ticket_id":1,"customer_id":"C1","created_at":"2026-11-01T00:00:00Z",'
                       '"updated_at":"2026-11-01T00:00:00Z","resolved_at":null,"category":"billing",'
                       '"priority":"low","status":"open","channel":"email","satisfaction":null}\n')
    server, url = serve_in_thread(tickets, "t0ken", error_rate=1.0)
    try:
        env = pipeline_env(tmp_path) | {"CHURNLAKE_TICKETS_TOKEN": "t0ken",
                                        "CHURNLAKE__SOURCES__TICKETS__BASE_URL": url,
                                        "CHURNLAKE__SOURCES__TICKETS__MAX_ATTEMPTS": "2"}
        res = run(["./spark-submit.sh", "jobs/bronze/ingest_tickets.py", "--run-date", "2026-11-27"], env)
    finally:
        shutdown(server)
    assert res.returncode == 1
    last = failed_line(res)
    assert "FAILED after" in last and "FetchError: ticket API fetch failed: page 1" in last and "after 2 attempts" in last
    cfg = load_config(environ=env)
    assert not (tmp_path / "lakehouse" / "bronze" / "support").exists()  # no table, no landed file
    assert not (tmp_path / "lakehouse" / "bronze" / "_landing").exists()
    record = json.loads((cfg.logs_dir / "ingestion.log").read_text().splitlines()[-1])
    assert record["status"] == "failed" and record["source"] == "support"
    assert record["attempts"] == 2 and "HTTP 5" in record["error"]
