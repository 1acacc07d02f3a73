"""The Thrift server command line and the metastore settings, without starting anything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from churnlake.config import load_config
from churnlake.serving import derby, jars, thrift
from churnlake.spark import base_conf
from tests.conftest import lakehouse_env

URL_KEY = "spark.hadoop.javax.jdo.option.ConnectionURL"


def make_cfg(tmp_path: Path, **extra: str):
    return load_config(environ={**os.environ, **lakehouse_env(tmp_path), **extra})


@pytest.fixture
def fake_jars(monkeypatch):
    """Ivy resolution replaced by fixed paths (no network, no JVM)."""
    calls = []

    def resolve(name, coordinates, excludes=(), **_):
        calls.append((name, tuple(coordinates), tuple(excludes)))
        return [Path(f"/jars/{name}.jar")]

    monkeypatch.setattr(jars, "resolve", resolve)
    return calls


def test_derby_url_parsing():
    url = derby.DerbyUrl.parse("jdbc:derby://127.0.0.1:1600/metastore_db;create=true")
    assert (url.host, url.port, url.database, url.attrs, url.local) == (
        "127.0.0.1", 1600, "metastore_db", ";create=true", True)
    remote = derby.DerbyUrl.parse("jdbc:derby://db.example/x")
    assert (remote.port, remote.local) == (derby.DEFAULT_PORT, False)
    with pytest.raises(ValueError, match="not a Derby network URL"):
        derby.DerbyUrl.parse("jdbc:postgresql://127.0.0.1/metastore")


def test_embedded_metastore_stays_the_default(tmp_path, fake_jars):
    cfg = make_cfg(tmp_path)
    assert derby.metastore_url(cfg) is None
    conf = base_conf(cfg, catalog=True)
    assert conf[URL_KEY] == f"jdbc:derby:;databaseName={cfg.metastore_dir / 'metastore_db'};create=true"
    assert "spark.sql.hive.metastore.jars" not in conf
    assert fake_jars == []


def test_network_metastore_is_opt_in(tmp_path, fake_jars):
    url = "jdbc:derby://127.0.0.1:1600/metastore_db;create=true"
    cfg = make_cfg(tmp_path, CHURNLAKE__METASTORE__URL=url)
    conf = base_conf(cfg, catalog=True)
    assert conf[URL_KEY] == url
    assert conf["spark.hadoop.javax.jdo.option.ConnectionDriverName"] == derby.CLIENT_DRIVER
    assert conf["spark.sql.hive.metastore.jars"] == "path"
    assert conf["spark.sql.hive.metastore.jars.path"].endswith(",file:///jars/derbyclient.jar")
    assert conf["spark.sql.hive.metastore.version"] == jars.HIVE_VERSION
    assert fake_jars == [("derbyclient", (f"org.apache.derby:derbyclient:{jars.DERBY_VERSION}",), ())]
    assert derby.DerbyServer(cfg).port == 1600


def test_thrift_command(tmp_path, fake_jars, monkeypatch):
    monkeypatch.setenv("CHURNLAKE_THRIFT_PORT", "10777")
    cfg = make_cfg(tmp_path)
    server = thrift.ThriftServer(cfg)
    cmd = server.command()
    assert server.port == 10777 and server.jdbc_url("gold") == "jdbc:hive2://127.0.0.1:10777/gold"
    assert cmd[0].endswith("/spark-submit")
    assert cmd[cmd.index("--class") + 1] == thrift.MAIN_CLASS
    assert cmd[-4:] == ["--hiveconf", "hive.server2.thrift.port=10777",
                        "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1"]
    assert cmd[cmd.index("--properties-file") + 1] == str(cfg.root_dir / "conf" / "spark-defaults.conf")
    assert cmd[cmd.index("--driver-class-path") + 1] == "/jars/packages.jar"
    confs = dict(c.split("=", 1) for c in cmd[1:] if "=" in c and c.startswith("spark."))
    assert confs[URL_KEY].startswith(f"jdbc:derby:;databaseName={cfg.metastore_dir}")
    assert confs["spark.sql.warehouse.dir"] == cfg.warehouse_uri
    assert confs["spark.databricks.delta.optimizeMetadataQuery.enabled"] == "false"
    name, coords, excludes = fake_jars[0]
    assert name == "packages" and coords[0].startswith("io.delta:delta-spark_")
    assert "org.slf4j:slf4j-api" in excludes
    assert server.log_path == cfg.logs_dir / "thrift-server.log"
    assert server.pid_path == cfg.state_dir / "thrift" / "thrift-server.pid"


def test_thrift_command_with_network_metastore_puts_the_client_on_the_class_path(tmp_path, fake_jars):
    cfg = make_cfg(tmp_path, CHURNLAKE__METASTORE__URL="jdbc:derby://127.0.0.1:1600/metastore_db;create=true")
    cmd = thrift.ThriftServer(cfg, 10001).command()
    assert cmd[cmd.index("--driver-class-path") + 1] == os.pathsep.join(["/jars/packages.jar", "/jars/derbyclient.jar"])


def test_status_of_a_server_that_never_ran(tmp_path):
    cfg = make_cfg(tmp_path)
    assert not thrift.ThriftServer(cfg, 10002).running()
    assert thrift.ThriftServer(cfg, 10002).stop() is False
    assert not derby.DerbyServer(cfg, 1601).running()
