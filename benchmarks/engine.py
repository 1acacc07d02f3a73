"""The engine against the classic one-JVM-per-job path, side by side in one run (by hand).

    .venv/bin/python benchmarks/engine.py [--run-date 2026-11-27] [--modes engine,classic]
                                          [--repeat-dates 4] [--candidates sk_logreg,mllib_logreg]
                                          [--variant engine-c1=-XX:TieredStopAtLevel=1]
                                          [--variant-env engine-own=CHURNLAKE__ENGINE__LAUNCHER=off]

For each mode, on a fresh lakehouse of its own (state, logs, reports, inbox under a temporary
folder; the demo sources generated once and shared), the whole demo DAG for the same run
date (``python -m churnlake.cli demo``, which starts the engine when the mode is ``engine``,
on free ports so a running demo engine is not touched). Reported per mode: the command's
wall time, the DAG's span (Luigi's first event to the last task's end, without and with the
run summary), every task's duration (from ``task_runs.jsonl``), and for the engine its start
time and its peak RSS (``VmHWM``), and the job launcher's. Then the submit overhead of one
job (``spark-submit.sh`` spawned → the job's ``START`` log line) in both modes, and with
``--repeat-dates N`` the engine's RSS after the first run and after N more runs of later
dates (memory stays flat when jobs release what they cache). Prints a Markdown table; writes
``<work>/engine_benchmark.json``. Results go to docs/benchmarks.md with the date and commit
(never into tests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from churnlake.services.process import free_port  # noqa: E402 - after the project root is importable
PY = ROOT / ".venv" / "bin" / "python"


def env_for(base: Path, demo_dir: Path, ports: tuple[int, int], candidates: str | None) -> dict[str, str]:
    env = {**os.environ,
           "CHURNLAKE__LAKEHOUSE__ROOT": str(base / "lakehouse"), "CHURNLAKE__STATE_DIR": str(base / "state"),
           "CHURNLAKE__LOGS_DIR": str(base / "logs"), "CHURNLAKE__REPORTS_DIR": str(base / "reports"),
           "CHURNLAKE__SOURCES__CRM__INBOX": str(base / "inbox" / "crm"),
           "CHURNLAKE__DEMO__DIR": str(demo_dir),
           "CHURNLAKE__SOURCES__WEB_LOGS__INBOX": str(demo_dir / "access_logs"),
           "CHURNLAKE__ENGINE__CONNECT_PORT": str(ports[0]), "CHURNLAKE__ENGINE__THRIFT_PORT": str(ports[1])}
    if candidates:
        env["CHURNLAKE__TRAINING__CANDIDATES"] = f"[{candidates}]"
    return env


def engine_pids(env: dict[str, str]) -> tuple[int | None, int | None]:
    """The pids of the mode's engine and of its job launcher (None when not running)."""
    from churnlake.config import load_config
    from churnlake.services.engine import Engine

    engine = Engine(load_config(environ=env))
    return engine.pid(), engine.launcher_pid()


def rss_mib(pid: int | None) -> dict[str, float]:
    """Current and peak resident memory of a process (MiB)."""
    out = {}
    if pid is None:
        return out
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


def task_records(base: Path) -> list[dict]:
    """The mode's ``task_runs.jsonl`` records (the monitoring module's reader)."""
    from churnlake.monitoring.records import TASK_RUNS_FILE, read_records

    return read_records(base / "logs" / TASK_RUNS_FILE)


def task_durations(records: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for rec in records:
        if rec.get("event") == "SUCCESS" and not rec.get("is_wrapper"):
            params = rec.get("params") or {}
            extra = [str(v) for k, v in sorted(params.items()) if k != "run_date" and v not in ("", None)]
            name = rec["task_family"] + (f"[{','.join(extra)}]" if extra else "")
            out[name] = out.get(name, 0.0) + float(rec.get("duration_s") or 0.0)
    return out


def dag_span(records: list[dict], with_summary: bool = False) -> float | None:
    """Seconds from the DAG's first task record (Luigi scheduling it) to the end of its last
    task: the pipeline part of the demo, without the engine's start and (unless
    ``with_summary``) the run summary, a second Luigi invocation after the DAG."""
    from churnlake.monitoring.records import parse_time
    from churnlake.monitoring.summary import SUMMARY_TASK_FAMILY

    first, last = None, None
    for rec in records:
        if rec.get("task_family") == SUMMARY_TASK_FAMILY and not with_summary:
            continue
        at = parse_time(rec["at"]).timestamp()
        first = at if first is None else min(first, at)
        if rec.get("event") in ("SUCCESS", "FAILURE"):
            last = at if last is None else max(last, at)
    return None if first is None or last is None else round(last - first, 1)


def run_demo(env: dict[str, str], run_date: str, classic: bool, log: Path) -> float:
    cmd = [str(PY), "-m", "churnlake.cli", "demo", "--run-date", run_date] + (["--classic"] if classic else [])
    t0 = time.monotonic()
    with open(log, "ab") as out:
        rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    wall = time.monotonic() - t0
    if rc != 0:
        raise SystemExit(f"demo ({'classic' if classic else 'engine'}) for {run_date} failed (exit {rc}); see {log}")
    return wall


def submit_overhead(env: dict[str, str], run_date: str, base: Path) -> float:
    """Seconds from spawning ./spark-submit.sh to the job's START line in its log."""
    log = base / "logs" / "silver_customers.log"
    before = log.read_text().count("START run_date") if log.exists() else 0
    t0 = time.monotonic()
    proc = subprocess.Popen([str(ROOT / "spark-submit.sh"), "jobs/silver/customers.py", "--run-date", run_date],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = None
    while proc.poll() is None or seen is None:
        if log.exists() and log.read_text().count("START run_date") > before:
            seen = time.monotonic() - t0
            break
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.wait()
    if seen is None:
        raise SystemExit(f"no START line in {log}")
    return seen


def stop_engine(env: dict[str, str]) -> None:
    subprocess.call([str(ROOT / "engine.sh"), "stop"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-date", default="2026-11-27")
    parser.add_argument("--modes", default="engine,classic")
    parser.add_argument("--repeat-dates", type=int, default=0,
                        help="engine mode: N more demo runs of the following dates, RSS after each")
    parser.add_argument("--candidates", default=None, help="training candidates (default: the configured five)")
    parser.add_argument("--work", default=None, help="folder for the lakehouses (default: a new temp folder)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=JAVA_OPTIONS",
                        help="an engine mode NAME (list it in --modes) whose engine runs with these JVM "
                             "flags (engine.java_options), e.g. engine-c1=-XX:TieredStopAtLevel=1")
    parser.add_argument("--variant-env", action="append", default=[], metavar="NAME=KEY=VALUE",
                        help="an environment override of mode NAME (list it in --modes), e.g. "
                             "engine-own-processes=CHURNLAKE__ENGINE__LAUNCHER=off")
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant)
    variant_env: dict[str, dict[str, str]] = {}
    for item in args.variant_env:
        name, key, value = item.split("=", 2)
        variant_env.setdefault(name, {})[key] = value
    work = Path(args.work or tempfile.mkdtemp(prefix="churnlake-enginebench-"))
    demo_dir = work / "demo"
    results: dict = {"run_date": args.run_date, "work": str(work), "modes": {}}
    work.mkdir(parents=True, exist_ok=True)
    # The demo sources once, before any timing (both modes read the same files).
    prep_env = env_for(work / "prepare", demo_dir, (free_port(), free_port()), None)
    subprocess.run([str(PY), "-c", "import datetime as dt, sys; from churnlake.cli import prepare_demo_sources; "
                    "from churnlake.config import load_config; "
                    "prepare_demo_sources(load_config(), dt.date.fromisoformat(sys.argv[1]))", args.run_date],
                   cwd=ROOT, env=prep_env, check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    results["commit"] = commit
    for mode in args.modes.split(","):
        base = work / mode
        env = env_for(base, demo_dir, (free_port(), free_port()), args.candidates)
        if mode in variants:
            env["CHURNLAKE__ENGINE__JAVA_OPTIONS"] = variants[mode]
        env.update(variant_env.get(mode, {}))
        classic = mode == "classic"
        print(f"== {mode}: demo {args.run_date} on {base}", flush=True)
        try:
            wall = run_demo(env, args.run_date, classic, work / f"{mode}.log")
            records = task_records(base)
            entry = {"wall_s": round(wall, 1), "dag_s": dag_span(records),
                     "dag_with_summary_s": dag_span(records, with_summary=True),
                     "tasks": task_durations(records)}
            if not classic:
                info = json.loads((base / "state" / "engine" / "engine.json").read_text())
                entry["engine_start_s"] = info["start_seconds"]
                engine_pid, launcher_pid = engine_pids(env)
                entry["engine_rss_after_run_mib"] = rss_mib(engine_pid)
                entry["launcher_rss_after_run_mib"] = rss_mib(launcher_pid)
            entry["submit_overhead_s"] = round(submit_overhead(
                env | ({"CHURNLAKE__ENGINE__REMOTE": "classic"} if classic else {}), args.run_date, base), 2)
            if not classic and args.repeat_dates:
                day = dt.date.fromisoformat(args.run_date)
                entry["repeats"] = []
                for i in range(1, args.repeat_dates + 1):
                    date = (day + dt.timedelta(days=i)).isoformat()
                    print(f"== engine: repeat {i} for {date}", flush=True)
                    rwall = run_demo(env, date, False, work / f"{mode}-{date}.log")
                    entry["repeats"].append({"run_date": date, "wall_s": round(rwall, 1),
                                             "rss": rss_mib(engine_pids(env)[0])})
        finally:
            if not classic:
                stop_engine(env)
        results["modes"][mode] = entry
        (work / "engine_benchmark.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    modes = results["modes"]
    if len(modes) > 1:
        names = list(modes)
        print("\n| task | " + " | ".join(names) + " |\n| --- |" + " --- |" * len(names))
        print("| whole demo (wall) | " + " | ".join(f"{modes[n]['wall_s']:.0f} s" for n in names) + " |")
        print("| the DAG (Luigi's first event → last task end) | "
              + " | ".join(f"{modes[n].get('dag_s') or 0:.0f} s" for n in names) + " |")
        print("| sum of task durations | " + " | ".join(f"{sum(modes[n]['tasks'].values()):.0f} s" for n in names) + " |")
        for task in sorted(set().union(*(modes[n]["tasks"] for n in names))):
            print(f"| {task} | " + " | ".join(f"{modes[n]['tasks'].get(task, 0):.1f} s" for n in names) + " |")
    if "engine" in modes and "classic" in modes:
        e, c = modes["engine"], modes["classic"]
        print("\n| measure | engine | classic | classic/engine |\n| --- | --- | --- | --- |")
        print(f"| whole demo (wall) | {e['wall_s']:.0f} s | {c['wall_s']:.0f} s | {c['wall_s'] / e['wall_s']:.1f}× |")
        if e.get("dag_s") and c.get("dag_s"):
            print(f"| the DAG | {e['dag_s']:.0f} s | {c['dag_s']:.0f} s | {c['dag_s'] / e['dag_s']:.1f}× |")
        print(f"| submit overhead (spawn → START) | {e['submit_overhead_s']} s | {c['submit_overhead_s']} s | "
              f"{c['submit_overhead_s'] / e['submit_overhead_s']:.1f}× |")
        for name in sorted(set(e["tasks"]) | set(c["tasks"])):
            te, tc = e["tasks"].get(name), c["tasks"].get(name)
            ratio = f"{tc / te:.1f}×" if te and tc else "–"
            print(f"| {name} | {te or 0:.1f} s | {tc or 0:.1f} s | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
