"""Integration tests for the real local services (PostgreSQL, single-node HDFS).

They start real servers on 127.0.0.1 and stop them again; nothing here is skipped.
Fixtures ``postgres_server`` and ``hdfs_cluster`` come from tests/service_fixtures.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from churnlake.services.hdfs import LocalHdfs
from churnlake.services.postgres import LocalPostgres, PostgresNotInstalledError
from churnlake.services.process import pid_alive

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


# --------------------------------------------------------------------------- PostgreSQL
def test_postgres_sqlalchemy_roundtrip(postgres_server):
    assert postgres_server.url.startswith("postgresql+psycopg://churnlake@127.0.0.1:")
    engine = sa.create_engine(postgres_server.url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS svc_check"))
            conn.execute(sa.text("CREATE TABLE svc_check (id int PRIMARY KEY, name text NOT NULL)"))
            conn.execute(
                sa.text("INSERT INTO svc_check VALUES (:id, :name)"),
                [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}, {"id": 3, "name": "gamma"}],
            )
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, name FROM svc_check ORDER BY id")).all()
            listen = conn.execute(sa.text("SHOW listen_addresses")).scalar_one()
            server_addr = conn.execute(sa.text("SELECT host(inet_server_addr())")).scalar_one()
        assert [tuple(r) for r in rows] == [(1, "alpha"), (2, "beta"), (3, "gamma")]
        assert listen == "127.0.0.1"
        assert server_addr == "127.0.0.1"
    finally:
        engine.dispose()


@pytest.fixture
def private_tmp():
    """A root-only (0700) folder of our own under /tmp, removed afterwards.

    Not pytest's tmp_path: concurrent pytest sessions of the same user reset the shared
    ``pytest-of-<user>`` folder to 0700, which would race with the o+x grant below.
    """
    path = Path(tempfile.mkdtemp(prefix="churnlake-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_postgres_restart_keeps_data_and_stop_closes_port(private_tmp):
    # The data dir sits under a 0700 folder: when the tests run as root this covers the
    # server running as the 'postgres' user, which needs the o+x grant to reach it.
    pg = LocalPostgres(private_tmp / "pg")
    with pg:
        engine = sa.create_engine(pg.url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE kept (v text)"))
            conn.execute(sa.text("INSERT INTO kept VALUES ('survives a restart')"))
        engine.dispose()
        first_port = pg.port
        first_pid = pg._postmaster_pid()
    assert not pg.running
    assert first_pid is not None and not pid_alive(first_pid)
    assert not _port_open(first_port)

    with pg:  # warm start: same cluster, no initdb
        engine = sa.create_engine(pg.url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT v FROM kept")).scalar_one() == "survives a restart"
        engine.dispose()
        assert pg.start_seconds is not None and pg.start_seconds < 30
    assert not _port_open(pg.port)


def test_postgres_missing_binaries_gives_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("CHURNLAKE_PG_BINDIR", str(tmp_path / "no-such-bin"))
    with pytest.raises(PostgresNotInstalledError, match="apt-get install postgresql"):
        LocalPostgres(tmp_path / "pg").start()


# --------------------------------------------------------------------------- HDFS
def test_hdfs_webhdfs_write_read(hdfs_cluster):
    assert hdfs_cluster.namenode_uri.startswith("hdfs://127.0.0.1:")
    assert hdfs_cluster.webhdfs_url.startswith("http://127.0.0.1:")
    client = hdfs_cluster.client(user="churnlake")

    client.makedirs("/svc-check/nested")
    client.write("/svc-check/nested/hello.txt", data="hello from webhdfs\n", encoding="utf-8", overwrite=True)
    payload = bytes(range(256)) * 4096  # 1 MiB, binary, goes through the DataNode redirect
    client.write("/svc-check/blob.bin", data=payload, overwrite=True)

    with client.read("/svc-check/nested/hello.txt", encoding="utf-8") as reader:
        assert reader.read() == "hello from webhdfs\n"
    with client.read("/svc-check/blob.bin") as reader:
        assert reader.read() == payload
    assert sorted(client.list("/svc-check")) == ["blob.bin", "nested"]
    status = client.status("/svc-check/blob.bin")
    assert status["length"] == len(payload) and status["replication"] == 1
    assert status["owner"] == "churnlake"

    assert client.delete("/svc-check", recursive=True)
    assert client.status("/svc-check", strict=False) is None


def test_hdfs_spark_parquet_and_delta(hdfs_cluster, spark):
    """The project's Spark session (pyspark's bundled Hadoop 3.5 client + Delta) on the cluster."""
    base = hdfs_cluster.namenode_uri + "/spark-check"
    df = spark.range(100).selectExpr("id", "id % 3 AS k")
    old_partitions = spark.conf.get("spark.databricks.delta.snapshotPartitions", None)
    spark.conf.set("spark.databricks.delta.snapshotPartitions", "2")  # default 50: slow on 2 cores
    try:
        _spark_roundtrip(spark, df, base)
    finally:
        if old_partitions is None:
            spark.conf.unset("spark.databricks.delta.snapshotPartitions")
        else:
            spark.conf.set("spark.databricks.delta.snapshotPartitions", old_partitions)

    client = hdfs_cluster.client()
    assert "_delta_log" in client.list("/spark-check/delta")
    assert any(name.endswith(".parquet") for name in client.list("/spark-check/parquet"))


def _spark_roundtrip(spark, df, base: str) -> None:
    df.write.mode("overwrite").parquet(base + "/parquet")
    assert spark.read.parquet(base + "/parquet").groupBy().sum("id").first()[0] == sum(range(100))

    df.write.format("delta").mode("overwrite").save(base + "/delta")
    spark.range(100, 110).selectExpr("id", "id % 3 AS k").write.format("delta").mode("append").save(base + "/delta")
    assert spark.read.format("delta").load(base + "/delta").count() == 110
    assert spark.read.format("delta").option("versionAsOf", 0).load(base + "/delta").count() == 100


def test_hdfs_cli_start_status_stop(tmp_path):
    base = tmp_path / "cli-hdfs"
    cmd = [sys.executable, "-m", "churnlake.services.hdfs"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    run = lambda *args: subprocess.run(  # noqa: E731
        cmd + list(args) + ["--base-dir", str(base)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600,
    )
    started = run("start")
    assert started.returncode == 0, started.stderr[-4000:]
    try:
        info = json.loads(started.stdout.strip().splitlines()[-1])
        assert info["namenode_uri"].startswith("hdfs://127.0.0.1:")
        assert _port_open(info["namenode_port"]) and _port_open(info["http_port"])

        status = run("status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert json.loads(status.stdout)["pid"] == info["pid"]

        # Another Python object can attach to the CLI-started cluster and use it.
        attached = LocalHdfs.attach(base)
        assert attached is not None
        attached.client().write("/cli.txt", data=b"cli", overwrite=True)
    finally:
        stopped = run("stop")
    assert stopped.returncode == 0, stopped.stderr[-4000:]
    assert not _port_open(info["namenode_port"]) and not _port_open(info["http_port"])
    assert run("status").returncode == 1
