"""The Hive metastore on a Derby *network* server, so several JVMs can share it.

By default every churnlake JVM opens the metastore with the *embedded* Derby driver
(``jdbc:derby:;databaseName=<state_dir>/metastore/metastore_db``). Embedded Derby lets only
one JVM boot a database at a time, so a running Thrift server and a gold job exclude each
other. With ``metastore.url`` set to a network URL (conf/pipeline.yaml, or
``CHURNLAKE__METASTORE__URL``)::

    metastore:
      url: "jdbc:derby://127.0.0.1:1527/metastore_db;create=true"

every session connects through a Derby network server instead. :class:`DerbyServer` runs
that server on 127.0.0.1 with ``derby.system.home = <state_dir>/metastore``, so
``metastore_db`` in the URL is the very database the embedded driver wrote: switching modes
keeps the catalog. (Never run both modes at once: the server holds the database.)

The client driver is not part of pyspark, and DataNucleus (the metastore's ORM) only sees
JDBC drivers on the class path of the Hive client, not jars added with
``spark.jars.packages``. So the session loads its Hive client from pyspark's own jars plus
``derbyclient`` (``spark.sql.hive.metastore.jars=path``), which works for jobs started by
``spark-submit.sh`` too, where the driver class path is fixed before any Python runs.

CLI::

    python -m churnlake.serving.derby start|stop|status|resolve-jars
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from churnlake.config import Config, load_config
from churnlake.serving import jars
from churnlake.services.process import Daemon, port_open

CLIENT_DRIVER = "org.apache.derby.client.ClientAutoloadedDriver"
DEFAULT_PORT = 1527
LOCAL_HOSTS = ("127.0.0.1", "localhost")
_URL = re.compile(r"^jdbc:derby://(?P<host>[^:/;]+)(?::(?P<port>\d+))?/(?P<database>[^;]+)(?P<attrs>;.*)?$")


@dataclass(frozen=True)
class DerbyUrl:
    """The parts of a ``jdbc:derby://host:port/database;attrs`` URL."""

    host: str
    port: int
    database: str
    attrs: str = ""

    @classmethod
    def parse(cls, url: str) -> "DerbyUrl":
        match = _URL.match(url.strip())
        if not match:
            raise ValueError(f"metastore.url {url!r} is not a Derby network URL "
                             "(jdbc:derby://127.0.0.1:1527/metastore_db;create=true)")
        return cls(match["host"], int(match["port"] or DEFAULT_PORT), match["database"], match["attrs"] or "")

    @property
    def local(self) -> bool:
        """True when the server is on this machine's loopback (ours to start)."""
        return self.host in LOCAL_HOSTS


def metastore_url(cfg: Config) -> Optional[str]:
    """``metastore.url`` of the config, or None for the embedded Derby default."""
    section = cfg.raw.get("metastore")
    url = section.get("url") if isinstance(section, dict) else None
    return str(url).strip() if url not in (None, "") else None


def network_metastore(cfg: Config) -> Optional[DerbyUrl]:
    """The configured Derby network metastore, or None in embedded mode."""
    url = metastore_url(cfg)
    return DerbyUrl.parse(url) if url else None


def client_conf(cfg: Config) -> dict[str, str]:
    """Spark settings that reach the metastore through the Derby network server.

    Resolves ``derbyclient`` with Ivy on first use (cached in ``<ivy_dir>/classpath``).
    """
    url = metastore_url(cfg)
    DerbyUrl.parse(url)  # validate
    hive_jars = [f"{jars.PYSPARK_JARS.as_uri()}/*"] + [j.as_uri() for j in jars.derby_client_jars()]
    return {
        "spark.hadoop.javax.jdo.option.ConnectionURL": url,
        "spark.hadoop.javax.jdo.option.ConnectionDriverName": CLIENT_DRIVER,
        "spark.sql.hive.metastore.version": jars.HIVE_VERSION,
        "spark.sql.hive.metastore.jars": "path",
        "spark.sql.hive.metastore.jars.path": ",".join(hive_jars),
    }


class DerbyServer:
    """A Derby network server on 127.0.0.1 serving ``<state_dir>/metastore``.

    The process outlives this object (it is meant to be shared by jobs); :meth:`stop` ends
    it. Pid file ``<state_dir>/derby-server/derby-server.pid``, log ``<logs_dir>/derby-server.log``.
    """

    MAIN = "org.apache.derby.drda.NetworkServerControl"

    def __init__(self, cfg: Config, port: Optional[int] = None, *, heap: str = "256m") -> None:
        configured = network_metastore(cfg)
        self.cfg = cfg
        self.host = "127.0.0.1"
        self.port = port or (configured.port if configured else DEFAULT_PORT)
        self.home = cfg.metastore_dir
        self.heap = heap
        self.start_seconds: Optional[float] = None
        self._daemon = Daemon("Derby network server", cfg.state_dir / "derby-server" / "derby-server.pid",
                              cfg.logs_dir / "derby-server.log", self.host, self.port,
                              marker=f"-Dchurnlake.derby.port={self.port}")

    @property
    def url(self) -> str:
        """Client URL of the metastore database on this server."""
        return f"jdbc:derby://{self.host}:{self.port}/metastore_db;create=true"

    @property
    def log_path(self) -> Path:
        return self._daemon.log_path

    def pid(self) -> Optional[int]:
        return self._daemon.pid()

    def running(self) -> bool:
        return self.pid() is not None and port_open(self.host, self.port)

    def _java(self, *args: str) -> list[str]:
        classpath = os.pathsep.join(str(j) for j in jars.derby_server_jars())
        return [jars.java_executable(), f"-Xmx{self.heap}", "-cp", classpath,
                f"-Dderby.system.home={self.home}", f"-Dchurnlake.derby.port={self.port}",
                self.MAIN, *args]

    def start(self, timeout: float = 120.0) -> "DerbyServer":
        """Start the server unless it already runs; idempotent."""
        if self.running():
            return self
        self.home.mkdir(parents=True, exist_ok=True)
        cmd = self._java("start", "-h", self.host, "-p", str(self.port))
        self.start_seconds = self._daemon.start(cmd, os.environ, self.home, timeout)
        return self

    def stop(self, timeout: float = 60.0) -> bool:
        """Shut the server down cleanly (Derby's shutdown command, then SIGTERM); False if not running."""
        pid = self.pid()
        if pid is None:
            return self._daemon.stop(timeout)
        subprocess.run(self._java("shutdown", "-h", self.host, "-p", str(self.port)),
                       capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if self._daemon.wait_exit(pid, 20.0):
            self._daemon.pid_path.unlink(missing_ok=True)
            return True
        return self._daemon.stop(timeout)

    def __enter__(self) -> "DerbyServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m churnlake.serving.derby", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status", "resolve-jars"])
    parser.add_argument("--port", type=int, default=None,
                        help="default: the port of metastore.url, else 1527")
    args = parser.parse_args(argv)
    cfg = load_config()
    configured = network_metastore(cfg)
    if configured is not None and not configured.local and args.command in ("start", "stop"):
        print(f"metastore.url points at {configured.host}: that server is not managed here", file=sys.stderr)
        return 2
    server = DerbyServer(cfg, args.port)
    if args.command == "resolve-jars":
        for jar in jars.derby_server_jars() + jars.derby_client_jars():
            print(jar)
        return 0
    if args.command == "start":
        if server.running():
            print(f"Derby network server already running on {server.host}:{server.port} (pid {server.pid()})")
        else:
            server.start()
            print(f"Derby network server started on {server.host}:{server.port} in {server.start_seconds:.1f}s "
                  f"(pid {server.pid()}, database home {server.home}, log {server.log_path})")
        if configured is None:
            print("note: metastore.url is not set, so jobs still use the embedded Derby driver and will fail "
                  f"while this server holds the database; set CHURNLAKE__METASTORE__URL='{server.url}'",
                  file=sys.stderr)
        return 0
    if args.command == "stop":
        print("Derby network server stopped" if server.stop() else "Derby network server was not running")
        return 0
    if server.running():
        print(f"Derby network server running on {server.host}:{server.port} (pid {server.pid()}, "
              f"database home {server.home}, log {server.log_path})")
        return 0
    print(f"Derby network server not running (port {server.port})")
    return 3


if __name__ == "__main__":
    sys.exit(main())
