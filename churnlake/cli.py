"""The ``churnlake`` command line: set-up helpers and the demo driver.

    python -m churnlake.cli resolve-jars        # fetch the Delta jars into .cache/ivy
    python -m churnlake.cli demo --run-date D   # run the whole pipeline on the bundled data
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

from churnlake.config import load_config, project_root


def resolve_jars() -> int:
    """Start one local Spark session so Ivy resolves and caches the Delta package."""
    from churnlake.spark import local_spark

    cfg = load_config()
    spark = local_spark("churnlake-resolve-jars", cfg)
    try:
        version = spark.sql("SELECT 1").count()
    finally:
        spark.stop()
    print(f"Delta jars resolved into {os.environ.get('CHURNLAKE_IVY_DIR', cfg.root_dir / '.cache' / 'ivy')}"
          f" (check query returned {version} row)")
    return 0


def luigi_command(module: str, task: str, run_date: dt.date, local_scheduler: bool) -> list[str]:
    """The ``luigi`` command line that runs ``task`` for ``run_date``."""
    cmd = [str(Path(sys.executable).parent / "luigi"), "--module", module, task,
           "--run-date", run_date.isoformat()]
    if local_scheduler:
        cmd.append("--local-scheduler")
    return cmd


def scheduler_running(host: str = "127.0.0.1", port: int = 8082) -> bool:
    """True when a luigid answers on ``host:port``."""
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def demo(run_date: dt.date) -> int:
    """Put the bundled CRM export in the inbox and run the Luigi pipeline for ``run_date``."""
    cfg = load_config()
    cfg.crm_inbox.mkdir(parents=True, exist_ok=True)
    target = cfg.crm_inbox / cfg.crm_bundled_file.name
    if not target.exists():
        shutil.copyfile(cfg.crm_bundled_file, target)
    use_central = scheduler_running()
    print(f"churnlake demo: run date {run_date}, lakehouse {cfg.lakehouse_root}, "
          f"{'central scheduler 127.0.0.1:8082' if use_central else 'local scheduler'}", flush=True)
    cmd = luigi_command("luigi_tasks.pipeline", "Pipeline", run_date, local_scheduler=not use_central)
    rc = subprocess.call(cmd, cwd=project_root())
    if rc == 0:
        print(f"\nDone. Tables under {cfg.lakehouse_root}; logs in {cfg.logs_dir}; "
              f"MLflow at {cfg.mlflow_tracking_uri} "
              f"(browse: {Path(sys.executable).parent}/mlflow ui --backend-store-uri {cfg.mlflow_tracking_uri})")
    return rc


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m churnlake.cli``."""
    parser = argparse.ArgumentParser(prog="churnlake", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("resolve-jars", help="resolve and cache the Delta jars")
    p_demo = sub.add_parser("demo", help="run the whole pipeline on the bundled data")
    p_demo.add_argument("--run-date", type=dt.date.fromisoformat, default=dt.date.today())
    args = parser.parse_args(argv)
    if args.command == "resolve-jars":
        return resolve_jars()
    return demo(args.run_date)


if __name__ == "__main__":
    sys.exit(main())
