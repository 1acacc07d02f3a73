"""Helpers for integration tests that run real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from churnlake.config import PROJECT_ROOT
from tests.conftest import lakehouse_env

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
