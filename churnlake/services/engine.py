"""The lakehouse engine: one long-running Spark driver that serves Spark Connect and JDBC.

One JVM started as Spark's ``HiveThriftServer2`` with the Spark Connect plugin:

- **Spark Connect** on ``127.0.0.1:<connect_port>`` (default 15002): every churnlake job run by
  ``./spark-submit.sh`` (and so every Luigi task) is a thin Python client of this server, so
  a job no longer pays 20–40 s of driver JVM start-up;
- **Thrift JDBC/ODBC** on ``127.0.0.1:<thrift_port>`` (default 10000): analysts query the gold
  tables by name (beeline, PyHive, DBeaver), ``VERSION AS OF`` included;
- **one Hive metastore** (embedded Derby, or the Derby network server of ``metastore.url``)
  and one warehouse, so a table a job registers is visible over JDBC at once, and the
  "one JVM at a time" limit of embedded Derby no longer applies to jobs and JDBC users.

Settings: the ``engine`` section of conf/pipeline.yaml (``CHURNLAKE__ENGINE__*`` overrides):
``host``, ``connect_port``, ``thrift_port``, ``master`` (``local[*]``; ``spark://…`` runs the
engine's executors on a standalone cluster, the driver here in client mode), ``driver_memory``,
``java_options`` (extra driver JVM flags; by default :data:`DEFAULT_JAVA_OPTIONS`) and ``remote`` —
where jobs go (:func:`resolve_remote`).

Two server settings come from problems found running it (docs/serving_sql.md):

- the Delta jars are on the *driver class path*, not only in ``spark.jars.packages``: Hive's
  ``SessionState.close()`` closes the class loader holding ``--packages`` jars when a JDBC
  session ends (delta-io/delta #1332), and later Connect sessions fail with
  ``DATA_SOURCE_NOT_FOUND: delta``;
- ``spark.databricks.delta.optimizeMetadataQuery.enabled=false``: the Thrift server runs
  queries with the Java 8 time API, and Delta's metadata-only answer to ``max(<date
  column>)`` then fails with ``ClassCastException``.

CLI (``./engine.sh`` and ``make engine-*`` call it)::

    python -m churnlake.services.engine start|stop|status|logs|url|command
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shlex
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from churnlake.config import Config, ivy_dir, load_config
from churnlake.serving import jars
from churnlake.services import launcher as launcher_mod
from churnlake.services.process import Daemon, ServerStartError, port_open, tail
from churnlake.serving.derby import DerbyServer, network_metastore
from churnlake.spark import base_conf, spark_defaults

MAIN_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
CONNECT_PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"
#: ``engine.remote`` values that mean "no engine: every job starts its own driver JVM".
CLASSIC = ("", "classic", "none", "null", "off", "false")


#: The engine's JIT compiles a method after 4x the JVM's default number of calls: fewer
#: compilations of code that runs only a few times (a new engine's first jobs, Spark's generated
#: classes of one query), the same compiled hot loops. The demo's DAG took ≈ 6 % less time in
#: three runs side by side (docs/benchmarks.md, "The engine's JIT").
DEFAULT_JAVA_OPTIONS = "-XX:CompileThresholdScaling=4"


@dataclass(frozen=True)
class EngineSettings:
    """The ``engine`` section of the pipeline config."""

    host: str = "127.0.0.1"
    connect_port: int = 15002
    thrift_port: int = 10000
    master: str = "local[*]"
    driver_memory: str = "4g"
    remote: str = "auto"
    start_timeout_s: float = 300.0
    java_options: str = DEFAULT_JAVA_OPTIONS
    launcher: str = "auto"
    session_timeout: str = "10m"

    @classmethod
    def from_config(cls, cfg: Config) -> "EngineSettings":
        raw = dict(cfg.raw.get("engine") or {})
        defaults = cls()
        remote = raw.get("remote", defaults.remote)
        launcher = raw.get("launcher", defaults.launcher)
        return cls(
            host=str(raw.get("host") or defaults.host),
            connect_port=int(raw.get("connect_port") or defaults.connect_port),
            thrift_port=int(raw.get("thrift_port") or defaults.thrift_port),
            master=str(raw.get("master") or defaults.master),
            driver_memory=str(raw.get("driver_memory") or defaults.driver_memory),
            remote="" if remote is None else str(remote),
            start_timeout_s=float(raw.get("start_timeout_s") or defaults.start_timeout_s),
            java_options=str(raw.get("java_options", defaults.java_options) or ""),
            launcher="off" if launcher is None else str(launcher),
            session_timeout=str(raw.get("session_timeout") or defaults.session_timeout),
        )


def server_conf(cfg: Config) -> dict[str, str]:
    """The engine's ``--conf`` settings on top of conf/spark-defaults.conf (ports aside)."""
    return {
        **base_conf(cfg, catalog=True),
        "spark.jars.ivy": ivy_dir(),
        "spark.plugins": CONNECT_PLUGIN,
        "spark.ui.enabled": "false",
        "spark.databricks.delta.optimizeMetadataQuery.enabled": "false",
        # Jobs of two Luigi workers run side by side in this one driver. FAIR mode with no
        # pool of their own puts every job in the "default" pool, which is FIFO inside: a job
        # gets the cores its predecessors leave. A FAIR default pool (allocation file) was
        # measured: 165 s against 170 s for the demo's DAG, within noise (docs/benchmarks.md).
        "spark.scheduler.mode": "FAIR",
        # A dead client's session (and what it cached) is released after this long idle (10
        # minutes by default); a live job touches its session every minute (churnlake.spark.keep_alive).
        "spark.connect.session.manager.defaultSessionTimeout": EngineSettings.from_config(cfg).session_timeout,
    }


def _venv_bin(cfg: Config) -> Path:
    venv = os.environ.get("CHURNLAKE_VENV")
    candidates = [Path(venv) / "bin"] if venv else []
    candidates += [Path(sys.executable).parent, cfg.root_dir / ".venv" / "bin"]
    for path in candidates:
        if (path / "spark-submit").is_file():
            return path
    raise FileNotFoundError("no spark-submit in the venv (run 'make setup', or set CHURNLAKE_VENV)")


class Engine:
    """The engine process of one churnlake config.

    State: ``<state_dir>/engine/engine.pid`` and ``engine.json`` (ports, start time), log
    ``<logs_dir>/engine.log``. An object that starts the engine stops it at interpreter exit
    unless ``detach=True`` (the CLI, ``make demo``).
    """

    def __init__(self, cfg: Config, *, connect_port: Optional[int] = None, thrift_port: Optional[int] = None,
                 master: Optional[str] = None, driver_memory: Optional[str] = None,
                 extra_conf: Optional[dict[str, str]] = None, driver_java_options: str = "",
                 detach: bool = False, launcher: Optional[bool] = None) -> None:
        self.cfg = cfg
        self.settings = EngineSettings.from_config(cfg)
        self.host = self.settings.host
        self.state_dir = cfg.state_dir / "engine"
        self.info_path = self.state_dir / "engine.json"
        recorded = self._recorded()
        self.connect_port = int(connect_port or recorded.get("connect_port") or self.settings.connect_port)
        self.thrift_port = int(thrift_port or recorded.get("thrift_port") or self.settings.thrift_port)
        self.master = master or self.settings.master
        self.driver_memory = driver_memory or self.settings.driver_memory
        self.extra_conf = dict(extra_conf or {})
        # The configured JVM flags (engine.java_options), then the caller's.
        self.driver_java_options = " ".join(o for o in (self.settings.java_options, driver_java_options) if o)
        self.detach = detach
        self.start_seconds: Optional[float] = None
        self._daemon = Daemon("engine", self.state_dir / "engine.pid", cfg.logs_dir / "engine.log",
                              self.host, self.thrift_port, marker=MAIN_CLASS)
        # The job launcher (churnlake/services/launcher.py) lives and dies with the engine.
        self.with_launcher = (self.settings.launcher.lower() not in CLASSIC) if launcher is None else launcher
        self.launcher_socket = launcher_mod.socket_path(cfg.state_dir)
        self._launcher = Daemon("job launcher", self.state_dir / "launcher.pid", cfg.logs_dir / "launcher.log",
                                self.host, 0, marker=f"launcher.py serve {self.launcher_socket}",
                                ready=lambda: launcher_mod.answers(self.launcher_socket),
                                where=self.launcher_socket)

    # ------------------------------------------------------------------ facts
    @property
    def log_path(self) -> Path:
        return self._daemon.log_path

    @property
    def pid_path(self) -> Path:
        return self._daemon.pid_path

    @property
    def remote_url(self) -> str:
        """The Spark Connect URL of this engine (``sc://host:port``)."""
        return f"sc://{self.host}:{self.connect_port}"

    def jdbc_url(self, database: str = "default") -> str:
        return f"jdbc:hive2://{self.host}:{self.thrift_port}/{database}"

    def pid(self) -> Optional[int]:
        return self._daemon.pid()

    def launcher_pid(self) -> Optional[int]:
        """The pid of this engine's job launcher, or None when none runs."""
        return self._launcher.pid()

    def launcher_answers(self) -> bool:
        """True when this engine's job launcher accepts jobs."""
        return self.launcher_pid() is not None and launcher_mod.answers(self.launcher_socket)

    def start_launcher(self) -> Optional[float]:
        """Start the job launcher (seconds until it accepts jobs); None, with a warning in the
        engine's log, when it cannot start: jobs then run as processes of their own."""
        if self._launcher.pid() is not None:
            self._launcher.stop()
        cmd = [str(_venv_bin(self.cfg) / "python"), str(Path(launcher_mod.__file__).resolve()),
               "serve", self.launcher_socket]
        try:
            return self._launcher.start(cmd, self.environment(), self.cfg.root_dir, 120.0)
        except (ServerStartError, OSError) as exc:
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(f"==== the job launcher did not start (jobs run as processes of their own): {exc}\n")
            return None

    def endpoints(self) -> dict[str, bool]:
        """Whether each endpoint accepts connections now."""
        return {"connect": port_open(self.host, self.connect_port),
                "jdbc": port_open(self.host, self.thrift_port)}

    def running(self) -> bool:
        """True when our engine process lives and both endpoints answer."""
        return self.pid() is not None and all(self.endpoints().values())

    def _recorded(self) -> dict:
        try:
            return json.loads(self.info_path.read_text())
        except (OSError, ValueError):
            return {}

    def command(self) -> list[str]:
        """The spark-submit command line (resolves the Delta jars with Ivy on first use)."""
        cfg = self.cfg
        classpath = jars.spark_packages_jars(spark_defaults(cfg))
        if network_metastore(cfg) is not None:
            # HiveServer2's own session code opens the metastore with the server's Hive classes
            # too (not only Spark's isolated Hive client), so the driver goes on the class path.
            classpath += jars.derby_client_jars()
        java_opts = (f"-Dlog4j2.configurationFile=file:{cfg.root_dir / 'conf' / 'log4j2.properties'} "
                     f"-Dderby.system.home={cfg.metastore_dir} -Dchurnlake.logs={cfg.logs_dir} "
                     f"{self.driver_java_options}").strip()
        cmd = [str(_venv_bin(cfg) / "spark-submit"),
               "--master", self.master,
               "--properties-file", str(cfg.root_dir / "conf" / "spark-defaults.conf"),
               "--driver-memory", self.driver_memory,
               "--driver-java-options", java_opts,
               "--driver-class-path", os.pathsep.join(str(j) for j in classpath)]
        conf = {**server_conf(cfg),
                "spark.connect.grpc.binding.address": self.host,
                "spark.connect.grpc.binding.port": str(self.connect_port),
                **self.extra_conf}
        for key, value in conf.items():
            cmd += ["--conf", f"{key}={value}"]
        cmd += ["--name", "churnlake-engine", "--class", MAIN_CLASS, "spark-internal",
                "--hiveconf", f"hive.server2.thrift.port={self.thrift_port}",
                "--hiveconf", f"hive.server2.thrift.bind.host={self.host}"]
        return cmd

    def beeline_command(self, database: str = "gold", args: list[str] = ()) -> list[str]:
        """beeline on this engine's JDBC endpoint (quiet, table output) with ``args`` appended."""
        return [str(_venv_bin(self.cfg) / "beeline"), "-u", self.jdbc_url(database), "-n", "churnlake",
                "--silent=true", "--showWarnings=false", *args]

    def environment(self) -> dict[str, str]:
        venv_bin = _venv_bin(self.cfg)
        env = {k: v for k, v in os.environ.items() if k not in ("SPARK_HOME", "SPARK_REMOTE")}
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
        env["CHURNLAKE_HOME"] = str(self.cfg.root_dir)
        # Python UDF workers of the engine run the venv's interpreter (pandas, pyarrow).
        env.setdefault("PYSPARK_PYTHON", str(venv_bin / "python"))
        if self.master.startswith("local"):
            # Everything of a local engine stays on loopback (the hostname may resolve elsewhere).
            env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        return env

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Engine":
        """Start the engine and wait until both endpoints accept connections."""
        ms = network_metastore(self.cfg)
        if ms is not None and not port_open(ms.host, ms.port):
            raise ServerStartError(f"the metastore server {ms.host}:{ms.port} (metastore.url) does not "
                                   "answer; start it first: make metastore-start")
        if port_open(self.host, self.connect_port):
            raise ServerStartError(f"{self.host}:{self.connect_port} (engine.connect_port) is already in use "
                                   "by another process; choose another port (CHURNLAKE__ENGINE__CONNECT_PORT)")
        self.cfg.metastore_dir.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        t0 = time.monotonic()
        # The launcher imports its packages (≈ 5 s) while the JVM starts.
        launcher = threading.Thread(target=self.start_launcher, name="launcher-start", daemon=True)
        if self.with_launcher:
            launcher.start()
        try:
            self._daemon.start(cmd, self.environment(), self.cfg.root_dir, self.settings.start_timeout_s)
        except BaseException:
            if self.with_launcher:
                launcher.join()
                self._launcher.stop()
            raise
        while not port_open(self.host, self.connect_port):
            if time.monotonic() - t0 > self.settings.start_timeout_s or self.pid() is None:
                self._daemon.stop()
                raise ServerStartError(f"the engine's JDBC port answers but Spark Connect does not listen on "
                                       f"{self.host}:{self.connect_port}; log {self.log_path}:\n"
                                       f"{tail(self.log_path)}")
            time.sleep(0.25)
        if self.with_launcher:
            launcher.join()
        self.start_seconds = time.monotonic() - t0
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.info_path.write_text(json.dumps({
            "pid": self._daemon.proc.pid, "host": self.host, "connect_port": self.connect_port,
            "thrift_port": self.thrift_port, "master": self.master, "driver_memory": self.driver_memory,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "start_seconds": round(self.start_seconds, 1),
            "metastore": server_conf(self.cfg)["spark.hadoop.javax.jdo.option.ConnectionURL"],
        }, indent=2) + "\n")
        if not self.detach:
            atexit.register(self.stop)
        return self

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the engine and wait for it to exit; False if it was not running."""
        self._launcher.stop(timeout)
        stopped = self._daemon.stop(timeout)
        self.info_path.unlink(missing_ok=True)
        if not self.detach:
            atexit.unregister(self.stop)
        return stopped

    def ensure_running(self) -> bool:
        """Start the engine unless it runs; True when this call started it."""
        if self.running():
            if self.with_launcher and not self.launcher_answers():
                self.start_launcher()  # an engine started without one (or its launcher died)
            return False
        if self.pid() is not None:  # alive but an endpoint is gone: restart it cleanly
            self.stop()
        self.start()
        return True

    def __enter__(self) -> "Engine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def resolve_remote(cfg: Config) -> Optional[str]:
    """The Spark Connect URL a job should use, or None to run it classic (its own driver JVM).

    ``engine.remote``: ``auto`` (default) uses this config's engine when it runs, else classic;
    an ``sc://…`` URL always uses that server; ``classic`` (or empty/null) never uses one.
    """
    remote = EngineSettings.from_config(cfg).remote.strip()
    if remote.lower() in CLASSIC:
        return None
    if remote.lower() == "auto":
        engine = Engine(cfg, detach=True)
        return engine.remote_url if engine.pid() is not None and port_open(engine.host, engine.connect_port) else None
    if not remote.startswith("sc://"):
        raise ValueError(f"engine.remote must be auto, classic or an sc://host:port URL, got {remote!r}")
    return remote


def resolve_launcher(cfg: Config) -> Optional[str]:
    """The socket of the job launcher engine-mode jobs go through, or None (each job is then a
    process of its own). ``engine.launcher``: ``auto`` (default) is the launcher of this
    config's engine when its socket exists; a path is that socket; ``off`` is none. A socket
    that does not answer costs nothing: the client then runs the job as a process of its own."""
    setting = EngineSettings.from_config(cfg).launcher.strip()
    if setting.lower() in CLASSIC:
        return None
    path = launcher_mod.socket_path(cfg.state_dir) if setting.lower() == "auto" else setting
    return path if os.path.exists(path) else None


def sql_file_as_statement(args: list[str]) -> list[str]:
    """``-f FILE`` becomes ``-e <the file's SQL>`` (comment lines dropped): beeline -f echoes a
    ``null`` prompt per line of the file, -e prints the results only."""
    out, i = [], 0
    while i < len(args):
        if args[i] == "-f" and i + 1 < len(args):
            text = Path(args[i + 1]).read_text(encoding="utf-8")
            out += ["-e", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))]
            i += 2
        else:
            out.append(args[i])
            i += 1
    return out


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="./engine.sh", description="The churnlake engine: Spark Connect + "
                                     "Thrift JDBC in one Spark driver (docs/services.md)")
    parser.add_argument("command", choices=["start", "stop", "status", "logs", "url", "client", "command", "conf",
                                            "sql"])
    parser.add_argument("--connect-port", type=int, default=None, help="default engine.connect_port (15002)")
    parser.add_argument("--thrift-port", type=int, default=None, help="default engine.thrift_port (10000)")
    parser.add_argument("--master", default=None, help="default engine.master (local[*]); e.g. spark://host:7077")
    parser.add_argument("--memory", default=None, help="driver memory, default engine.driver_memory (4g)")
    parser.add_argument("--lines", type=int, default=60, help="logs: how many lines")
    parser.add_argument("--database", default="gold", help="sql: the database to connect to (default gold)")
    args, beeline_args = parser.parse_known_args(argv)
    if beeline_args and args.command != "sql":
        parser.error(f"unrecognized arguments: {' '.join(beeline_args)}")
    cfg = load_config()
    engine = Engine(cfg, connect_port=args.connect_port, thrift_port=args.thrift_port, master=args.master,
                    driver_memory=args.memory, detach=True)

    if args.command in ("url", "client"):
        try:
            url = resolve_remote(cfg)
        except ValueError as exc:
            print(f"engine: {exc}", file=sys.stderr)
            return 2
        if args.command == "url":
            if url:
                print(url)
            return 0
        # For ./spark-submit.sh: the Spark Connect URL (empty: classic) and the job launcher's
        # socket (empty: none), one per line.
        print(url or "")
        print((resolve_launcher(cfg) or "") if url else "")
        return 0
    if args.command == "conf":
        for key, value in server_conf(cfg).items():
            print(f"{key}={value}")
        return 0
    if args.command == "command":
        print(shlex.join(engine.command()))
        return 0
    if args.command == "logs":
        print(tail(engine.log_path, args.lines))
        return 0
    if args.command == "sql":
        # The venv's beeline finds its Spark through the venv's Python: run it with the venv
        # first on PATH, so it works from a shell without the venv activated.
        if not port_open(engine.host, engine.thrift_port):
            print(f"engine: nothing answers at {engine.jdbc_url(args.database)}; start it with: make engine-start",
                  file=sys.stderr)
            return 3
        cmd = engine.beeline_command(args.database, sql_file_as_statement(beeline_args))
        sys.stdout.flush()
        os.execve(cmd[0], cmd, engine.environment())
    if args.command == "status":
        pid = engine.pid()
        if pid is None:
            print("engine not running" + (" (stale pid file removed)" if engine.pid_path.exists() else "")
                  + "; start it with: make engine-start")
            engine.pid_path.unlink(missing_ok=True)
            return 3
        up = engine.endpoints()
        word = {True: "answers", False: "DOES NOT ANSWER"}
        print(f"engine running (pid {pid}, master {engine._recorded().get('master', engine.master)}), "
              f"log {engine.log_path}\n"
              f"  Spark Connect {engine.remote_url}: {word[up['connect']]}\n"
              f"  JDBC          {engine.jdbc_url('gold')}: {word[up['jdbc']]}\n"
              f"  job launcher  {engine.launcher_socket}: "
              + (word[engine.launcher_answers()] if engine.with_launcher else "off (engine.launcher)"))
        return 0 if all(up.values()) else 1
    if args.command == "stop":
        print("engine stopped" if engine.stop() else "engine was not running")
        return 0

    # start
    if engine.running():
        print(f"engine already running (pid {engine.pid()}): {engine.remote_url}, {engine.jdbc_url('gold')}")
        return 0
    ms = network_metastore(cfg)
    if ms is not None and ms.local and not port_open(ms.host, ms.port):
        derby = DerbyServer(cfg, ms.port).start()
        print(f"Derby network server started on {derby.host}:{derby.port} (pid {derby.pid()}, log {derby.log_path})")
    print(f"starting the engine (master {engine.master}, driver memory {engine.driver_memory}; "
          f"log {engine.log_path}) ...", flush=True)
    try:
        engine.ensure_running()
    except ServerStartError as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return 1
    print(f"engine listening after {engine.start_seconds:.1f}s (pid {engine.pid()}):\n"
          f"  Spark Connect {engine.remote_url}   (jobs: ./spark-submit.sh jobs/...)\n"
          f"  JDBC          {engine.jdbc_url('gold')}   (SQL: ./engine.sh sql -e 'SHOW TABLES')\n"
          f"  stop with: make engine-stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
