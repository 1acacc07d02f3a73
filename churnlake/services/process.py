"""The one process helper of every long-running server churnlake starts (the engine, the
Derby network server, luigid, the MLflow UI, PostgreSQL, HDFS): pid liveness, free ports,
port waits, log tails, and :class:`Daemon` — start one background server (pid file, log
file, TCP port), watch it and stop it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence


class ServerStartError(RuntimeError):
    """The server exited or did not listen in time; the message carries the log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller retries if it is taken in between)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    """True for a live (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_pid_exit(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is gone (or a zombie); False on timeout."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def tail(path: Path, lines: int = 40, offset: int = 0, max_bytes: int = 256 * 1024) -> str:
    """The last ``lines`` lines of ``path`` written after byte ``offset`` (reading at most the
    last ``max_bytes`` of the file)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(offset, fh.tell() - max_bytes))
            text = fh.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Daemon:
    """A server process identified by a pid file and a marker in its command line.

    ``marker`` must appear in ``/proc/<pid>/cmdline`` for the pid file to be trusted, so a
    stale pid file whose pid was reused by another program is never acted on.
    """

    name: str
    pid_path: Path
    log_path: Path
    host: str
    port: int
    marker: str
    proc: Optional[subprocess.Popen] = field(default=None, repr=False)
    #: When given, what "ready" means instead of the TCP port accepting (a server on a Unix
    #: socket; ``port`` 0 then).
    ready: Optional[Callable[[], bool]] = field(default=None, repr=False)
    where: str = ""

    def __post_init__(self) -> None:
        self.where = self.where or f"{self.host}:{self.port}"

    def _ready(self) -> bool:
        return self.ready() if self.ready is not None else port_open(self.host, self.port)

    def pid(self) -> Optional[int]:
        """The pid of the running server, or None (no pid file, dead, or not ours)."""
        try:
            pid = int(self.pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        if pid_alive(pid) and self.marker in _cmdline(pid):
            return pid
        return None

    def start(self, cmd: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float) -> float:
        """Start ``cmd`` detached (own session), wait until the port accepts; return seconds."""
        if self.pid() is not None:
            raise ServerStartError(f"{self.name} already runs (pid {self.pid()}, {self.pid_path})")
        if self._ready():
            raise ServerStartError(f"{self.where} is already in use by another process; "
                                   f"choose another port for the {self.name}")
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            offset = log.tell()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
            log.write(f"==== {stamp} UTC starting {self.name} on {self.where}\n".encode())
            log.write(("==== " + " ".join(cmd) + "\n").encode())
            log.flush()
            self.proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=dict(env), cwd=str(cwd),
                                         start_new_session=True)
        self.pid_path.write_text(f"{self.proc.pid}\n")
        deadline = t0 + timeout
        while True:
            if self.proc.poll() is not None:
                self.pid_path.unlink(missing_ok=True)
                raise ServerStartError(
                    f"{self.name} exited with code {self.proc.returncode} before listening on "
                    f"{self.where}; log {self.log_path}:\n{tail(self.log_path, offset=offset)}")
            if self._ready():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"{self.name} did not listen on {self.where} within {timeout:.0f}s "
                    f"(stopped it); log {self.log_path}:\n{tail(self.log_path, offset=offset)}")
            time.sleep(0.25)
        elapsed = time.monotonic() - t0
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"==== {self.name} listening on {self.where} after {elapsed:.1f}s "
                      f"(pid {self.proc.pid})\n")
        return elapsed

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM the server, wait for it to exit (SIGKILL after ``timeout``); False if none ran."""
        pid = self.proc.pid if self.proc is not None and self.proc.poll() is None else self.pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not self.wait_exit(pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.wait_exit(pid, 10.0)
        self.pid_path.unlink(missing_ok=True)
        return True

    def wait_exit(self, pid: int, timeout: float) -> bool:
        """Wait until ``pid`` is gone (reaping it when it is our child); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.pid == pid:
                if self.proc.poll() is not None:
                    return True
            elif not pid_alive(pid):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
