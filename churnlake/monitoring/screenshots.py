"""Screenshots of the pipeline's UIs and reports for one run date, into docs/screenshots/.

    python -m churnlake.monitoring.screenshots --run-date 2026-11-27    # or: make screenshots RUN_DATE=…
    python -m churnlake.monitoring.screenshots --run-date 2026-11-27 --skip-demo --out-dir /tmp/shots

1. Starts luigid on 127.0.0.1:8082 unless something listens there already (the demo uses the
   central scheduler only on that port).
2. Runs the demo for the run date (``python -m churnlake.cli demo``) against it, unless
   ``--skip-demo``. For a date already done nothing runs, and luigid then sees the Pipeline
   task alone (a worker does not schedule what lies below a complete task): use a date that is
   not done yet to get the whole graph.
3. Starts the MLflow UI (:mod:`churnlake.services.mlflow_server`, 127.0.0.1:5000 or
   ``$CHURNLAKE_MLFLOW_PORT``) unless one answers there or ``mlflow.tracking_uri`` is a server.
4. Renders each page in headless Chromium (:mod:`churnlake.monitoring.browser`), checks that
   the DOM shows what the page is about (not an error or an empty app), and saves the PNG:

   ``luigi-dag.png``          the visualiser's SVG view of ``Pipeline(run_date=D)``: the whole graph
   ``luigi-history.png``      luigid's task history (``/history``)
   ``mlflow-candidates.png``  MLflow's comparison of the newest training run's candidate runs
   ``mlflow-model.png``       the registered model's page (versions, the champion alias)
   ``data-quality.png``       ``<reports_dir>/quality/<D>/report.html``
   ``run-dashboard.png``      ``<reports_dir>/runs/<D>/dashboard.html``
   ``model-report.png``       ``<reports_dir>/models/<D>/report.html``
   ``eda.png``                ``<reports_dir>/eda/<D>/index.html``
   ``landing.png``            the raw landing zone and the first records of each source (terminal view)
   ``jdbc-query.png``         beeline through the engine: a query and ``VERSION AS OF`` (terminal view)

   A page whose source does not exist is skipped with the reason, and its old PNG, if any, is
   left as it was: luigid does not know the Pipeline task's graph (it keeps finished tasks a
   day, conf/luigi.cfg; see also 2.), no such report, no such experiment or model.
5. Stops the servers it started, and only those.

Exit code: the demo's when it failed, 1 when a page could not be captured, 0 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from churnlake.config import Config, load_config
from churnlake.monitoring import browser, images
from churnlake.services.process import port_open
from churnlake.services import luigid, mlflow_server

log = logging.getLogger(__name__)

LUIGID_PORT = 8082  # the port churnlake.cli.demo looks at
APP_SIZE = (1600, 1000)
REPORT_SIZE = (1400, 1000)


@dataclass(frozen=True)
class Page:
    """One screenshot: where it comes from and what its rendered DOM must contain."""

    name: str
    url: str
    expect: tuple[str, ...] = ()
    size: tuple[int, int] = APP_SIZE
    wait_ms: int = 5000
    #: Keep only this part (left, top, right, bottom as fractions), e.g. without a side panel.
    crop: tuple[float, float, float, float] | None = None
    #: Make the window as tall as the page's drawing (its ``<svg height=…>``) and trim the margins.
    fit_svg: bool = False


@dataclass(frozen=True)
class Skipped:
    """A page left out, and why."""

    name: str
    reason: str


def luigi_api(base_url: str, method: str, data: dict, timeout: float = 10.0):
    """Call luigid's JSON API (``/api/<method>?data=…``) and return its ``response``."""
    query = urllib.parse.urlencode({"data": json.dumps(data)})
    with urllib.request.urlopen(f"{base_url}/api/{method}?{query}", timeout=timeout) as resp:
        return json.loads(resp.read())["response"]


def luigi_dag_page(base_url: str, task) -> Page | Skipped:
    """The visualiser's graph (SVG view: one dot per task, coloured by status) of ``task``, a
    ``luigi.Task``, when luigid knows the task and what it requires."""
    from luigi.task import flatten

    graph = luigi_api(base_url, "dep_graph", {"task_id": task.task_id, "include_done": True})
    if not graph:
        return Skipped("luigi-dag", f"luigid at {base_url} does not know {task} (task id {task.task_id}); "
                                    "run without --skip-demo (luigid forgets finished tasks a day "
                                    "after their run)")
    if len(graph) == 1 and flatten(task.requires()):
        # A worker does not look at the requirements of a task that is complete already.
        return Skipped("luigi-dag", f"luigid only knows {task} itself, no dependencies: it was complete "
                                    "before the demo ran, so Luigi scheduled nothing below it; run for a "
                                    "date that is not done yet to capture the whole graph")
    statuses = sorted({node["status"] for node in graph.values()})
    if statuses != ["DONE"]:
        log.warning("the graph of %s is not all DONE: %s", task, statuses)
    # The visualiser's SVG view draws the whole graph at its natural size (the D3 view draws it
    # in a fixed 600-pixel frame, where most of a 21-task graph falls outside): the window is
    # made as tall as the drawing, and the margins are trimmed.
    fragment = urllib.parse.urlencode({"tab": "graph", "visType": "svg", "taskId": task.task_id})
    families = sorted({node["name"] for node in graph.values()})
    # 860 pixels wide: the drawing (710) fits, and nothing else is around it.
    return Page("luigi-dag", f"{base_url}/static/visualiser/index.html#{fragment}",
                expect=(str(task), *(f">{family}<" for family in families)), size=(860, 1000), fit_svg=True)


def luigi_pages(base_url: str, run_date: dt.date) -> list[Page | Skipped]:
    """The graph of ``Pipeline(run_date)`` and luigid's task-history page."""
    from luigi_tasks.pipeline import Pipeline

    return [luigi_dag_page(base_url, Pipeline(run_date=run_date)),
            Page("luigi-history", f"{base_url}/history", expect=("Luigi Task History",))]


#: The MLflow UI opens its assistant chat panel on the right quarter of every page on first load
#: (a fresh browser profile each capture): the captures keep the page without it.
MLFLOW_CROP = (0.0, 0.0, 0.742, 1.0)


def mlflow_pages(ui_url: str, experiment: str, registered_model: str) -> list[Page | Skipped]:
    """The newest training run's candidates side by side (MLflow's compare page: parameters and
    every metric per candidate), and the registered model's page with its versions and aliases."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=ui_url, registry_uri=ui_url)
    try:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            return [Skipped("mlflow-candidates", f"the MLflow server at {ui_url} has no experiment {experiment!r}")]
        runs = client.search_runs([exp.experiment_id], max_results=200, order_by=["attributes.start_time DESC"])
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        children = [r for r in runs if parents and r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
        models = {m.name: m for m in client.search_registered_models()}
    except (MlflowException, OSError) as exc:
        raise RuntimeError(f"{ui_url} does not answer as an MLflow tracking server: {exc}") from exc
    pages: list[Page | Skipped] = []
    if children:
        ids = json.dumps([r.info.run_id for r in children], separators=(",", ":"))
        query = urllib.parse.urlencode({"runs": ids, "experiments": json.dumps([exp.experiment_id])})
        metric = sorted(children[0].data.metrics)[0]
        pages.append(Page("mlflow-candidates", f"{ui_url}/#/compare-runs?{query}",
                          expect=(f"Comparing {len(children)} Runs", *(r.info.run_name for r in children), metric),
                          size=(2000, 2000), wait_ms=15000, crop=MLFLOW_CROP))
    else:
        pages.append(Skipped("mlflow-candidates", f"no training run with nested candidate runs in {experiment!r}"))
    model = models.get(registered_model)
    if model is None:
        pages.append(Skipped("mlflow-model", f"no registered model {registered_model!r} at {ui_url}"))
    else:
        expect = (registered_model, "Aliases", *sorted(model.aliases))
        pages.append(Page("mlflow-model", f"{ui_url}/#/models/{urllib.parse.quote(registered_model)}",
                          expect=expect, size=(1800, 1000), wait_ms=15000, crop=MLFLOW_CROP))
    return pages


def report_pages(cfg: Config, run_date: dt.date) -> list[Page | Skipped]:
    """The data-quality report and the run dashboard of ``run_date``, when they exist."""
    day = run_date.isoformat()
    pages: list[Page | Skipped] = []
    for name, path, expect in (
        ("data-quality", cfg.reports_dir / "quality" / day / "report.html", ("Data-quality report", day)),
        ("run-dashboard", cfg.reports_dir / "runs" / day / "dashboard.html", (day,)),
        ("model-report", cfg.reports_dir / "models" / day / "report.html", ("champion", day)),
        ("eda", cfg.reports_dir / "eda" / day / "index.html", ("churn", day)),
    ):
        if path.is_file():
            pages.append(Page(name, path.resolve().as_uri(), expect=expect, size=REPORT_SIZE, wait_ms=2000))
        else:
            pages.append(Skipped(name, f"{path} does not exist (not produced for {day} yet)"))
    return pages


def capture(page: Page, out_dir: Path) -> Path:
    """Render ``page``, check its DOM shows the expected text, then save ``<out_dir>/<name>.png``."""
    dom = browser.render_dom(page.url, wait_ms=page.wait_ms)
    missing = [text for text in page.expect if text not in dom]
    if missing:
        raise browser.BrowserError(f"{page.url} rendered without {missing}: not the expected page "
                                   f"(first 300 characters: {dom[:300]!r})")
    width, height = page.size
    if page.fit_svg:
        drawn = re.search(r'<svg[^>]* height="(\d+)"', dom)
        if drawn is None:
            raise browser.BrowserError(f"{page.url} has no <svg height=…> drawing")
        height = int(drawn.group(1)) + 400  # the visualiser's header and controls above it
    path = browser.screenshot(page.url, out_dir / f"{page.name}.png", width, height, wait_ms=page.wait_ms)
    if page.crop:
        images.crop_fraction(path, page.crop)
    if page.fit_svg or page.crop:
        images.trim(path)
    return path


def landing_commands(cfg: Config) -> tuple[str, str]:
    """The shell commands that show the raw landing zone: files per landed partition, and the
    first records of the newest file of each source as received (any ingest date: a source with
    nothing new on the run date landed nothing that day)."""
    landing = shlex.quote(cfg.lakehouse_root.removeprefix("file://") + "/bronze/_landing")
    listing = (f"cd {landing} && find . -type f | sed 's|^\\./||; s|/[^/]*$||' | sort | uniq -c "
               "| awk '{print $1 \" files  \" $2}'")
    newest = "$(find source={src} -type f -name '{pattern}' | sort | tail -1)"
    raw = (f"cd {landing} && for f in {newest.format(src='crm', pattern='*.csv')} "
           f"{newest.format(src='web', pattern='*.log')} {newest.format(src='support', pattern='*.jsonl')} "
           f"{newest.format(src='billing/type=invoices', pattern='*.jsonl')}; "
           "do echo \"== $f\"; head -n 3 \"$f\" | cut -c1-240; done")
    return listing, raw


def terminal_captures(cfg: Config, run_date: dt.date, out_dir: Path) -> list[Path]:
    """The raw landing zone with a few raw records, and a JDBC query through the engine."""
    from churnlake.walkthrough import terminal

    listing, raw = landing_commands(cfg)
    shots = [
        ("landing", "Raw landing zone: what each source delivered, kept as received",
         f"{listing} && {raw}", ("source=crm", "customerID", "== source=web")),
        ("jdbc-query", "gold over JDBC: beeline through the engine's Thrift endpoint",
         "./engine.sh sql -f sql/queries/churn_rate_by_contract.sql"
         " && ./engine.sh sql -f sql/queries/features_version_as_of.sql",
         ("contract", "churn_rate", "as_of_date")),
    ]
    if not cfg.lakehouse_root.startswith("file:"):
        shots = shots[1:]  # the landing listing reads the local folder
    paths = []
    for name, title, command, expect in shots:
        terminal.capture(cfg, out_dir / f"{name}.png", title, command, expect=expect)
        out_dir.joinpath(f"{name}.html").unlink(missing_ok=True)
        paths.append(out_dir / f"{name}.png")
    return paths


def run_demo(cfg: Config, run_date: dt.date, console_log: Path | None = None) -> int:
    """``python -m churnlake.cli demo --run-date D`` from the project root; its exit code. Its
    console output is shown as it comes and, with ``console_log``, also kept in that file."""
    cmd = [sys.executable, "-m", "churnlake.cli", "demo", "--run-date", run_date.isoformat()]
    log.info("running the demo: %s", " ".join(cmd))
    if console_log is None:
        return subprocess.call(cmd, cwd=cfg.root_dir)
    console_log.parent.mkdir(parents=True, exist_ok=True)
    with console_log.open("w", encoding="utf-8") as kept, subprocess.Popen(
            cmd, cwd=cfg.root_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            kept.write(line)
    return proc.returncode


def take_screenshots(cfg: Config, run_date: dt.date, out_dir: Path, skip_demo: bool = False,
                     mlflow_port: int = mlflow_server.DEFAULT_PORT, console_log: Path | None = None) -> int:
    """Start what is missing, run the demo, capture every page; return the exit code."""
    browser.find_chromium()  # before anything is started
    stops: list[tuple[str, Callable[[], object]]] = []
    try:
        if port_open("127.0.0.1", LUIGID_PORT):
            log.info("luigid already listens on 127.0.0.1:%s; using it", LUIGID_PORT)
        else:
            seconds = luigid.start(cfg, LUIGID_PORT)
            stops.append(("luigid", luigid.server(cfg, LUIGID_PORT).stop))
            log.info("started luigid on 127.0.0.1:%s in %.1fs", LUIGID_PORT, seconds)
        if not skip_demo:
            rc = run_demo(cfg, run_date, console_log)
            if rc != 0:
                log.error("the demo failed (exit code %s); no screenshots taken", rc)
                return rc
        if mlflow_server.is_remote(cfg):
            ui_url = cfg.mlflow_tracking_uri.rstrip("/")
        else:
            ui_url = mlflow_server.url(mlflow_port)
            if port_open("127.0.0.1", mlflow_port):
                log.info("something already listens on 127.0.0.1:%s; using it as the MLflow UI", mlflow_port)
            else:
                seconds = mlflow_server.start(cfg, mlflow_port)
                stops.append(("MLflow server", lambda: mlflow_server.stop(cfg, mlflow_port)))
                log.info("started the MLflow UI on %s in %.1fs", ui_url, seconds)

        luigi_url = f"http://127.0.0.1:{LUIGID_PORT}"
        plan = [*luigi_pages(luigi_url, run_date),
                *mlflow_pages(ui_url, cfg.mlflow_experiment, cfg.registered_model),
                *report_pages(cfg, run_date)]
        failed = []
        for item in plan:
            if isinstance(item, Skipped):
                log.warning("skipped %s.png: %s", item.name, item.reason)
                continue
            try:
                path = capture(item, out_dir)
            except browser.BrowserError as exc:
                log.error("could not capture %s.png: %s", item.name, exc)
                failed.append(item.name)
                continue
            log.info("wrote %s (%d bytes) from %s", path, path.stat().st_size, item.url)
        try:
            for path in terminal_captures(cfg, run_date, out_dir):
                log.info("wrote %s (%d bytes)", path, path.stat().st_size)
        except Exception as exc:  # noqa: BLE001 - CaptureError or BrowserError: named, and the run fails
            log.error("could not capture a terminal view: %s", exc)
            failed.append("terminal")
        if failed:
            log.error("failed: %s", ", ".join(failed))
        return 1 if failed else 0
    finally:
        for name, stop in reversed(stops):
            log.info("stopping the %s this command started", name)
            stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m churnlake.monitoring.screenshots``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-date", type=dt.date.fromisoformat, default=dt.date.today())
    parser.add_argument("--skip-demo", action="store_true",
                        help="capture what is there now, without running the demo")
    parser.add_argument("--out-dir", type=Path, default=None, help="default: <project>/docs/screenshots")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config()
    out_dir = args.out_dir or cfg.root_dir / "docs" / "screenshots"
    port = int(os.environ.get("CHURNLAKE_MLFLOW_PORT", mlflow_server.DEFAULT_PORT))
    try:
        return take_screenshots(cfg, args.run_date, out_dir, args.skip_demo, port)
    except (browser.BrowserNotInstalledError, ValueError, RuntimeError, OSError) as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
