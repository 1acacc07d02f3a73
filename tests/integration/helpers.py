"""Helpers for integration tests that run real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from churnlake.config import PROJECT_ROOT
from churnlake.services import process
from tests.conftest import lakehouse_env

VENV_BIN = Path(sys.executable).parent
FAST_START_JVM = "-XX:TieredStopAtLevel=1"




def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    return process.free_port()


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Wait until something listens on 127.0.0.1:port (or fail, naming the process state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def pipeline_env(base: Path) -> dict[str, str]:
    """Process environment whose lakehouse, state, logs and inbox live under ``base``."""
    env = {**os.environ, **lakehouse_env(base)}
    env["CHURNLAKE_VENV"] = str(VENV_BIN.parent)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    # Test jobs are short and tiny: the C1 JIT alone saves ~40 % of their CPU (docs/benchmarks.md).
    env.setdefault("CHURNLAKE_DRIVER_JAVA_OPTS", FAST_START_JVM)
    return env


def write_sample(inbox: Path, rows: int, name: str = "crm_export.csv", crlf: bool = False) -> Path:
    """Copy the header and the first ``rows`` rows of the bundled Telco CSV into ``inbox``."""
    inbox.mkdir(parents=True, exist_ok=True)
    lines = (PROJECT_ROOT / "data" / "telco_customer_churn.csv").read_text().splitlines()[: rows + 1]
    path = inbox / name
    path.write_bytes(("\r\n" if crlf else "\n").join(lines).encode() + (b"\r\n" if crlf else b"\n"))
    return path


def run(cmd: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command from the project root, capturing text output."""
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def write_empty_silver_sources(spark, cfg) -> None:
    """Empty versioned silver tables for billing, tickets and web events (right schemas, no rows).

    For tests about serving the gold tables, where only the CRM part of the features matters:
    the gold job needs every silver source to exist, and an empty one means "no events yet".
    """
    from pyspark.sql.types import StringType, StructField, TimestampType

    from churnlake import tables
    from churnlake.delta import overwrite_table
    from churnlake.schemas import struct
    from churnlake.transforms.silver import history_versions, type_invoices, type_payments, type_tickets, web_events

    lineage = [StructField("_ingested_at", TimestampType()), StructField("_batch_id", StringType())]

    def empty(name):
        schema = struct(cfg, "bronze", name)
        return spark.createDataFrame([], schema.__class__(list(schema.fields) + lineage))

    logs = spark.createDataFrame([], "client_ip string, customer_id string, event_time timestamp, method string, "
                                     "path string, status int, bytes long, user_agent string, "
                                     "_ingested_at timestamp, _batch_id string")
    built = {
        tables.SILVER_INVOICES: history_versions(type_invoices(empty("billing_invoices")), "invoice_id", "updated_at"),
        tables.SILVER_PAYMENTS: history_versions(type_payments(empty("billing_payments")), "payment_id", "updated_at"),
        tables.SILVER_TICKETS: history_versions(type_tickets(empty("support_tickets")), "ticket_id", "updated_at"),
        tables.SILVER_WEB_EVENTS: web_events(logs, "test-key"),
    }
    for table, df in built.items():
        overwrite_table(df, table, cfg, metadata='{"job": "test_empty_source"}')


def failed_line(res: subprocess.CompletedProcess) -> str:
    """The job's one-line ``FAILED …`` report: on stderr as an engine client, relayed on stdout
    by spark-submit in classic mode."""
    lines = [ln for ln in (res.stdout + "\n" + res.stderr).splitlines() if "FAILED" in ln]
    assert lines, f"no FAILED line in the output:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
    return lines[-1]
