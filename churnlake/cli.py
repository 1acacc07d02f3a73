"""The ``churnlake`` command line: set-up helpers, the demo driver and the scheduler.

    python -m churnlake.cli resolve-jars        # fetch the Delta jars into ~/.cache/churnlake/ivy
    python -m churnlake.cli demo --run-date D   # demo sources + the whole pipeline on the bundled data
    python -m churnlake.cli hourly --run-date D --run-hour H   # one hour of every source, to silver
    python -m churnlake.cli schedule            # run the hourly/daily ranges now and every hour
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from churnlake.config import load_config, project_root


def resolve_jars() -> int:
    """Start one local Spark session so Ivy resolves and caches the Delta package."""
    from churnlake.config import ivy_dir
    from churnlake.spark import local_spark

    cfg = load_config()
    spark = local_spark("churnlake-resolve-jars", cfg)
    try:
        version = spark.sql("SELECT 1").count()
    finally:
        spark.stop()
    print(f"Delta jars resolved into {ivy_dir()}"
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
    from churnlake.services.process import port_open

    return port_open(host, port, timeout=0.5)


def prepare_demo_sources(cfg, run_date: dt.date) -> None:
    """Generate the demo source systems once (deterministic), and advance billing to ``run_date``."""
    import json

    from churnlake.demo.generate import append_billing, generate_all

    manifest = cfg.demo_dir / "manifest.json"
    if not manifest.is_file():
        print(f"generating demo sources into {cfg.demo_dir} (seed {cfg.demo_seed}, as of {run_date})", flush=True)
        generate_all(cfg.crm_bundled_file, cfg.demo_dir, cfg.demo_seed, run_date, days=cfg.demo_days,
                     broken_lines=cfg.demo_broken_lines)
    else:
        # The billing database is as of the generation date or its latest append.
        recorded = json.loads(manifest.read_text())
        as_of = max(dt.date.fromisoformat(d) for d in [recorded["parameters"]["as_of"],
                                                          *(a["as_of"] for a in recorded.get("billing_appends", []))])
        if run_date > as_of:
            print(f"advancing the demo billing database from {as_of} to {run_date}", flush=True)
            append_billing(cfg.crm_bundled_file, cfg.demo_dir, cfg.demo_seed, run_date)
    cfg.crm_inbox.mkdir(parents=True, exist_ok=True)
    target = cfg.crm_inbox / cfg.crm_bundled_file.name
    if not target.exists():
        shutil.copyfile(cfg.crm_bundled_file, target)


def run_luigi(cmd: list[str], env: dict, log_path: Path, *, progress: bool) -> int:
    """Run a ``luigi`` command with its own output appended to ``log_path``; with ``progress``
    the console gets one line per task event (churnlake.monitoring.console) instead."""
    from churnlake.monitoring.console import Progress
    from churnlake.monitoring.records import TASK_RUNS_FILE

    cfg = load_config()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    watcher = Progress(cfg.logs_dir / TASK_RUNS_FILE, sys.stdout).start() if progress else None
    t0 = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(f"==== {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC {' '.join(cmd)}\n".encode())
        log.flush()
        rc = subprocess.call(cmd, cwd=project_root(), env=env, stdout=log, stderr=subprocess.STDOUT)
    if watcher is not None:
        for line in watcher.stop().lines(time.monotonic() - t0):
            print(line, flush=True)
    return rc


def start_engine(cfg):
    """The engine of ``cfg``, started (detached: it outlives this command) unless it runs or the
    config sends jobs elsewhere. Returns the Engine, or None when jobs run classic or remote."""
    from churnlake.services.engine import Engine, EngineSettings

    remote = EngineSettings.from_config(cfg).remote.strip().lower()
    if remote != "auto":
        return None
    engine = Engine(cfg, detach=True)
    if engine.running():
        print(f"engine running (pid {engine.pid()}) at {engine.remote_url}", flush=True)
        return engine
    print(f"starting the engine (Spark Connect {engine.remote_url}, JDBC {engine.jdbc_url()}; "
          f"log {engine.log_path}) ...", flush=True)
    engine.ensure_running()
    print(f"engine listening after {engine.start_seconds:.1f}s (pid {engine.pid()})", flush=True)
    return engine


def mode_env(running_engine, engine: bool) -> dict[str, str]:
    """The environment that holds a whole Luigi run to one mode: ``classic`` when asked for, the
    URL of the engine the run started on when it started on one (so that a job after the engine
    died fails naming it, instead of ``auto`` quietly starting classic drivers for the rest of
    the DAG), nothing when the config already names where jobs go."""
    if not engine:
        return {"CHURNLAKE__ENGINE__REMOTE": "classic"}
    if running_engine is not None:
        return {"CHURNLAKE__ENGINE__REMOTE": running_engine.remote_url}
    return {}


def serve_demo_ticket_api(cfg, port: int = 0):
    """The demo's ticket REST API in a thread on 127.0.0.1:``port`` (0: a free one) over the
    generated tickets, with light fault injection (the ingestion log shows retries that still
    succeed); returns ``(server, token, base_url)``. The token is ``$<tickets.token_env>`` or new."""
    import secrets

    from churnlake.demo.ticket_api import serve_in_thread

    token = os.environ.get(cfg.tickets_token_env) or secrets.token_urlsafe(24)
    server, base_url = serve_in_thread(cfg.demo_dir / "tickets.jsonl", token, port=port, error_rate=0.05,
                                       rate_limit_every=9, retry_after=1, fault_seed=cfg.demo_seed)
    return server, token, base_url


def serve_demo_api_if_down(cfg, env: dict, run_date: dt.date):
    """When nothing answers at the configured ticket API on this machine, serve the bundled demo
    data's own there (as ``make demo`` does) and put its token into ``env``. Returns the server
    (None when the configured API answers or is elsewhere)."""
    from urllib.parse import urlparse

    from churnlake.services.process import port_open

    api = urlparse(cfg.tickets_base_url)
    if api.hostname not in ("127.0.0.1", "localhost") or not api.port or port_open(api.hostname, api.port):
        return None
    prepare_demo_sources(cfg, run_date)
    server, token, base_url = serve_demo_ticket_api(cfg, api.port)
    env[cfg.tickets_token_env] = token
    print(f"no ticket API answered at {cfg.tickets_base_url}: serving the demo's at {base_url} "
          f"(set sources.tickets.base_url to your own)", flush=True)
    return server


def hourly(run_date: dt.date, run_hour: int, *, engine: bool = True) -> int:
    """Run one hour (``HourlyPipeline``) through the engine: every source's batch of that hour,
    its validation and silver build; steps whose source brought nothing start no job."""
    from churnlake.demo.ticket_api import shutdown
    from churnlake.ingestion.batch import Interval
    from churnlake.monitoring.records import locked

    cfg = load_config()
    label = Interval(run_date, run_hour).label
    running_engine = start_engine(cfg) if engine else None
    env = {**os.environ, **mode_env(running_engine, engine)}
    server = serve_demo_api_if_down(cfg, env, run_date)
    use_central = scheduler_running()
    luigi_log = cfg.logs_dir / f"luigi-{label}.log"
    print(f"churnlake hourly: {label}, lakehouse {cfg.lakehouse_root}, "
          f"{'jobs on the engine' if running_engine else 'each job in its own driver (classic)'}; "
          f"Luigi's log: {luigi_log}", flush=True)
    cmd = luigi_command("luigi_tasks.pipeline", "HourlyPipeline", run_date, local_scheduler=not use_central)
    try:
        with locked(cfg.state_dir / "locks" / f"hourly-{label}.lock"):
            rc = run_luigi([*cmd, "--run-hour", str(run_hour)], env, luigi_log, progress=True)
    finally:
        if server is not None:
            shutdown(server)
    print(f"\nHour {label} {'done: silver is up to date with it' if rc == 0 else f'failed (luigi exit {rc})'}; "
          f"details in {luigi_log}", flush=True)
    return rc


def demo(run_date: dt.date, *, engine: bool = True) -> int:
    """Prepare the demo sources, start the engine, serve the ticket API, and run the Luigi
    pipeline for ``run_date`` through the engine; the engine keeps running afterwards."""
    from churnlake.demo.ticket_api import shutdown

    cfg = load_config()
    prepare_demo_sources(cfg, run_date)
    running_engine = start_engine(cfg) if engine else None
    server, token, base_url = serve_demo_ticket_api(cfg)
    env = {**os.environ, cfg.tickets_token_env: token, "CHURNLAKE__SOURCES__TICKETS__BASE_URL": base_url,
           **mode_env(running_engine, engine)}
    use_central = scheduler_running()
    luigi_log = cfg.logs_dir / f"luigi-{run_date.isoformat()}.log"
    print(f"churnlake demo: run date {run_date}, lakehouse {cfg.lakehouse_root}, ticket API {base_url}, "
          f"{'central scheduler 127.0.0.1:8082' if use_central else 'local scheduler'}, "
          f"{'jobs on the engine' if running_engine else 'each job in its own driver (classic)'}; "
          f"Luigi's log: {luigi_log}", flush=True)
    from churnlake.monitoring.records import locked

    def waiting() -> None:
        print(f"another demo for {run_date} is running on this machine: waiting for it to finish "
              "(then this one finds its tasks done)", flush=True)

    try:
        cmd = luigi_command("luigi_tasks.pipeline", "Pipeline", run_date, local_scheduler=not use_central)
        # One demo per run date at a time (Luigi's own process lock would make the second one
        # exit "already running"; the tasks' own locks keep any other overlap from running twice).
        with locked(cfg.state_dir / "locks" / f"demo-{run_date.isoformat()}.lock", on_wait=waiting):
            rc = run_luigi(cmd, env, luigi_log, progress=True)
    finally:
        shutdown(server)
    if rc == 0:
        print(f"\nDone. Tables under {cfg.lakehouse_root}; logs in {cfg.logs_dir} "
              f"(ingestion: {cfg.logs_dir / 'ingestion.log'}); MLflow at {cfg.mlflow_tracking_uri} "
              f"(browse: make mlflow-start, then http://127.0.0.1:5000); model report in "
              f"{cfg.reports_dir / 'models' / run_date.isoformat()}")
    else:
        print(f"\nThe pipeline failed (luigi exit {rc}); details in {luigi_log} and {cfg.logs_dir / 'alerts.log'}")
    # The run summary and dashboard, whatever the pipeline's exit code (docs/monitoring.md).
    summary_rc = run_luigi(luigi_command("luigi_tasks.monitoring", "RunSummary", run_date,
                                         local_scheduler=not use_central), env, luigi_log, progress=False)
    print(f"Run dashboard: {cfg.reports_dir / 'runs' / run_date.isoformat() / 'dashboard.html'}"
          + ("" if summary_rc == 0 else f" (run summary failed, exit {summary_rc})"), flush=True)
    if running_engine is not None:
        print(f"The engine keeps running (pid {running_engine.pid()}). Query gold over JDBC "
              f"({running_engine.jdbc_url('gold')}): ./engine.sh sql -e 'SELECT COUNT(*) FROM customer_features'"
              f"   Stop it: make engine-stop", flush=True)
    return rc or summary_rc


def schedule(hours_back: int, days_back: int, once: bool) -> int:
    """Run the hourly range (each hour to silver) and the daily pipeline range now, then at 5 past every hour.

    Missed intervals inside the windows are backfilled, oldest first. Returns the last exit code.
    """
    import time

    root = project_root()
    cfg = load_config()
    start_engine(cfg)
    env = dict(os.environ)
    serve_demo_api_if_down(cfg, env, dt.date.today())
    luigi_bin = str(Path(sys.executable).parent / "luigi")
    local = [] if scheduler_running() else ["--local-scheduler"]
    while True:
        rc = 0
        for cmd in (
            [luigi_bin, "--module", "luigi_tasks.schedule", "RangeHourly", "--of", "HourlyRun",
             "--hours-back", str(hours_back), "--hours-forward", "0", *local],
            [luigi_bin, "--module", "luigi_tasks.schedule", "RangeDaily", "--of", "DailyPipeline",
             "--days-back", str(days_back), "--days-forward", "0", *local],
        ):
            print(f"[{dt.datetime.now().isoformat(timespec='seconds')}] {' '.join(cmd[2:5])}", flush=True)
            rc = subprocess.call(cmd, cwd=root, env=env) or rc
        # A run summary (Delta + dashboard) per day of the window, also after failures.
        for back in range(days_back + 1):
            day = (dt.date.today() - dt.timedelta(days=back)).isoformat()
            rc = subprocess.call([luigi_bin, "--module", "luigi_tasks.monitoring", "RunSummary",
                                  "--run-date", day, *local], cwd=root, env=env) or rc
        if once:
            return rc
        now = dt.datetime.now()
        next_run = (now + dt.timedelta(hours=1)).replace(minute=5, second=0, microsecond=0)
        time.sleep(max(1.0, (next_run - now).total_seconds()))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m churnlake.cli``."""
    parser = argparse.ArgumentParser(prog="churnlake", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("resolve-jars", help="resolve and cache the Delta jars")
    p_demo = sub.add_parser("demo", help="run the whole pipeline on the bundled data")
    p_demo.add_argument("--run-date", type=dt.date.fromisoformat, default=dt.date.today())
    p_demo.add_argument("--classic", action="store_true",
                        help="run every job in its own driver JVM instead of on the engine")
    p_hour = sub.add_parser("hourly", help="one hour's batches of every source, validated, into silver")
    p_hour.add_argument("--run-date", type=dt.date.fromisoformat, required=True)
    p_hour.add_argument("--run-hour", type=int, required=True, choices=range(24), metavar="0..23")
    p_hour.add_argument("--classic", action="store_true",
                        help="run every job in its own driver JVM instead of on the engine")
    p_sched = sub.add_parser("schedule", help="hourly runs to silver + daily pipeline, with backfill")
    p_sched.add_argument("--hours-back", type=int, default=24, help="hourly window to keep complete")
    p_sched.add_argument("--days-back", type=int, default=3, help="daily window to keep complete")
    p_sched.add_argument("--once", action="store_true", help="run the ranges once and exit")
    args = parser.parse_args(argv)
    if args.command == "resolve-jars":
        return resolve_jars()
    if args.command == "schedule":
        return schedule(args.hours_back, args.days_back, args.once)
    if args.command == "hourly":
        return hourly(args.run_date, args.run_hour, engine=not args.classic)
    return demo(args.run_date, engine=not args.classic)


if __name__ == "__main__":
    sys.exit(main())
