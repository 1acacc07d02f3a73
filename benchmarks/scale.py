"""Scale benchmark: generate a preset, run the whole pipeline through the engine, then one hourly run.

    .venv/bin/python benchmarks/scale.py M                 # 100k customers (benchmarks/scale.sh M)
    .venv/bin/python benchmarks/scale.py L --driver-memory 8g
    .venv/bin/python benchmarks/scale.py S --classic       # every job in its own driver JVM

Everything lives under ``--root`` (default ``build/scale``): ``<P>/sources`` (the generated
source systems, reused while the preset's parameters match) and ``<P>/run`` (a fresh
lakehouse, state, logs and reports each time; its own engine on free ports, stopped at the
end). The pipeline is ``python -m churnlake.cli demo`` (the whole DAG: ingest of all four
sources -> validation -> silver -> gold -> training -> scoring) pointed at that instance with
``CHURNLAKE__*`` overrides. Then one hour of new access logs (the first hour after the as-of
day) arrives and the hourly run goes as users run it, ``python -m churnlake.cli hourly``:
every source's hourly batch, then validation and the silver build of the sources that brought
something (the others start no job).

A run too long for one sitting (L) can be stopped with Ctrl-C and continued with
``--resume``: the instance is kept, ``cli demo`` runs again (Luigi skips every task already
complete; an interrupted job starts over, idempotently), and the report adds up the attempts'
wall times and every job record since the first attempt started.

Report (stdout and ``<P>/run/scale-report.json``): per stage wall time, rows, rows/s; the
engine's peak RSS (VmHWM) and the largest job process's peak RSS (sampled every 0.5 s, the job
launcher's forks included); bytes on disk per layer; the hourly run's cost as a share of the
full pipeline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from churnlake.config import load_config  # noqa: E402
from churnlake.demo import scale as scale_gen  # noqa: E402
from churnlake.services.engine import Engine  # noqa: E402
from churnlake.services.process import free_port  # noqa: E402

STAGES = (("ingest", ("bronze_",)), ("validation", ("validate_",)), ("silver", ("silver_",)),
          ("gold", ("gold_",)), ("features", ("features_",)), ("training", ("ml_train",)),
          ("scoring", ("ml_score",)), ("eda/monitoring", ("eda_", "monitoring_")))
def stage_of(job: str) -> str:
    """The report stage of a job name."""
    for stage, prefixes in STAGES:
        if any(job.startswith(p) for p in prefixes):
            return stage
    return "other"


class RssSampler(threading.Thread):
    """Peak RSS of the engine and of the largest job process: the processes in the tree of
    ``root_pid`` (the pipeline command, its Luigi workers, classic jobs) and, through the engine,
    the job launcher's forks, which run outside that tree (a fork's RSS counts the pages it
    shares with the launcher's preloaded packages)."""

    def __init__(self, engine_pid: int | None, launcher_pid: int | None = None) -> None:
        super().__init__(daemon=True)
        self.engine_pid = engine_pid
        self.launcher_pid = launcher_pid
        self.client_peak = 0
        self.root_pid: int | None = None
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.5):
            procs = []
            for pid in (self.root_pid, self.launcher_pid):
                try:
                    procs += psutil.Process(pid).children(recursive=True) if pid else []
                except psutil.Error:
                    pass
            for p in procs:
                try:
                    if p.pid != self.engine_pid:
                        self.client_peak = max(self.client_peak, p.memory_info().rss)
                except psutil.Error:
                    pass

    def engine_peak(self) -> int | None:
        """VmHWM of the engine process (its peak resident set since it started)."""
        if not self.engine_pid:
            return None
        try:
            for line in Path(f"/proc/{self.engine_pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None


def du(path: Path) -> int:
    """Bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def generate(preset: str, sources: Path, as_of: dt.date, seed: int) -> dict:
    """The preset's source systems, generated unless ``sources`` already holds them."""
    customers, days = scale_gen.PRESETS[preset]
    manifest = sources / "manifest.json"
    if manifest.is_file():
        params = json.loads(manifest.read_text())["parameters"]
        if (params["customers"], params["days"], params["seed"], params["as_of"]) == (customers, days, seed, as_of.isoformat()):
            print(f"reusing the {preset} sources in {sources}", flush=True)
            return json.loads(manifest.read_text())
    shutil.rmtree(sources, ignore_errors=True)
    t0 = time.perf_counter()
    out = scale_gen.generate_scale(ROOT / "data" / "telco_customer_churn.csv", sources, seed=seed, as_of=as_of,
                                   customers=customers, days=days, preset=preset)
    out["generate_wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def instance_env(run: Path, sources: Path, *, classic: bool, driver_memory: str) -> dict[str, str]:
    """CHURNLAKE__* overrides that point the whole project at one benchmark instance."""
    env = {
        "CHURNLAKE__LAKEHOUSE__ROOT": str(run / "lakehouse"), "CHURNLAKE__STATE_DIR": str(run / "state"),
        "CHURNLAKE__LOGS_DIR": str(run / "logs"), "CHURNLAKE__REPORTS_DIR": str(run / "reports"),
        "CHURNLAKE__DEMO__DIR": str(sources), "CHURNLAKE__SOURCES__CRM__INBOX": str(run / "inbox" / "crm"),
        "CHURNLAKE__SOURCES__CRM__BUNDLED_FILE": str(sources / "customers.csv"),
        "CHURNLAKE__SOURCES__WEB_LOGS__INBOX": str(run / "inbox" / "access_logs"),
        "CHURNLAKE__ENGINE__CONNECT_PORT": str(free_port()), "CHURNLAKE__ENGINE__THRIFT_PORT": str(free_port()),
        "CHURNLAKE__ENGINE__DRIVER_MEMORY": driver_memory, "SPARK_DRIVER_MEMORY": driver_memory,
    }
    if classic:
        env["CHURNLAKE__ENGINE__REMOTE"] = "classic"
    return env


def job_records(logs: Path, since: float) -> list[dict]:
    """job_runs.jsonl records that started after ``since`` (epoch seconds)."""
    path = logs / "job_runs.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        started = dt.datetime.fromisoformat(rec["started_at"].replace("Z", "+00:00")).timestamp()
        if started >= since:
            out.append(rec)
    return out


def stage_table(records: list[dict]) -> dict[str, dict]:
    """Per stage: summed job wall time, rows in/out, rows/s, jobs (and failures)."""
    stages: dict[str, dict] = {}
    for rec in records:
        s = stages.setdefault(stage_of(rec["job"]), {"jobs": 0, "failed": 0, "seconds": 0.0, "rows_in": 0, "rows_out": 0})
        s["jobs"] += 1
        s["failed"] += rec["status"] != "ok"
        s["seconds"] += rec["duration_s"] or 0.0
        s["rows_in"] += rec["rows_in"] or 0
        s["rows_out"] += rec["rows_out"] or 0
    for s in stages.values():
        s["seconds"] = round(s["seconds"], 1)
        s["rows_per_s"] = round(s["rows_in"] / s["seconds"]) if s["seconds"] else None
    return stages


def add_hour_of_logs(sources: Path, inbox: Path, as_of: dt.date, seed: int, tmp: Path, hour: int) -> tuple[Path, int]:
    """Hour ``hour`` of the day after the as-of day, from the same population: copied into the log inbox."""
    params = json.loads((sources / "manifest.json").read_text())["parameters"]
    table = scale_gen.load_telco_csv(ROOT / "data" / "telco_customer_churn.csv")
    nxt = as_of + dt.timedelta(days=1)
    pop = scale_gen.build_population(table, params["customers"], seed, as_of)
    if not (tmp / "access_logs" / f"access-{nxt.isoformat()}-23.log").is_file():
        scale_gen.write_access_logs(tmp, pop, nxt, 1, seed, 0)
    name = f"access-{nxt.isoformat()}-{hour:02d}.log"
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp / "access_logs" / name, inbox / name)
    return inbox / name, sum(1 for _ in open(inbox / name, "rb"))


def run_hourly(env: dict[str, str], run_date: dt.date, hour: int, sampler: RssSampler, logs: Path) -> tuple[float, list[tuple[str, float, int]]]:
    """The hourly path as users run it: ``python -m churnlake.cli hourly`` (Luigi's
    ``HourlyPipeline`` on the engine; steps whose source brought nothing start no job).
    Returns its wall time and, per job it started, name, seconds and status (0 ok)."""
    t0, w0 = time.time(), time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "churnlake.cli", "hourly", "--run-date", run_date.isoformat(),
                             "--run-hour", str(hour)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    sampler.root_pid = proc.pid
    out, _ = proc.communicate()
    wall = time.perf_counter() - w0
    print(out, flush=True)
    if proc.returncode:
        raise SystemExit(f"the hourly run failed (exit {proc.returncode})")
    times = [(" ".join([r["job"], r["args"].get("table", "")]).strip(), round(r["duration_s"], 1),
              0 if r["status"] == "ok" else 1) for r in job_records(logs, t0)]
    return wall, times


def main(argv: list[str] | None = None) -> int:
    """Generate, run, report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset", choices=sorted(scale_gen.PRESETS))
    p.add_argument("--root", type=Path, default=ROOT / "build" / "scale")
    p.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 11, 27))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--driver-memory", default="8g", help="engine (or classic driver) heap, at most 8g at L")
    p.add_argument("--classic", action="store_true", help="every job in its own driver JVM")
    p.add_argument("--skip-hourly", action="store_true")
    p.add_argument("--hourly-only", action="store_true",
                   help="only the hourly run, on the instance a previous full run left (its report is updated)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted full run on the instance it left (the report adds up the attempts)")
    p.add_argument("--hour", type=int, nargs="+", default=[0],
                   help="which hours of the day after the as-of day arrive, one hourly run each on the same "
                        "engine, in this order (default 0)")
    args = p.parse_args(argv)

    base = args.root / args.preset
    sources, run = base / "sources", base / ("run-classic" if args.classic else "run")
    manifest = generate(args.preset, sources, args.as_of, args.seed)
    if args.hourly_only or args.resume:
        report = json.loads((run / "scale-report.json").read_text())
    else:
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        # The log inbox holds the generated files (the hourly step adds one more hour to it): hard
        # links, since ingestion only reads the inbox (at L a copy would cost 12 GB of disk).
        shutil.copytree(sources / "access_logs", run / "inbox" / "access_logs", copy_function=os.link)
    env = {**os.environ, **instance_env(run, sources, classic=args.classic, driver_memory=args.driver_memory)}
    os.environ.update(env)
    if not (args.hourly_only or args.resume):
        report = {"preset": args.preset, "as_of": args.as_of.isoformat(), "mode": "classic" if args.classic else "engine",
                  "commit": head_commit(), "generated": manifest["artefacts"],
                  "generate_seconds": manifest.get("seconds")}
    engine_pid = launcher_pid = None
    if not args.classic:
        # An engine an interrupted run left behind serves other ports: stop it first.
        subprocess.run([str(ROOT / "engine.sh"), "stop"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        subprocess.run([str(ROOT / "engine.sh"), "start"], cwd=ROOT, env=env, check=True)
        engine = Engine(load_config())  # the instance's config: os.environ holds its overrides
        engine_pid, launcher_pid = engine.pid(), engine.launcher_pid()
    sampler = RssSampler(engine_pid, launcher_pid)
    sampler.start()
    try:
        if not args.hourly_only:
            run_full(report, args, env, run, sources, sampler)
            if report["pipeline"]["exit"] == INTERRUPTED:
                raise KeyboardInterrupt
        if report["pipeline"]["exit"] == 0 and not args.skip_hourly:
            for hour in args.hour:
                report.setdefault("hourly_runs", []).append(hourly(report, args, env, run, sources, base, sampler,
                                                                   hour))
    finally:
        sampler.stop_event.set()
        rss = {"engine": sampler.engine_peak(), "largest_client": sampler.client_peak}
        report.setdefault("peak_rss_bytes", {}).update({f"hourly_{k}" if args.hourly_only else k: v for k, v in rss.items()})
        if not args.classic:
            subprocess.run([str(ROOT / "engine.sh"), "stop"], cwd=ROOT, env=env)
        (run / "scale-report.json").write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    return 0 if report["pipeline"]["exit"] == 0 else 1


INTERRUPTED = -2


def head_commit() -> str:
    """The checkout's short commit id (what the report says a run measured)."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()


def run_full(report: dict, args: argparse.Namespace, env: dict, run: Path, sources: Path, sampler: RssSampler) -> None:
    """The whole DAG for the as-of date (``python -m churnlake.cli demo``), one attempt of it:
    ``report["attempts"]`` lists them (Ctrl-C ends one; ``--resume`` starts the next), and the
    pipeline's wall time and stage table cover all of them."""
    t0 = time.time()
    w0 = time.perf_counter()
    attempts = report.setdefault("attempts", [])
    attempts.append({"started_epoch": round(t0, 3), "commit": head_commit(), "wall_s": None, "exit": None})
    (run / "scale-report.json").write_text(json.dumps(report, indent=2) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "churnlake.cli", "demo", "--run-date", args.as_of.isoformat(),
                             *(["--classic"] if args.classic else [])], cwd=ROOT, env=env)
    sampler.root_pid = proc.pid
    try:
        rc = proc.wait()
    except KeyboardInterrupt:  # the terminal's Ctrl-C reached the pipeline too; let it stop
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        rc = INTERRUPTED
    attempts[-1].update(wall_s=round(time.perf_counter() - w0, 1), exit=rc)
    since = min(a["started_epoch"] for a in attempts)
    report["pipeline"] = {"exit": rc, "wall_s": round(sum(a["wall_s"] for a in attempts), 1),
                          "attempts": len(attempts), "stages": stage_table(job_records(run / "logs", since))}
    report["bytes"] = {layer: du(run / "lakehouse" / layer) for layer in ("bronze", "silver", "gold")}
    report["bytes"]["sources"] = du(sources)


def hourly(report: dict, args: argparse.Namespace, env: dict, run: Path, sources: Path, base: Path,
           sampler: RssSampler, hour: int) -> dict:
    """One hour of new logs, then the hourly path; its cost against the full pipeline's."""
    path, lines = add_hour_of_logs(sources, run / "inbox" / "access_logs", args.as_of, args.seed, base / "hour",
                                   hour)
    from churnlake.cli import serve_demo_ticket_api
    from churnlake.config import load_config
    from churnlake.demo.ticket_api import shutdown
    server, token, url = serve_demo_ticket_api(load_config())
    hour_env = {**env, "CHURNLAKE__SOURCES__TICKETS__BASE_URL": url, load_config().tickets_token_env: token}
    try:
        t1 = time.time()
        wall, times = run_hourly(hour_env, args.as_of + dt.timedelta(days=1), hour, sampler, run / "logs")
    finally:
        shutdown(server)
    full = sum(s["seconds"] for s in report["pipeline"]["stages"].values())
    records = job_records(run / "logs", t1)
    modes = {" ".join([r["job"], r["args"].get("table", "")]).strip(): (r["details"] or {}).get("mode")
             for r in records if r["job"].startswith("silver_")}
    return {"silver_modes": modes, "hour": hour, "new_log_lines": lines, "wall_s": round(wall, 1), "jobs": times,
            "stages": stage_table(records),
            "share_of_full_pipeline": round(wall / report["pipeline"]["wall_s"], 3),
            "share_of_full_job_time": round(wall / full, 3) if full else None}


def print_report(report: dict) -> None:
    """The report as Markdown tables."""
    gb = 1 << 30
    print(f"\n## Scale {report['preset']} ({report['mode']}, commit {report['commit']}, as of {report['as_of']})")
    g = report["generated"]
    print(f"customers {g['customers']['rows']:,}; invoices {g['billing_db']['tables']['invoices']:,}; payments "
          f"{g['billing_db']['tables']['payments']:,}; tickets {g['tickets']['records']:,}; log lines "
          f"{g['access_logs']['lines']:,}; generated in {sum((report['generate_seconds'] or {}).values()):.0f} s")
    pipe = report["pipeline"]
    parts = f" over {pipe['attempts']} attempts" if pipe.get("attempts", 1) > 1 else ""
    print(f"\npipeline exit {pipe['exit']}, wall {pipe['wall_s']:.0f} s{parts}\n")
    print("| stage | jobs | seconds | rows in | rows out | rows/s |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, s in pipe["stages"].items():
        print(f"| {name} | {s['jobs']}{' (' + str(s['failed']) + ' failed)' if s['failed'] else ''} | {s['seconds']:.0f} "
              f"| {s['rows_in']:,} | {s['rows_out']:,} | {s['rows_per_s'] or 0:,} |")
    b = report["bytes"]
    print("\nbytes on disk: " + ", ".join(f"{k} {v / gb:.2f} GB" for k, v in b.items()))
    rss = report["peak_rss_bytes"]
    print("peak RSS: " + ", ".join(f"{k} {v / gb:.2f} GB" for k, v in rss.items() if v))
    for h in report.get("hourly_runs", []):
        print(f"\nhourly run, hour {h.get('hour', 0)} ({h['new_log_lines']:,} new log lines): {h['wall_s']:.0f} s = "
              f"{100 * h['share_of_full_pipeline']:.1f} % of the full pipeline's wall time")
        for job, secs, _ in h["jobs"]:
            print(f"- {job}: {secs:.1f} s")
        print("silver modes: " + ", ".join(f"{k} {v}" for k, v in h.get("silver_modes", {}).items()))


if __name__ == "__main__":
    sys.exit(main())
