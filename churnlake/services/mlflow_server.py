"""The MLflow UI / tracking server on 127.0.0.1, over the project's own MLflow store.

    python -m churnlake.services.mlflow_server start [--port 5000]   # or: make mlflow-start
    python -m churnlake.services.mlflow_server status | stop

It serves the backend store of :mod:`churnlake.ml.tracking` (``mlflow.tracking_uri`` of
``conf/pipeline.yaml``; by default ``sqlite:///<state_dir>/mlflow.db``) with new
experiments' artifacts under ``<state_dir>/mlartifacts``; the jobs keep writing to the
store directly, the server only shows it. Log: ``<logs_dir>/mlflow-server.log``; pid file
``<state_dir>/mlflow-server.pid``. ``mlflow server`` runs uvicorn as a child process and
forwards SIGTERM to it; the server is started through :func:`serve` so that its command
line names this module (the pid file is trusted only then), with one worker and without
MLflow's background job runner (GenAI jobs: not used here, and two extra processes).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from churnlake.config import Config, load_config
from churnlake.services.process import Daemon

log = logging.getLogger(__name__)
DEFAULT_PORT = 5000
MARKER = "churnlake.services.mlflow_server"


def paths(cfg: Config) -> dict[str, Path]:
    """Where the server keeps its pid file and log."""
    return {"pid": cfg.state_dir / "mlflow-server.pid", "log": cfg.logs_dir / "mlflow-server.log"}


def url(port: int = DEFAULT_PORT) -> str:
    """The UI's base URL."""
    return f"http://127.0.0.1:{port}"


def is_remote(cfg: Config) -> bool:
    """True when the configured tracking URI is a server (its UI is there), not a store."""
    return cfg.mlflow_tracking_uri.startswith(("http://", "https://", "databricks"))


def server(cfg: Config, port: int = DEFAULT_PORT) -> Daemon:
    """The MLflow server daemon handle for this checkout's state dir."""
    p = paths(cfg)
    return Daemon("MLflow server", p["pid"], p["log"], "127.0.0.1", port, MARKER)


def command(cfg: Config, port: int) -> list[str]:
    """The command line that serves ``cfg``'s MLflow store on 127.0.0.1:``port``."""
    if is_remote(cfg):
        raise ValueError(f"mlflow.tracking_uri {cfg.mlflow_tracking_uri!r} is already a tracking server; "
                         "open that URL instead of starting one")
    return [sys.executable, "-m", MARKER, "serve", "--backend-store-uri", cfg.mlflow_tracking_uri,
            "--default-artifact-root", cfg.mlflow_artifact_uri, "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1"]


def serve(argv: list[str]) -> None:
    """Run ``mlflow server`` in this process (foreground); ``argv`` as for ``mlflow server``."""
    from mlflow.cli import cli

    cli.main(["server", *argv], prog_name="mlflow")


def start(cfg: Config, port: int = DEFAULT_PORT, timeout: float = 120.0) -> float:
    """Start the MLflow server in the background on 127.0.0.1:``port``; return the seconds it took."""
    cmd = command(cfg, port)
    if cfg.mlflow_tracking_uri.startswith("sqlite:///"):
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return server(cfg, port).start(cmd, env, cfg.root_dir, timeout)


def stop(cfg: Config, port: int = DEFAULT_PORT, timeout: float = 30.0) -> bool:
    """Stop the server (SIGTERM, forwarded to uvicorn) and any process it left; False if none ran."""
    daemon = server(cfg, port)
    pid = daemon.pid()
    stopped = daemon.stop(timeout)
    if pid is not None:
        _end_group(pid)
    return stopped


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, from ``/proc``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def _end_group(pgid: int, timeout: float = 10.0) -> None:
    """The server leads its own process group (``start_new_session``): end what is left of it
    (uvicorn, should the launcher have died before forwarding SIGTERM)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = _group_members(pgid)
        if not left:
            return
        log.warning("MLflow server processes %s outlived the launcher; sending %s", left, sig.name)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_members(pgid):
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    """``start`` / ``stop`` / ``status`` (and the internal ``serve``)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description="The MLflow UI server for churnlake")
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("CHURNLAKE_MLFLOW_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    cfg = load_config()
    if args.command == "start":
        seconds = start(cfg, args.port)
        print(f"MLflow UI on {url(args.port)} after {seconds:.1f}s "
              f"(store {cfg.mlflow_tracking_uri}, log {paths(cfg)['log']})")
    elif args.command == "stop":
        print("MLflow server stopped" if stop(cfg, args.port) else "MLflow server was not running")
    else:
        pid = server(cfg, args.port).pid()
        print(f"MLflow server running (pid {pid}) on {url(args.port)}" if pid else "MLflow server not running")
        return 0 if pid else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
