"""No process the project starts listens on a non-loopback address.

Everything that serves is started here or by the session's fixtures, side by side: the test
session's own Spark driver, the engine (Spark Connect + JDBC), PostgreSQL, the HDFS
minicluster, luigid, the MLflow UI, the Derby network server, the demo ticket API, and a
classic ./spark-submit.sh job (its own driver JVM) while it runs. Every listening socket of
those processes (and their children) must be on 127.0.0.1 / ::1.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import time

import psutil
import pytest

from churnlake.config import PROJECT_ROOT, load_config
from tests.integration.helpers import free_port, pipeline_env, write_sample

pytestmark = pytest.mark.integration


def listeners(pids: set[int]) -> list[tuple[str, str, int]]:
    """``(process, address, port)`` of every listening TCP socket of ``pids`` and their children."""
    procs = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                procs[proc.pid] = proc
        except psutil.NoSuchProcess:
            continue
    found = []
    for proc in procs.values():
        try:
            name = " ".join(proc.cmdline()[:3])[:120]
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found.append((f"pid {proc.pid} {name}", conn.laddr.ip, conn.laddr.port))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def project_pids(*extra: int) -> set[int]:
    """This process, the given ones, and every process whose command line names the project or
    one of the tests' service folders (PostgreSQL runs as another user, not as our child)."""
    pids = {os.getpid(), *extra}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if str(PROJECT_ROOT) in line or "churnlake-pg-" in line or "churnlake" in line.lower():
            pids.add(proc.info["pid"])
    return pids


def is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)  # ::ffff:127.0.0.1 (a JVM's IPv6 socket)
    return (mapped or addr).is_loopback


def off_loopback(found) -> list[str]:
    return [f"{who} listens on {ip}:{port}" for who, ip, port in found if not is_loopback(ip)]


def test_every_server_and_job_of_the_project_listens_on_loopback_only(tmp_path, spark, engine, postgres_server,
                                                                       hdfs_cluster):
    from churnlake.demo.ticket_api import serve_in_thread, shutdown
    from churnlake.serving.derby import DerbyServer
    from churnlake.services import luigid, mlflow_server

    env = pipeline_env(tmp_path)
    cfg = load_config(environ=env)
    spark.range(3).count()  # the session's own driver is up
    stops = []
    try:
        port = free_port()
        luigid.start(cfg, port)
        stops.append(luigid.server(cfg, port).stop)
        ml_port = free_port()
        mlflow_server.start(cfg, ml_port)
        stops.append(lambda: mlflow_server.stop(cfg, ml_port))
        derby = DerbyServer(cfg, free_port()).start()
        stops.append(derby.stop)
        (tmp_path / "tickets.jsonl").write_text("")
        api, _ = serve_in_thread(tmp_path / "tickets.jsonl", "token")
        stops.append(lambda: shutdown(api))

        # A classic job: its own driver JVM, listening while it runs.
        write_sample(tmp_path / "inbox" / "crm", 20)
        job = subprocess.Popen([str(PROJECT_ROOT / "spark-submit.sh"), "jobs/bronze/ingest_crm.py",
                                "--run-date", "2026-11-27"], cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**env, "CHURNLAKE__ENGINE__REMOTE": "classic"})
        seen, job_listened = [], False
        while job.poll() is None:
            now = listeners(project_pids(job.pid, engine.pid()))
            job_listened |= any(f"pid {job.pid} " in who or "SparkSubmit" in who for who, _, _ in now)
            seen += now
            time.sleep(0.5)
        assert job.returncode == 0
        seen += listeners(project_pids(engine.pid()))
    finally:
        for stop in reversed(stops):
            stop()
    ports = {port for _, _, port in seen}
    assert engine.connect_port in ports and engine.thrift_port in ports and ml_port in ports and port in ports
    assert job_listened, "the classic job's driver was never seen listening: the scan missed it"
    assert off_loopback(seen) == []


def test_the_check_sees_a_socket_on_every_interface(tmp_path):
    import socket

    sock = socket.socket()
    sock.bind(("0.0.0.0", 0))
    sock.listen(1)
    try:
        assert off_loopback(listeners({os.getpid()})) == [
            f"pid {os.getpid()} {' '.join(psutil.Process().cmdline()[:3])[:120]} listens on 0.0.0.0:{sock.getsockname()[1]}"]
    finally:
        sock.close()
