"""A real single-node HDFS on 127.0.0.1: Hadoop's ``MiniDFSCluster`` in a child JVM.

One NameNode (RPC + WebHDFS) and one DataNode, every port on 127.0.0.1, permission checks
off, replication 1.  Usage::

    from churnlake.services.hdfs import LocalHdfs

    with LocalHdfs("/tmp/hdfs") as h:
        h.namenode_uri        # hdfs://127.0.0.1:PORT   (Spark, Hadoop clients)
        h.webhdfs_url         # http://127.0.0.1:PORT   (hdfs.InsecureClient, curl)
        h.client().write("/tmp/a.txt", b"hi")

How it runs (see docs/services.md):

1. ``prepare_runtime()`` resolves ``hadoop-client-minicluster``/``-runtime``/``-api`` (same
   Hadoop version as the ``hadoop-client-*.jar`` bundled in pyspark, 3.5.0 for pyspark 4.2.0)
   with Maven from ``services/hdfs-minicluster/pom.xml`` into
   ``~/.cache/churnlake/hdfs-minicluster/<version>/lib``, unzips the minicluster and api
   jars next to it (Jetty and Jersey otherwise inflate the whole 56 MB jar at every start:
   ~17 s instead of ~5 s), and compiles the launcher ``MiniHdfs.java`` with ``javac``.
   All of it is cached; only the first run needs the network.
2. ``LocalHdfs.start()`` runs ``java churnlake.hdfs.MiniHdfs --base-dir ...`` and waits for
   its ready file (JSON with the ports), then checks that WebHDFS answers.

CLI::

    python -m churnlake.services.hdfs prepare
    python -m churnlake.services.hdfs start  --base-dir DIR [--namenode-port N] [--http-port N]
    python -m churnlake.services.hdfs status --base-dir DIR
    python -m churnlake.services.hdfs stop   --base-dir DIR

``start`` from the CLI leaves the cluster running in the background (it does not die with
the CLI process); ``stop`` ends it.  Objects made in Python instead stop their JVM in
``stop()``/at exit, and the JVM also stops by itself when its parent process dies.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from churnlake.services.process import pid_alive, tail, wait_pid_exit

log = logging.getLogger(__name__)

DEFAULT_HADOOP_VERSION = "3.5.0"  # what pyspark 4.2.0 bundles (jars/hadoop-client-api-3.5.0.jar)
MAIN_CLASS = "churnlake.hdfs.MiniHdfs"
READY_FILE = "minihdfs.json"
LOG_FILE = "minihdfs.log"
# Unzipped for start-up speed (Jetty unpacks webapps from, and Jersey scans, these jars).
EXPLODE_PREFIXES = ("hadoop-client-minicluster-", "hadoop-client-api-")


class HdfsSetupError(RuntimeError):
    """Maven/javac/java missing, or the minicluster jars could not be resolved or built."""


class HdfsStartError(RuntimeError):
    """The MiniDFSCluster JVM failed or timed out; the message carries its log tail."""


# --------------------------------------------------------------------------- locations
def project_dir() -> Path:
    """``services/hdfs-minicluster`` (pom.xml + launcher source)."""
    env = os.environ.get("CHURNLAKE_HDFS_MINICLUSTER_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "services" / "hdfs-minicluster"


def cache_root() -> Path:
    env = os.environ.get("CHURNLAKE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "churnlake"


def pyspark_hadoop_version() -> Optional[str]:
    """Hadoop version of the ``hadoop-client-api-*.jar`` inside the installed pyspark, if any."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("pyspark")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        for jar in sorted(Path(loc, "jars").glob("hadoop-client-api-*.jar")):
            return jar.name[len("hadoop-client-api-"):-len(".jar")]
    return None


def hadoop_version() -> str:
    return os.environ.get("CHURNLAKE_HADOOP_VERSION") or pyspark_hadoop_version() or DEFAULT_HADOOP_VERSION


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").is_file():
        return str(Path(home, "bin", "java"))
    found = shutil.which("java")
    if not found:
        raise HdfsSetupError("java not found (need a JDK, tested with 17: apt-get install openjdk-17-jdk-headless)")
    return found


def _javac() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "javac").is_file():
        return str(Path(home, "bin", "javac"))
    found = shutil.which("javac")
    if not found:
        raise HdfsSetupError("javac not found (need a JDK, not a JRE: apt-get install openjdk-17-jdk-headless)")
    return found


@contextlib.contextmanager
def _file_lock(path: Path):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- runtime
@dataclass
class MiniHdfsRuntime:
    """Everything needed to run the launcher: ``java -cp <classpath> churnlake.hdfs.MiniHdfs``."""

    hadoop_version: str
    cache_dir: Path
    classpath: List[str]
    java: str
    prepare_seconds: float
    downloaded: bool


def prepare_runtime(version: Optional[str] = None, *, mvn_timeout: float = 1200) -> MiniHdfsRuntime:
    """Resolve jars (Maven, first run only), unzip the big two, compile the launcher. Cached."""
    t0 = time.monotonic()
    version = version or hadoop_version()
    proj = project_dir()
    pom = proj / "pom.xml"
    source = proj / "src" / "main" / "java" / "churnlake" / "hdfs" / "MiniHdfs.java"
    log4j = proj / "src" / "main" / "resources" / "log4j2.properties"
    for f in (pom, source, log4j):
        if not f.is_file():
            raise HdfsSetupError(f"missing {f} (set CHURNLAKE_HDFS_MINICLUSTER_DIR to services/hdfs-minicluster)")
    cache = cache_root() / "hdfs-minicluster" / version
    lib = cache / "lib"
    downloaded = False
    with _file_lock(cache / ".lock"):
        # 1. jars -----------------------------------------------------------------
        pom_hash = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
        marker = lib / ".complete"
        if not marker.is_file() or marker.read_text().strip() != pom_hash:
            mvn = shutil.which("mvn")
            if not mvn:
                raise HdfsSetupError("mvn not found: install Maven (apt-get install maven) to fetch the Hadoop minicluster jars")
            tmp = cache / "lib.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            cmd = [
                mvn, "-B", "-q", "-f", str(pom), f"-Dhadoop.version={version}",
                "dependency:copy-dependencies", f"-DoutputDirectory={tmp}", "-DincludeScope=runtime",
            ]
            log.info("resolving Hadoop %s minicluster jars with Maven (first run only)...", version)
            proc = subprocess.run(cmd, cwd=str(proj), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=mvn_timeout, stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                raise HdfsSetupError(
                    f"Maven could not resolve org.apache.hadoop:hadoop-client-minicluster:{version} "
                    f"(exit {proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-4000:]}"
                )
            shutil.rmtree(lib, ignore_errors=True)
            shutil.rmtree(cache / "exploded", ignore_errors=True)
            tmp.rename(lib)
            marker.write_text(pom_hash + "\n")
            downloaded = True
        jars = sorted(p for p in lib.glob("*.jar"))
        if not any(j.name.startswith("hadoop-client-minicluster-") for j in jars):
            raise HdfsSetupError(f"{lib} has no hadoop-client-minicluster jar; delete {cache} and retry")

        # 2. unzip the two big jars ------------------------------------------------
        classpath_jars: List[str] = []
        exploded_dirs: List[str] = []
        for jar in jars:
            if jar.name.startswith(EXPLODE_PREFIXES):
                target = cache / "exploded" / jar.stem
                done = target / ".complete"
                if not done.is_file():
                    shutil.rmtree(target, ignore_errors=True)
                    tmp_dir = target.with_name(target.name + ".tmp")
                    shutil.rmtree(tmp_dir, ignore_errors=True)
                    with zipfile.ZipFile(jar) as zf:
                        zf.extractall(tmp_dir)
                    (tmp_dir / ".complete").write_text(jar.name + "\n")
                    tmp_dir.rename(target)
                exploded_dirs.append(str(target))
            else:
                classpath_jars.append(str(jar))

        # 3. compile the launcher ---------------------------------------------------
        src_hash = hashlib.sha256(source.read_bytes() + log4j.read_bytes()).hexdigest()[:16]
        classes = cache / "classes" / src_hash
        if not (classes / ".complete").is_file():
            tmp_classes = classes.with_name(classes.name + ".tmp")
            shutil.rmtree(tmp_classes, ignore_errors=True)
            tmp_classes.mkdir(parents=True)
            cp = os.pathsep.join(exploded_dirs + classpath_jars)
            proc = subprocess.run(
                [_javac(), "-nowarn", "-encoding", "UTF-8", "-d", str(tmp_classes), "-cp", cp, str(source)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
            )
            if proc.returncode != 0:
                raise HdfsSetupError(f"javac failed for {source}:\n{proc.stdout[-4000:]}")
            shutil.copy2(log4j, tmp_classes / "log4j2.properties")
            (tmp_classes / ".complete").write_text("ok\n")
            shutil.rmtree(classes, ignore_errors=True)
            tmp_classes.rename(classes)

    return MiniHdfsRuntime(
        hadoop_version=version,
        cache_dir=cache,
        classpath=[str(classes)] + exploded_dirs + classpath_jars,
        java=_java(),
        prepare_seconds=time.monotonic() - t0,
        downloaded=downloaded,
    )


# --------------------------------------------------------------------------- process helpers
def _is_our_jvm(pid: int, base_dir: Path) -> bool:
    """True if ``pid`` is a MiniHdfs JVM for ``base_dir`` (guards against a reused pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return False
    return MAIN_CLASS.encode() in args and str(base_dir).encode() in args


# --------------------------------------------------------------------------- the service
class LocalHdfs:
    """Single-node HDFS (MiniDFSCluster) with all ports on 127.0.0.1.

    :param base_dir: folder for the file system (``base_dir/cluster``), the ready file
        ``minihdfs.json`` and the log ``minihdfs.log``.  An existing file system there is
        kept (warm restart) unless ``fresh=True``.
    :param namenode_port: NameNode RPC port, 0 = pick a free one.
    :param http_port: NameNode HTTP/WebHDFS port, 0 = pick a free one.
    :param fresh: format the file system even if one exists.
    :param hadoop_conf: extra Hadoop settings for the cluster (``key: value``).
    :param java_opts: JVM options (heap etc.).
    :param start_timeout: seconds to wait for the cluster after the JVM started.
    :param hadoop_version: Hadoop/minicluster version; default: the one bundled in pyspark.
    """

    def __init__(
        self,
        base_dir,
        *,
        namenode_port: int = 0,
        http_port: int = 0,
        fresh: bool = False,
        hadoop_conf: Optional[Mapping[str, str]] = None,
        java_opts: Sequence[str] = ("-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"),
        start_timeout: float = 180.0,
        hadoop_version: Optional[str] = None,
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.requested_namenode_port = int(namenode_port)
        self.requested_http_port = int(http_port)
        self.fresh = fresh
        self.hadoop_conf: Dict[str, str] = dict(hadoop_conf or {})
        self.java_opts = list(java_opts)
        self.start_timeout = start_timeout
        self.hadoop_version = hadoop_version
        self.ready_path = self.base_dir / READY_FILE
        self.log_path = self.base_dir / LOG_FILE
        self.info: Optional[dict] = None
        self.runtime: Optional[MiniHdfsRuntime] = None
        self.start_seconds: Optional[float] = None
        self._proc: Optional[subprocess.Popen] = None
        self._pid: Optional[int] = None

    # ---------------------------------------------------------------- properties
    def _require(self) -> dict:
        if self.info is None:
            raise RuntimeError("LocalHdfs is not running; call start() first")
        return self.info

    @property
    def namenode_port(self) -> int:
        return int(self._require()["namenode_port"])

    @property
    def http_port(self) -> int:
        return int(self._require()["http_port"])

    @property
    def namenode_uri(self) -> str:
        """``hdfs://127.0.0.1:<rpc port>`` -- for Spark paths and ``fs.defaultFS``."""
        return f"hdfs://127.0.0.1:{self.namenode_port}"

    @property
    def webhdfs_url(self) -> str:
        """``http://127.0.0.1:<http port>`` -- for ``hdfs.InsecureClient`` (WebHDFS is at /webhdfs/v1)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> Optional[int]:
        return self._pid

    @property
    def running(self) -> bool:
        return self._pid is not None and pid_alive(self._pid)

    def uri(self, path: str) -> str:
        """Full ``hdfs://`` URI of an absolute HDFS path."""
        return self.namenode_uri + "/" + path.lstrip("/")

    def client(self, user: str = "churnlake"):
        """A WebHDFS client (``hdfs.InsecureClient``) acting as ``user``."""
        try:
            from hdfs import InsecureClient
        except ImportError as exc:  # pragma: no cover
            raise ImportError("the WebHDFS client needs the 'hdfs' package (pip install hdfs==2.7.3)") from exc
        return InsecureClient(self.webhdfs_url, user=user)

    def spark_conf(self) -> Dict[str, str]:
        """Spark settings for using this cluster (paths may also be given as full hdfs:// URIs)."""
        return {
            "spark.hadoop.fs.defaultFS": self.namenode_uri,
            "spark.hadoop.dfs.client.use.datanode.hostname": "true",
            "spark.hadoop.dfs.replication": "1",
        }

    # ---------------------------------------------------------------- lifecycle
    def start(self, *, detach: bool = False) -> "LocalHdfs":
        """Start the JVM and wait until NameNode, DataNode and WebHDFS answer. Idempotent.

        ``detach=True`` (used by the CLI) lets the cluster outlive this Python process.
        """
        if self.running and self.info is not None:
            return self
        t0 = time.monotonic()
        self.runtime = prepare_runtime(self.hadoop_version)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        with contextlib.suppress(FileNotFoundError):
            self.ready_path.unlink()
        tmp_dir = self.base_dir / "tmp"
        tmp_dir.mkdir(exist_ok=True)

        cmd = [
            self.runtime.java,
            *self.java_opts,
            "-Djava.net.preferIPv4Stack=true",
            f"-Djava.io.tmpdir={tmp_dir}",
            "-cp", os.pathsep.join(self.runtime.classpath),
            MAIN_CLASS,
            "--base-dir", str(self.base_dir),
            "--ready-file", str(self.ready_path),
            "--nn-port", str(self.requested_namenode_port),
            "--http-port", str(self.requested_http_port),
        ]
        if self.fresh:
            cmd += ["--format", "true"]
        for k, v in self.hadoop_conf.items():
            cmd += ["--conf", f"{k}={v}"]
        if not detach:
            cmd.append("--exit-on-stdin-eof")

        env = dict(os.environ)
        env.pop("HADOOP_CONF_DIR", None)  # no site files from the machine
        env.pop("CLASSPATH", None)
        logf = open(self.log_path, "ab")
        logf.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(cmd[-12:])}\n".encode())
        logf.flush()
        try:
            self._proc = subprocess.Popen(
                cmd,
                cwd=str(self.base_dir),
                env=env,
                stdin=subprocess.DEVNULL if detach else subprocess.PIPE,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            logf.close()
        self._pid = self._proc.pid
        if not detach:
            atexit.register(self._atexit_stop)
        try:
            self._wait_ready(t0)
        except BaseException:
            self._kill()
            raise
        if detach:
            self._proc = None  # do not reap/stop it when this object goes away
        self.start_seconds = time.monotonic() - t0
        log.info("HDFS up: %s, WebHDFS %s in %.1fs (%s)", self.namenode_uri, self.webhdfs_url, self.start_seconds, self.base_dir)
        return self

    def _wait_ready(self, t0: float) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.ready_path.is_file():
                try:
                    self.info = json.loads(self.ready_path.read_text())
                    break
                except (OSError, ValueError):
                    pass  # written atomically, but be safe
            if self._proc is not None and self._proc.poll() is not None:
                raise HdfsStartError(
                    f"MiniDFSCluster JVM exited with code {self._proc.returncode} before it was ready "
                    f"(log: {self.log_path}):\n{tail(self.log_path, 60)}"
                )
            if time.monotonic() > deadline:
                raise HdfsStartError(
                    f"MiniDFSCluster not ready after {self.start_timeout:.0f}s (log: {self.log_path}):\n"
                    f"{tail(self.log_path, 60)}"
                )
            time.sleep(0.2)
        # WebHDFS must answer too (this is what the Python client talks to).
        url = f"{self.webhdfs_url}/webhdfs/v1/?op=GETFILESTATUS&user.name=churnlake"
        last: Optional[Exception] = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    json.loads(resp.read())
                    return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = exc
                time.sleep(0.2)
        raise HdfsStartError(f"WebHDFS at {url} does not answer: {last}\n{tail(self.log_path, 60)}")

    def stop(self, timeout: float = 60.0) -> None:
        """Shut the cluster down (data stays in ``base_dir/data``). Idempotent."""
        atexit.unregister(self._atexit_stop)
        pid = self._pid
        if pid is None:
            return
        proc = self._proc
        try:
            if proc is not None:
                if proc.poll() is None:
                    try:  # ask politely: "stop" on stdin, then SIGTERM, then SIGKILL
                        proc.stdin.write(b"stop\n")  # type: ignore[union-attr]
                        proc.stdin.close()  # type: ignore[union-attr]
                    except (OSError, ValueError, AttributeError):
                        proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout)
                    except subprocess.TimeoutExpired:
                        log.warning("MiniDFSCluster pid %s did not stop in %ss; killing it", pid, timeout)
                        proc.kill()
                        proc.wait(10)
            elif pid_alive(pid) and _is_our_jvm(pid, self.base_dir):
                os.kill(pid, signal.SIGTERM)
                if not wait_pid_exit(pid, timeout):
                    os.kill(pid, signal.SIGKILL)
                    wait_pid_exit(pid, 10)
        finally:
            self._proc = None
            self._pid = None
            self.info = None
            with contextlib.suppress(FileNotFoundError):
                self.ready_path.unlink()

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            with contextlib.suppress(Exception):
                self._proc.wait(10)
        self._proc = None
        self._pid = None
        self.info = None
        atexit.unregister(self._atexit_stop)

    def _atexit_stop(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()

    def _stop_stale(self) -> None:
        """A cluster left running on this base dir (CLI start, crashed run) is stopped first."""
        other = self.attach(self.base_dir)
        if other is not None:
            log.warning("stopping a MiniDFSCluster (pid %s) left running on %s", other.pid, self.base_dir)
            other.stop()

    @classmethod
    def attach(cls, base_dir) -> Optional["LocalHdfs"]:
        """A handle on a cluster already running on ``base_dir`` (e.g. CLI ``start``), or None."""
        obj = cls(base_dir)
        try:
            info = json.loads(obj.ready_path.read_text())
        except (OSError, ValueError):
            return None
        pid = int(info.get("pid", 0))
        if pid and pid_alive(pid) and _is_our_jvm(pid, obj.base_dir):
            obj.info = info
            obj._pid = pid
            return obj
        return None

    def __enter__(self) -> "LocalHdfs":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"{self.namenode_uri}, {self.webhdfs_url}" if self.info else "stopped"
        return f"LocalHdfs({str(self.base_dir)!r}, {state})"


# --------------------------------------------------------------------------- CLI
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m churnlake.services.hdfs", description="Local single-node HDFS")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare", help="download the jars and compile the launcher (cached)")
    for name in ("start", "stop", "status"):
        p = sub.add_parser(name)
        p.add_argument("--base-dir", required=True)
        if name == "start":
            p.add_argument("--namenode-port", type=int, default=0)
            p.add_argument("--http-port", type=int, default=0)
            p.add_argument("--fresh", action="store_true", help="format the file system")
            p.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.cmd == "prepare":
        rt = prepare_runtime()
        print(json.dumps({"hadoop_version": rt.hadoop_version, "cache_dir": str(rt.cache_dir),
                          "downloaded": rt.downloaded, "seconds": round(rt.prepare_seconds, 1)}))
        return 0
    if args.cmd == "start":
        h = LocalHdfs(args.base_dir, namenode_port=args.namenode_port, http_port=args.http_port,
                      fresh=args.fresh, start_timeout=args.timeout)
        h.start(detach=True)
        print(json.dumps({**(h.info or {}), "namenode_uri": h.namenode_uri, "webhdfs_url": h.webhdfs_url,
                          "log": str(h.log_path), "seconds": round(h.start_seconds or 0, 1)}))
        return 0
    h = LocalHdfs.attach(args.base_dir)
    if args.cmd == "status":
        if h is None:
            print(json.dumps({"running": False, "base_dir": str(Path(args.base_dir).absolute())}))
            return 1
        print(json.dumps({"running": True, **(h.info or {}), "namenode_uri": h.namenode_uri,
                          "webhdfs_url": h.webhdfs_url}))
        return 0
    if h is None:
        print(f"no MiniDFSCluster running on {Path(args.base_dir).absolute()}")
        return 0
    pid = h.pid
    h.stop()
    print(f"stopped MiniDFSCluster pid {pid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
