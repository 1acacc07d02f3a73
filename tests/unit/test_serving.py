"""The engine's command line, the job routing (engine or classic) and the metastore settings,
without starting anything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from churnlake.config import load_config
from churnlake.serving import derby, jars
from churnlake.services import engine as engine_mod
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


def test_engine_command(tmp_path, fake_jars):
    cfg = make_cfg(tmp_path, CHURNLAKE__ENGINE__THRIFT_PORT="10777", CHURNLAKE__ENGINE__CONNECT_PORT="15777")
    server = engine_mod.Engine(cfg)
    cmd = server.command()
    assert server.thrift_port == 10777 and server.jdbc_url("gold") == "jdbc:hive2://127.0.0.1:10777/gold"
    assert server.remote_url == "sc://127.0.0.1:15777"
    assert cmd[0].endswith("/spark-submit")
    assert cmd[cmd.index("--class") + 1] == engine_mod.MAIN_CLASS
    assert cmd[cmd.index("--master") + 1] == "local[*]"
    assert cmd[cmd.index("--driver-memory") + 1] == "4g"
    assert cmd[-4:] == ["--hiveconf", "hive.server2.thrift.port=10777",
                        "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1"]
    assert cmd[cmd.index("--properties-file") + 1] == str(cfg.root_dir / "conf" / "spark-defaults.conf")
    assert cmd[cmd.index("--driver-class-path") + 1] == "/jars/packages.jar"
    confs = dict(c.split("=", 1) for c in cmd[1:] if "=" in c and c.startswith("spark."))
    assert confs["spark.plugins"] == engine_mod.CONNECT_PLUGIN
    assert confs["spark.connect.grpc.binding.address"] == "127.0.0.1"
    assert confs["spark.connect.grpc.binding.port"] == "15777"
    assert confs[URL_KEY].startswith(f"jdbc:derby:;databaseName={cfg.metastore_dir}")
    assert confs["spark.sql.warehouse.dir"] == cfg.warehouse_uri
    assert confs["spark.databricks.delta.optimizeMetadataQuery.enabled"] == "false"
    name, coords, excludes = fake_jars[0]
    assert name == "packages" and coords[0].startswith("io.delta:delta-spark_")
    assert "org.slf4j:slf4j-api" in excludes
    assert server.log_path == cfg.logs_dir / "engine.log"
    assert server.pid_path == cfg.state_dir / "engine" / "engine.pid"


def test_engine_master_and_memory_come_from_the_config_or_the_caller(tmp_path, fake_jars):
    cfg = make_cfg(tmp_path, CHURNLAKE__ENGINE__MASTER="spark://10.0.0.5:7077", CHURNLAKE__ENGINE__DRIVER_MEMORY="8g")
    cmd = engine_mod.Engine(cfg).command()
    assert cmd[cmd.index("--master") + 1] == "spark://10.0.0.5:7077"
    assert cmd[cmd.index("--driver-memory") + 1] == "8g"
    cmd = engine_mod.Engine(cfg, master="local[2]", driver_memory="2g").command()
    assert (cmd[cmd.index("--master") + 1], cmd[cmd.index("--driver-memory") + 1]) == ("local[2]", "2g")


def test_engine_jvm_flags_come_from_the_config_then_the_caller(tmp_path, fake_jars):
    cfg = make_cfg(tmp_path, CHURNLAKE__ENGINE__JAVA_OPTIONS="-XX:TieredStopAtLevel=1")
    cmd = engine_mod.Engine(cfg, driver_java_options="-Xss4m").command()
    opts = cmd[cmd.index("--driver-java-options") + 1]
    assert opts.endswith("-XX:TieredStopAtLevel=1 -Xss4m")
    plain = engine_mod.Engine(make_cfg(tmp_path / "other")).command()
    opts = plain[plain.index("--driver-java-options") + 1]
    assert "Tiered" not in opts and opts.endswith(engine_mod.DEFAULT_JAVA_OPTIONS)
    none = engine_mod.Engine(make_cfg(tmp_path / "none", CHURNLAKE__ENGINE__JAVA_OPTIONS="")).command()
    assert "-XX:" not in none[none.index("--driver-java-options") + 1]


def test_engine_command_with_network_metastore_puts_the_client_on_the_class_path(tmp_path, fake_jars):
    cfg = make_cfg(tmp_path, CHURNLAKE__METASTORE__URL="jdbc:derby://127.0.0.1:1600/metastore_db;create=true")
    cmd = engine_mod.Engine(cfg, thrift_port=10001).command()
    assert cmd[cmd.index("--driver-class-path") + 1] == os.pathsep.join(["/jars/packages.jar", "/jars/derbyclient.jar"])


def test_status_of_a_server_that_never_ran(tmp_path):
    cfg = make_cfg(tmp_path)
    assert not engine_mod.Engine(cfg, thrift_port=10002, connect_port=15003).running()
    assert engine_mod.Engine(cfg, thrift_port=10002).stop() is False
    assert not derby.DerbyServer(cfg, 1601).running()


def test_where_jobs_run(tmp_path):
    """engine.remote: auto -> the engine only when it runs; a URL always; classic never."""
    # auto, and no engine of this config runs (the test session's engine sets the variable for its jobs)
    assert engine_mod.resolve_remote(make_cfg(tmp_path, CHURNLAKE__ENGINE__REMOTE="auto")) is None
    assert engine_mod.resolve_remote(make_cfg(tmp_path, CHURNLAKE__ENGINE__REMOTE="sc://10.1.2.3:15002")) \
        == "sc://10.1.2.3:15002"
    assert engine_mod.resolve_remote(make_cfg(tmp_path, CHURNLAKE__ENGINE__REMOTE="classic")) is None
    with pytest.raises(ValueError, match="engine.remote must be"):
        engine_mod.resolve_remote(make_cfg(tmp_path, CHURNLAKE__ENGINE__REMOTE="http://x"))


def test_a_job_on_an_engine_that_does_not_answer_fails_at_once_naming_it(tmp_path):
    from churnlake.spark import EngineUnavailable, connect_spark

    with pytest.raises(EngineUnavailable, match=r"sc://127\.0\.0\.1:1 does not answer.*make engine-start"):
        connect_spark("t", make_cfg(tmp_path), "sc://127.0.0.1:1")
