"""Spark's Thrift JDBC/ODBC server (HiveThriftServer2) over the lakehouse's metastore.

SQL users reach the gold Delta tables by name (``gold.customer_features``,
``gold.churn_labels``) through JDBC/ODBC (beeline, PyHive, DBeaver...). The server is a
separate ``spark-submit --class org.apache.spark.sql.hive.thriftserver.HiveThriftServer2``
process on 127.0.0.1 with the same metastore, warehouse and Delta settings as the jobs
(from :func:`churnlake.config.load_config`, so ``CHURNLAKE__…`` overrides apply)::

    server = ThriftServer(cfg, port=10000)
    with server:                       # start() ... stop()
        hive.connect("127.0.0.1", server.port, username="me")

Two settings differ from the jobs, both for problems found running it (docs/serving_sql.md):

- The Delta jars are on the *driver class path*, not only in ``spark.jars.packages``: when a
  JDBC session closes, Hive's ``SessionState.close()`` closes the class loaders of the
  session, among them the one holding ``--packages`` jars, and the next query that needs a
  Delta class not loaded yet fails with ``NoClassDefFoundError`` (delta-io/delta #1332).
- ``spark.databricks.delta.optimizeMetadataQuery.enabled=false``: the Thrift server runs
  queries with the Java 8 time API, and Delta's metadata-only answer to ``max(<date
  column>)`` then fails with ``ClassCastException: LocalDate cannot be cast to java.sql.Date``.

CLI (``./thrift-server.sh`` calls it)::

    python -m churnlake.serving.thrift start|stop|status [--port N]
    python -m churnlake.serving.thrift conf        # the --conf values, one per line
    python -m churnlake.serving.thrift command     # the whole spark-submit command
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Optional

from churnlake.config import Config, load_config
from churnlake.serving import jars
from churnlake.serving._daemon import Daemon, ServerStartError, port_open
from churnlake.serving.derby import DerbyServer, network_metastore
from churnlake.spark import base_conf, ivy_dir, spark_defaults

MAIN_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
DEFAULT_PORT = 10000
HOST = "127.0.0.1"


def default_port() -> int:
    """``$CHURNLAKE_THRIFT_PORT`` or 10000."""
    return int(os.environ.get("CHURNLAKE_THRIFT_PORT") or DEFAULT_PORT)


def server_conf(cfg: Config) -> dict[str, str]:
    """The ``--conf`` settings of the server (on top of conf/spark-defaults.conf)."""
    return {
        **base_conf(cfg, catalog=True),
        "spark.jars.ivy": ivy_dir(),
        "spark.ui.enabled": "false",
        "spark.databricks.delta.optimizeMetadataQuery.enabled": "false",
    }


def _venv_bin(cfg: Config) -> Path:
    venv = os.environ.get("CHURNLAKE_VENV")
    candidates = [Path(venv) / "bin"] if venv else []
    candidates += [Path(sys.executable).parent, cfg.root_dir / ".venv" / "bin"]
    for path in candidates:
        if (path / "spark-submit").is_file():
            return path
    raise FileNotFoundError("no spark-submit in the venv (run 'make setup', or set CHURNLAKE_VENV)")


class ThriftServer:
    """One HiveThriftServer2 process on 127.0.0.1:``port``.

    State: pid file ``<state_dir>/thrift/thrift-server.pid`` (+ ``thrift-server.json`` with the
    port), log ``<logs_dir>/thrift-server.log``. Objects that start the server stop it at
    interpreter exit unless ``detach=True`` (the CLI).
    """

    def __init__(self, cfg: Config, port: Optional[int] = None, *, master: Optional[str] = None,
                 driver_memory: Optional[str] = None, start_timeout: float = 300.0,
                 extra_conf: Optional[dict[str, str]] = None, detach: bool = False) -> None:
        self.cfg = cfg
        self.host = HOST
        self.state_dir = cfg.state_dir / "thrift"
        self.info_path = self.state_dir / "thrift-server.json"
        if port is None:
            port = self._recorded_port() or default_port()
        self.port = port
        self.master = master or os.environ.get("CHURNLAKE_MASTER") or cfg.spark_local_master
        self.driver_memory = driver_memory or os.environ.get("SPARK_DRIVER_MEMORY") or "1g"
        self.start_timeout = start_timeout
        self.extra_conf = dict(extra_conf or {})
        self.detach = detach
        self.start_seconds: Optional[float] = None
        self._daemon = Daemon("Thrift server", self.state_dir / "thrift-server.pid",
                              cfg.logs_dir / "thrift-server.log", self.host, port, marker=MAIN_CLASS)

    # ------------------------------------------------------------------ facts
    @property
    def log_path(self) -> Path:
        return self._daemon.log_path

    @property
    def pid_path(self) -> Path:
        return self._daemon.pid_path

    def jdbc_url(self, database: str = "default") -> str:
        return f"jdbc:hive2://{self.host}:{self.port}/{database}"

    def pid(self) -> Optional[int]:
        return self._daemon.pid()

    def running(self) -> bool:
        return self.pid() is not None and port_open(self.host, self.port)

    def _recorded_port(self) -> Optional[int]:
        try:
            return int(json.loads(self.info_path.read_text())["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def command(self) -> list[str]:
        """The spark-submit command line (resolves the Delta jars with Ivy on first use)."""
        cfg = self.cfg
        classpath = jars.spark_packages_jars(spark_defaults(cfg))
        if network_metastore(cfg) is not None:
            # HiveServer2's own session code opens the metastore with the server's Hive classes
            # too (not only Spark's isolated Hive client), so the driver goes on the class path.
            classpath += jars.derby_client_jars()
        java_opts = (f"-Dlog4j2.configurationFile=file:{cfg.root_dir / 'conf' / 'log4j2.properties'} "
                     f"-Dderby.system.home={cfg.metastore_dir} -Dchurnlake.logs={cfg.logs_dir}")
        cmd = [str(_venv_bin(cfg) / "spark-submit"),
               "--master", self.master,
               "--properties-file", str(cfg.root_dir / "conf" / "spark-defaults.conf"),
               "--driver-memory", self.driver_memory,
               "--driver-java-options", java_opts,
               "--driver-class-path", os.pathsep.join(str(j) for j in classpath)]
        for key, value in {**server_conf(cfg), **self.extra_conf}.items():
            cmd += ["--conf", f"{key}={value}"]
        cmd += ["--name", "churnlake-thrift-server", "--class", MAIN_CLASS, "spark-internal",
                "--hiveconf", f"hive.server2.thrift.port={self.port}",
                "--hiveconf", f"hive.server2.thrift.bind.host={self.host}"]
        return cmd

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "SPARK_HOME"}
        env["PATH"] = f"{_venv_bin(self.cfg)}{os.pathsep}{env.get('PATH', '')}"
        env["CHURNLAKE_HOME"] = str(self.cfg.root_dir)
        return env

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "ThriftServer":
        """Start the server and wait until it accepts connections (raises with the log tail)."""
        ms = network_metastore(self.cfg)
        if ms is not None and not port_open(ms.host, ms.port):
            raise ServerStartError(f"the metastore server {ms.host}:{ms.port} (metastore.url) does not "
                                   "answer; start it first: make metastore-start")
        self.cfg.metastore_dir.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        self.start_seconds = self._daemon.start(cmd, self.environment(), self.cfg.root_dir, self.start_timeout)
        self.info_path.write_text(json.dumps({
            "pid": self._daemon.proc.pid, "port": self.port, "host": self.host,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "start_seconds": round(self.start_seconds, 1),
            "metastore": server_conf(self.cfg)["spark.hadoop.javax.jdo.option.ConnectionURL"],
        }, indent=2) + "\n")
        if not self.detach:
            atexit.register(self.stop)
        return self

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the server and wait for it to exit; False if it was not running."""
        stopped = self._daemon.stop(timeout)
        self.info_path.unlink(missing_ok=True)
        if not self.detach:
            atexit.unregister(self.stop)
        return stopped

    def __enter__(self) -> "ThriftServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m churnlake.serving.thrift",
                                     description="Spark Thrift JDBC/ODBC server over the churnlake metastore")
    parser.add_argument("command", choices=["start", "stop", "status", "conf", "command"])
    parser.add_argument("--port", type=int, default=None,
                        help="default: $CHURNLAKE_THRIFT_PORT or 10000 (stop/status: the running server's)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the port (start)")
    args = parser.parse_args(argv)
    cfg = load_config()
    # stop/status find the running server's port in its state file; start uses the default.
    port = args.port or (None if args.command in ("stop", "status") else default_port())
    server = ThriftServer(cfg, port, start_timeout=args.timeout, detach=True)
    ms = network_metastore(cfg)

    if args.command == "conf":
        for key, value in server_conf(cfg).items():
            print(f"{key}={value}")
        return 0
    if args.command == "command":
        print(shlex.join(server.command()))
        return 0
    if args.command == "status":
        if server.running():
            print(f"Thrift server running (pid {server.pid()}) on {server.host}:{server.port}: "
                  f"{server.jdbc_url('gold')}; log {server.log_path}")
            return 0
        print(f"Thrift server not running{' (stale pid file removed)' if server.pid_path.exists() else ''}")
        server.pid_path.unlink(missing_ok=True)
        return 3
    if args.command == "stop":
        print("Thrift server stopped" if server.stop() else "Thrift server was not running")
        return 0

    # start
    if server.running():
        print(f"Thrift server already running (pid {server.pid()}) on {server.host}:{server.port}")
        return 0
    if ms is None:
        print("note: the metastore is embedded Derby (metastore.url unset): while this server runs, "
              "jobs that open the metastore (the gold job) fail; stop it first, or see "
              "docs/serving_sql.md to share the metastore through a Derby network server", file=sys.stderr)
    elif ms.local and not port_open(ms.host, ms.port):
        derby = DerbyServer(cfg, ms.port).start()
        print(f"Derby network server started on {derby.host}:{derby.port} (pid {derby.pid()}, log {derby.log_path})")
    print(f"starting the Thrift server on {server.host}:{server.port} (log {server.log_path}) ...", flush=True)
    try:
        server.start()
    except ServerStartError as exc:
        print(f"thrift-server: {exc}", file=sys.stderr)
        return 1
    print(f"Thrift server listening on {server.host}:{server.port} after {server.start_seconds:.1f}s "
          f"(pid {server.pid()}): beeline -u {server.jdbc_url('gold')} -n $USER")
    return 0


if __name__ == "__main__":
    sys.exit(main())
