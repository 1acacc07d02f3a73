"""The narrated walkthrough video, generated from a real run on this machine.

    python -m churnlake.walkthrough.video --run-date 2026-12-02          # or: make video RUN_DATE=…
    python -m churnlake.walkthrough.video --run-date 2026-12-02 --skip-demo

1. :func:`churnlake.monitoring.screenshots.take_screenshots` runs the demo for the run date
   against luigid (so the visualiser holds the whole graph) and captures the UIs and reports
   into ``build/walkthrough/shots`` (``--skip-demo``: the run is already there).
2. The commands a user would type are run for real and shown as terminal slides (the landing
   zone, quarantine, JDBC with ``VERSION AS OF``, the online store, dataset versions, a failure
   drill with its retry and alert in a throw-away lakehouse).
3. The narration is written from the run's own records (ingestion log, validation runs, MLflow,
   the JDBC results): every number spoken comes from this run.
4. :func:`churnlake.walkthrough.assemble.assemble` speaks and encodes it:
   ``dist/walkthrough.mp4`` (H.264 + AAC, 1280x720), ``dist/walkthrough.srt``,
   ``dist/walkthrough.chapters.txt`` and ``dist/walkthrough.json`` (duration, size, chapters,
   the commit it was made from).

Exit code 0, or 1 naming what could not be captured (nothing is faked to fill a gap).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from churnlake.config import Config, load_config
from churnlake.monitoring import browser, images
from churnlake.walkthrough import slides, terminal
from churnlake.walkthrough.assemble import HEIGHT, WIDTH, Chapter, VideoToolError, assemble, require_tools

log = logging.getLogger(__name__)

NAME = "walkthrough"


# --------------------------------------------------------------------------- facts of the run

def ingestion_batches(logs_dir: Path, run_date: dt.date) -> list[dict]:
    """The run date's ``logs/ingestion.log`` lines, the newest per source entity."""
    day = run_date.isoformat()
    latest: dict[tuple[str, str], dict] = {}
    path = logs_dir / "ingestion.log"
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if str(rec.get("interval", "")).startswith(day):
            latest[(rec.get("source", "?"), rec.get("entity", "?"))] = rec
    return list(latest.values())


def validation_runs(reports_dir: Path, run_date: dt.date) -> list[dict]:
    """``reports/quality/<day>/runs.csv``: one row per validated table."""
    path = reports_dir / "quality" / run_date.isoformat() / "runs.csv"
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def ascii_table_rows(output: str) -> list[list[str]]:
    """The rows of a beeline ``+---+`` table (header included), as cell lists."""
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in output.splitlines() if line.startswith("|")]


def churn_by_contract(jdbc_output: str) -> tuple[int, int, list[list[str]]]:
    """(customers, churned, rows) from the churn-rate-by-contract query's beeline output."""
    rows = ascii_table_rows(jdbc_output)
    start = next(i for i, r in enumerate(rows) if r[:2] == ["contract", "customers"])
    body = []
    for row in rows[start + 1:]:
        if len(row) < 4 or not row[1].isdigit():
            break
        body.append(row)
    return sum(int(r[1]) for r in body), sum(int(r[2]) for r in body), body


def champion(cfg: Config) -> dict:
    """The registered model's champion: version, candidate, and its run's metrics."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=cfg.mlflow_tracking_uri, registry_uri=cfg.mlflow_tracking_uri)
    version = client.get_model_version_by_alias(cfg.registered_model, "champion")
    run = client.get_run(version.run_id)
    return {"version": version.version, "candidate": version.tags.get("churnlake.candidate", run.info.run_name),
            "metrics": run.data.metrics, "gate": version.tags.get("churnlake.gate.reason", "")}


def candidate_scores(cfg: Config, run_date: dt.date) -> list[dict]:
    """The newest training run's candidates with their CV and test ROC-AUC."""
    from mlflow.tracking import MlflowClient

    from churnlake.ml.tracking import RUN_DATE_TAG

    client = MlflowClient(tracking_uri=cfg.mlflow_tracking_uri)
    exp = client.get_experiment_by_name(cfg.mlflow_experiment)
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`{RUN_DATE_TAG}` = '{run_date}'",
                              max_results=200, order_by=["attributes.start_time DESC"])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    out = []
    for run in runs:
        if parents and run.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id:
            m = run.data.metrics
            out.append({"name": run.info.run_name.removesuffix(f"-{run_date}"), "cv": m.get("cv_roc_auc"),
                        "test": m.get("test_roc_auc"), "lift": m.get("test_top_budget_lift")})
    return sorted(out, key=lambda c: c["name"])


def spoken_number(n: float) -> str:
    """A count as a narrator reads it from a slide (thousands separated)."""
    return f"{n:,.0f}" if abs(n) >= 1000 else f"{n:g}"


def readme_commands(root: Path) -> list[str]:
    """The README's two commands (the first code block's lines that start with ``make``)."""
    text = (root / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
    lines = [ln.split("#", 1)[0].strip() for ln in (block.group(1) if block else "").splitlines()]
    return [ln for ln in lines if ln.startswith("make ")]


def architecture_diagram(root: Path) -> str:
    """The diagram at the top of docs/architecture.md."""
    text = (root / "docs" / "architecture.md").read_text(encoding="utf-8")
    return re.search(r"```\n(.*?)```", text, re.S).group(1)


# --------------------------------------------------------------------------- the chapters

class Builder:
    """Renders slides into ``work`` and collects the chapters."""

    def __init__(self, cfg: Config, run_date: dt.date, work: Path, shots: Path) -> None:
        self.cfg, self.run_date, self.work, self.shots = cfg, run_date, work, shots
        self.day = run_date.isoformat()
        self.chapters: list[Chapter] = []
        self._n = 0

    def _png(self, stem: str) -> Path:
        self._n += 1
        return self.work / f"{self._n:03d}-{stem}.png"

    def text(self, title: str, points: list[str], headline: str = "") -> Path:
        return slides.text_slide(self._png("text"), title, points, kicker=f"run {self.day}", headline=headline)

    def shot(self, name: str, title: str, caption: str) -> list[Path]:
        """A captured page; one slide, or several tiles when it is taller than the screen."""
        src = self.shots / f"{name}.png"
        if not src.is_file():
            raise FileNotFoundError(f"{src} was not captured (see the screenshot log above)")
        from PIL import Image

        with Image.open(src) as img:
            w, h = img.size
        if h / w <= 1.25 * HEIGHT / WIDTH:
            return [slides.image_slide(self._png(name), title, src, caption, kicker=f"run {self.day}")]
        band_w = 1232
        tiles = images.tiles(src, self.work / f"tiles-{name}", (band_w, round(band_w * (HEIGHT - 110) / WIDTH)))
        return [slides.image_slide(self._png(f"{name}-{i}"), f"{title} ({i}/{len(tiles)})", tile, caption,
                                   kicker=f"run {self.day}") for i, tile in enumerate(tiles, 1)]

    def term(self, title: str, command: str, **kwargs) -> tuple[Path, terminal.Shown]:
        shown = terminal.run_shown(self.cfg, command, **kwargs)
        return slides.terminal_slide(self._png("term"), title, command, shown.output, kicker=f"run {self.day}"), shown

    def table(self, title: str, header: list[str], rows: list[list], note: str = "") -> Path:
        return slides.table_slide(self._png("table"), title, header, rows, note=note, kicker=f"run {self.day}")

    def add(self, title: str, narration: str, pngs: list[Path]) -> None:
        self.chapters.append(Chapter(title, narration, tuple(pngs)))


def build_chapters(cfg: Config, run_date: dt.date, work: Path, shots: Path, demo_console: str | None) -> list[Chapter]:
    b = Builder(cfg, run_date, work, shots)
    day = b.day
    lake = cfg.lakehouse_root.removeprefix("file://")

    batches = ingestion_batches(cfg.logs_dir, run_date)
    jdbc_png, jdbc = b.term("gold over JDBC: beeline through the engine",
                            "./engine.sh sql -f sql/queries/churn_rate_by_contract.sql", expect=("churn_rate",))
    customers, churned, contracts = churn_by_contract(jdbc.output)
    rate = 100.0 * churned / customers
    champ = champion(cfg)
    cands = candidate_scores(cfg, run_date)
    cm = champ["metrics"]
    month = next((r for r in contracts if r[0].lower().startswith("month")), contracts[0])

    # 1. The business problem
    b.add("The business problem",
          f"This is churnlake, an end-to-end data pipeline for predicting customer churn. "
          f"The company in the bundled data has {spoken_number(customers)} customers, and "
          f"{spoken_number(churned)} of them, {rate:.1f} percent, left. Keeping a customer costs far less than "
          f"winning a new one, so the retention team wants a daily list of the customers most likely to leave, "
          f"ranked, with the reasons in the data. We judge the model by ROC-AUC, by how many churners are caught "
          f"within a fixed contact budget, and by the revenue those contacts can save. Everything you will see was "
          f"produced by one real run on this machine, for run date {day}.",
          [b.text("The business problem", [
              f"{customers:,} customers in the CRM export; {churned:,} churned ({rate:.1f} %)",
              f"{month[0]} contracts churn at {float(month[3]) * 100:.1f} %",
              "Goal: a daily ranked list of customers at risk, for a fixed contact budget",
              "Metrics: ROC-AUC, lift in the top of the list, retained revenue",
              "Everything shown comes from one real run of this pipeline"],
              headline="Which customers will leave, and which can we keep?")])

    # 2. Architecture
    diagram = architecture_diagram(cfg.root_dir)
    arch = slides.terminal_slide(b._png("arch"), "Architecture (docs/architecture.md)", "sed -n 3,12p docs/architecture.md",
                                 diagram, kicker=f"run {day}")
    b.add("Architecture",
          "The architecture has three parts. The engine is one long-running Spark driver that serves Spark Connect "
          "for the jobs and a Thrift JDBC endpoint for analysts, over one Hive metastore. Luigi orchestrates the jobs: "
          "each task runs one small Spark job file as a thin client of the engine, so no task pays for its own Java "
          "virtual machine. The data lives in Delta Lake, in medallion layers: bronze keeps the sources as received "
          "with lineage columns, silver is cleaned and typed, and gold holds the as-of features, labels and "
          "predictions. On a cluster, the same jobs run with their own driver, against HDFS or any other Hadoop "
          "file system.",
          [arch, b.text("Medallion layers on Delta Lake", [
              "bronze: raw rows as received, partitioned by source and ingest date, with lineage columns",
              "validation: Great Expectations suites; bad rows go to quarantine with a reason",
              "silver: typed, de-duplicated, pseudonymised where needed",
              "gold: as-of customer features, churn labels, predictions (served over JDBC)",
              "feature store, MLflow models, Delta time travel and named tags"])])

    # 3. Sources and the landing zone
    src_rows = [[f"{r['source']}.{r['entity']}", int(r.get("rows_read") or 0), int(r.get("rows_written") or 0),
                 int(r.get("rows_rejected") or 0), int(r.get("attempts") or 1), float(r.get("duration_s") or 0)]
                for r in sorted(batches, key=lambda r: (r["source"], r["entity"]))]
    from churnlake.monitoring.screenshots import landing_commands

    landing_cmd, raw_cmd = landing_commands(cfg)
    landing_png, _ = b.term("The raw landing zone: files per source, type, ingest date and hour", landing_cmd,
                            expect=("source=crm",))
    raw_png, _ = b.term("Raw records, exactly as they arrived (the newest file of each source)", raw_cmd,
                        expect=("customerID",))
    total_in = sum(r[1] for r in src_rows)
    rejected = sum(r[3] for r in src_rows)
    b.add("Sources and the raw landing zone",
          f"Four real sources feed the lakehouse: a CSV export dropped into the CRM inbox, invoices and payments from "
          f"a SQL billing database read incrementally by watermark, support tickets from a paged REST API, and Apache "
          f"access logs from the self-care portal. Every file or response is first copied, unchanged, into the landing "
          f"zone, partitioned by source, type, ingest date and hour, so any batch can be rebuilt from what was really "
          f"received. In this run, {spoken_number(total_in)} source rows arrived; {spoken_number(rejected)} of them "
          f"could not be parsed and went to quarantine with a reason, and none was lost. The ingestion log records "
          f"every batch: rows read, written and rejected, the number of attempts and the duration.",
          [landing_png, raw_png, b.table("Ingestion log (logs/ingestion.log)",
                                         ["source", "rows read", "written", "rejected", "attempts", "seconds"],
                                         src_rows, note="one JSON line per source entity and batch")])

    # 4. The DAG run
    dag_slides = b.shot("luigi-dag", "The Luigi DAG of the run (visualiser, SVG view)",
                        "every task of Pipeline(run_date) and its status, from luigid's dependency graph")
    dag_pngs = []
    if demo_console:
        summary = "\n".join(ln for ln in demo_console.splitlines() if ln.startswith("[") or "task(s) ran" in ln)
        dag_pngs.append(slides.terminal_slide(b._png("console"), "make demo: one line per task", "make demo", summary,
                                              kicker=f"run {day}"))
    history = b.shot("luigi-history", "luigid task history", "every task attempt, recorded by the central scheduler")
    b.add("The DAG run in Luigi",
          "Make demo starts the engine and the central Luigi scheduler, then runs the pipeline for one date. The console "
          "shows one line per task, with its duration and row counts. In the Luigi visualiser the whole graph is green: "
          "the four ingestion tasks at the bottom, one validation per source table, the silver tables, gold features, "
          "the online store, training, scoring and the exploratory report at the top. Two workers run independent "
          "tasks side by side. Each task's target is a Delta commit or an MLflow run for that date, so running the "
          "same date again does nothing, and a failed task is retried once before its dependants are stopped. The task "
          "history keeps every attempt.",
          dag_pngs + dag_slides + history)

    # 5. Validation
    runs = validation_runs(cfg.reports_dir, run_date)
    val_rows = [[r["table_name"], r["status"], int(r["rows_in"]), int(r["rows_quarantined"]), int(r["checks"]),
                 int(r["checks_failed"])] for r in runs]
    q_uri = f"{cfg.lakehouse_root}/bronze/web/access_logs_quarantine"
    quarantine_png, _ = b.term(
        "Quarantined rows keep their reason",
        "./engine.sh sql -e \"SELECT _ingest_date, substr(reason, 1, 55) AS reason, substr(raw_line, 1, 60) AS raw_line "
        f"FROM delta.\\`{q_uri}\\` ORDER BY _ingest_date DESC, _source_file LIMIT 8\"", expect=("reason",),
        min_table_rows=1)
    checks = sum(r[4] for r in val_rows)
    failed_checks = sum(r[5] for r in val_rows)
    quarantined = sum(r[3] for r in val_rows)
    b.add("Validation, quality report and quarantine",
          f"Before anything reaches silver, every bronze table is validated with a Great Expectations suite: "
          f"{checks} checks across {len(val_rows)} tables in this run, {failed_checks} of them failed. A check marked "
          f"as blocking stops the table; a row-level failure sends the offending rows to quarantine with the reason, "
          f"and the rest flows on. {spoken_number(quarantined)} rows were quarantined by validation today, besides the "
          f"log lines the parser rejected. The data-quality report lists every check, its expectation, the counts and "
          f"sample values, as CSV, HTML and PDF.",
          [b.table("Validation runs (reports/quality/<day>/runs.csv)",
                   ["table", "status", "rows", "quarantined", "checks", "failed"], val_rows),
           *b.shot("data-quality", "Data-quality report", f"reports/quality/{day}/report.html (also CSV and PDF)"),
           quarantine_png])

    # 6. Silver and EDA
    eda_dir = cfg.reports_dir / "eda" / day
    eda_pngs = b.shot("eda", "Exploratory data analysis of silver.customers", f"reports/eda/{day}/index.html")
    for plot, caption in (("churn_rate_by_category.png", "churn rate by category"),
                          ("histograms.png", "numeric distributions, churned versus retained")):
        if (eda_dir / plot).is_file():
            eda_pngs.append(slides.image_slide(b._png("eda"), "EDA: " + caption, eda_dir / plot, f"reports/eda/{day}/{plot}",
                                               kicker=f"run {day}"))
    b.add("Silver tables and exploratory analysis",
          "Silver holds the cleaned tables: customers typed and de-duplicated, invoices and payments, ticket versions "
          "merged into current tickets, and web sessions from the access logs, with customer identifiers pseudonymised "
          "where the logs carry them. The exploratory report is computed by Spark over silver customers: summary "
          "statistics, outliers, correlations and churn rates per category. Month-to-month contracts, fiber internet "
          "and electronic checks stand out, as the plots show. The same functions run in the notebook in the notebooks "
          "folder.",
          eda_pngs)

    # 7. Gold and JDBC
    asof_png, _ = b.term("Delta time travel over JDBC: VERSION AS OF",
                         "./engine.sh sql -f sql/queries/features_version_as_of.sql", expect=("as_of_date",))
    tables_png, _ = b.term("What an analyst sees over JDBC",
                           "./engine.sh sql -e \"SHOW TABLES\" && ./engine.sh sql -e \"SELECT customer_id, as_of_date, "
                           "contract, tenure_months, monthly_charges, tickets_90d, sessions_28d FROM customer_features "
                           f"WHERE as_of_date = '{day}' ORDER BY customer_id LIMIT 8\"", expect=("customer_features",))
    b.add("Gold features over JDBC",
          "Gold holds one snapshot of customer features per as-of date, built only from events before that date, so "
          "training never sees the future. The engine serves gold over JDBC: an analyst connects with beeline or any "
          "JDBC tool and queries the tables by name. Here the churn rate by contract type, computed live. Because the "
          "tables are Delta, the same endpoint answers time-travel queries: version as of zero returns the table as its "
          "first commit left it.",
          [tables_png, jdbc_png, asof_png])

    # 8. Feature store
    report = (cfg.reports_dir / "models" / day / "report.md").read_text(encoding="utf-8")

    def report_value(key: str) -> str:
        found = re.search(rf"- {key}: `([^`]*)`", report)
        return found.group(1) if found else "?"

    customer = next(iter(csv.DictReader(open(cfg.root_dir / "data" / "telco_customer_churn.csv", encoding="utf-8"))))["customerID"]
    online_png, _ = b.term("Online lookup: the latest features of one customer",
                           f".venv/bin/python -m churnlake.features.online get {customer} | head -c 1500",
                           expect=(customer,))
    catalog_png, _ = b.term("The feature registry (docs/feature_catalog.md, generated)",
                            ".venv/bin/python -m churnlake.features.registry catalog | sed -n 1,40p",
                            expect=("Feature catalog",))
    b.add("The feature store",
          f"The feature store has three parts. A registry describes every feature with its version, owner and "
          f"source, and the catalog page is generated from it. Offline retrieval builds point-in-time training sets: "
          f"today's model was trained on features as of {report_value('feature_date')} with labels observed up to "
          f"{report_value('label_date')}, read at Delta version {report_value('features_delta_version')} of gold "
          f"customer features, and all of that is logged with the model. The online store holds the latest snapshot "
          f"per customer for low-latency lookups, here for customer {customer}.",
          [catalog_png, b.text("Point-in-time training set of this run (model report)", [
              f"features as of {report_value('feature_date')}, labels up to {report_value('label_date')}",
              f"{report_value('features_table')} at Delta version {report_value('features_delta_version')}; "
              f"labels {report_value('labels_table')} at version {report_value('labels_delta_version')}",
              f"{report_value('training_set_rows')} rows, {report_value('n_features')} features",
              f"training set sha256 {report_value('training_set_sha256')[:16]}…",
              "snapshot of day D holds information up to the end of D: entity time t gets the latest D + 1 ≤ t"]),
           online_png])

    # 9. MLflow
    def cell(value):
        return "–" if value is None else value

    cand_rows = [[c["name"], cell(c["cv"]), cell(c["test"]), cell(c["lift"])] for c in cands]
    b.add("Models in MLflow and the champion",
          f"Training compares five candidates: logistic regression, random forest and gradient boosting in "
          f"scikit-learn, and logistic regression and random forest in Spark MLlib, each tuned by grid search with "
          f"cross-validation. Every candidate is a nested MLflow run with its parameters, cross-validation score, "
          f"plots and model files. The best cross-validation score chooses the model; only then does it see the "
          f"test rows, once, so its test score is honest. The champion gate registers it and promotes it only if it "
          f"beats the current champion on the same test rows. The champion today is {champ['candidate']}, version "
          f"{champ['version']} of the registered model, with a test ROC-AUC of {cm.get('test_roc_auc', 0):.3f}. "
          f"The model report explains the choice.",
          [b.table("Candidates of this run (MLflow)", ["candidate", "CV ROC-AUC", "test ROC-AUC", "test top-budget lift"],
                   cand_rows, note=f"chosen by CV ROC-AUC; test rows scored once, for the chosen model. "
                                   f"Champion: {champ['candidate']} (registered version {champ['version']})"),
           *b.shot("mlflow-candidates", "MLflow: the five candidate runs compared", "parameters and metrics per candidate"),
           *b.shot("mlflow-model", "MLflow model registry: the champion alias", cfg.registered_model),
           *b.shot("model-report", "The model report", f"reports/models/{day}/report.html")])

    # 10. Dataset versions
    tag = f"walkthrough-{day}"
    tags_out = terminal.run_shown(cfg, "./spark-submit.sh jobs/versioning/versions.py tags").output
    if tag not in tags_out:
        terminal.run_shown(cfg, f"./spark-submit.sh jobs/versioning/versions.py tag {tag} --table gold.customer_features "
                                f"--table gold.churn_labels --description 'training set shown in the walkthrough'")
    tags_png, _ = b.term("Named versions (tags)", "./spark-submit.sh jobs/versioning/versions.py tags", expect=(tag,))
    vhist_png, _ = b.term("Delta history with jobs and tags",
                          "./spark-submit.sh jobs/versioning/versions.py history gold.customer_features --limit 8",
                          expect=("version",))
    diff_png, _ = b.term("Diff between two versions",
                         f"./spark-submit.sh jobs/versioning/versions.py diff gold.customer_features 0 {tag}",
                         expect=("rows:",))
    b.add("Dataset versions",
          "Every table is versioned by Delta: each commit records the job and run date that made it. On top of that, "
          "named tags pin the exact versions of several tables together, for example the training set of a model. The "
          "walkthrough tags the gold features and labels, lists the tags, shows the history with the tag beside its "
          "version, and diffs two versions: rows added, removed and unchanged, and any schema change. Tagged versions "
          "are protected from vacuum by the retention policy.",
          [tags_png, vhist_png, diff_png])

    # 11. A failure and its retry and alert
    drill_rel = "build/walkthrough/failure-drill"
    drill = cfg.root_dir / drill_rel
    shutil.rmtree(drill, ignore_errors=True)
    drill_env = (f"CHURNLAKE__LAKEHOUSE__ROOT=file://{drill}/lakehouse CHURNLAKE__STATE_DIR={drill_rel}/state "
                 f"CHURNLAKE__LOGS_DIR={drill_rel}/logs CHURNLAKE__SOURCES__CRM__INBOX={drill_rel}/missing-inbox")
    remote = os.environ.get("CHURNLAKE__ENGINE__REMOTE") or terminal.run_shown(cfg, "./engine.sh url", ok_codes=(0,)).output.strip()
    if remote:
        drill_env += f" CHURNLAKE__ENGINE__REMOTE={remote}"
    fail_cmd = (f"{drill_env} .venv/bin/luigi --module luigi_tasks.ingestion BronzeCrm --run-date {day} "
                "--local-scheduler 2>&1 | grep -E 'FAILED after|has status +FAILED|failed:|^\\* |^    - |looks :' "
                "| sed -E 's/^[0-9-]+ [0-9:,]+ ERROR churnlake.jobrun //' | awk '!seen[$0]++'")
    fail_png, _ = b.term("A failure drill: the CRM inbox is missing", fail_cmd, expect=("FAILED",), ok_codes=(0, 1, 30))
    alert_png, _ = b.term("The alert of each failed attempt (logs/alerts.log)",
                          f".venv/bin/python -c \"import json,sys; [print(json.dumps({{k: r[k] for k in ('at', 'task', "
                          f"'attempt', 'max_attempts', 'error')}}, indent=1)) for r in map(json.loads, open('{drill_rel}/logs/alerts.log'))]\"",
                          expect=("attempt",))
    retried = [r for r in batches if int(r.get("retries") or 0) > 0]
    retry_text = (f" In the real run, the ticket API failed {retried[0]['retries']} times on purpose, and the client "
                  f"retried with backoff until all {retried[0].get('pages', 'its')} pages were read." if retried else "")
    b.add("A failure, its retry and the alert",
          "What happens when something breaks? This drill runs the CRM ingestion task in a throw-away lakehouse whose "
          "inbox does not exist. The job fails with one clear line that names the cause and the setting to fix. Luigi "
          "retries the task once after five seconds, it fails again, and the task is disabled so nothing downstream "
          "runs on missing data. Each failed attempt writes an alert line, which can also be posted to a webhook."
          + retry_text,
          [fail_png, alert_png])

    # 12. The run dashboard
    b.add("The run dashboard",
          "After every run, a summary job writes the run dashboard: each task with its status, attempts and duration, "
          "the rows per table, the data-quality results and the model metrics, next to the recent runs. The same "
          "summary is stored in Delta monitoring tables, so on-call engineers can query it too.",
          b.shot("run-dashboard", "Run dashboard", f"reports/runs/{day}/dashboard.html"))

    # 13. Run it yourself
    commands = readme_commands(cfg.root_dir)
    b.add("Run it yourself",
          "To run it yourself you need Python 3.11 and Java 17. Make demo sets everything up, starts the engine and "
          "runs the whole pipeline on the bundled data; make test runs the test suite, starting the services it needs. "
          "Single jobs run with spark-submit dot sh, through the engine or on a cluster with dash dash master. "
          "The docs folder explains every stage. Thank you for watching.",
          [b.text("Run it yourself", [
              *(f"$ {c}" for c in commands),
              "$ ./spark-submit.sh jobs/gold/customer_features.py --run-date YYYY-MM-DD",
              "$ ./engine.sh sql -f sql/queries/churn_rate_by_contract.sql",
              "make video / make package: this video and the release zip",
              "docs/: one page per stage; README.md points to each"], headline="make demo  ·  make test")])
    return b.chapters


def git_commit(root: Path) -> str | None:
    """The commit the video shows (``<sha>`` or ``<sha>-dirty``, :func:`churnlake.config.code_version`)."""
    from churnlake.config import code_version

    return code_version(root)


def make_video(cfg: Config, run_date: dt.date, out_dir: Path, skip_demo: bool = False) -> dict:
    """Run (or reuse) the demo, capture, narrate, assemble; returns the video's facts."""
    from churnlake.monitoring.screenshots import take_screenshots

    require_tools()
    browser.find_chromium()
    build = cfg.root_dir / "build" / NAME
    shots, work = build / "shots", build / "slides"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    console_log = build / "demo-console.txt"
    if skip_demo:
        from churnlake.cli import start_engine

        start_engine(cfg)  # the JDBC views query gold through it (the demo would start it)
    rc = take_screenshots(cfg, run_date, shots, skip_demo=skip_demo, console_log=None if skip_demo else console_log)
    if rc != 0:
        raise RuntimeError(f"the demo or a capture failed (exit {rc}); see the log above")
    console = console_log.read_text(encoding="utf-8") if console_log.is_file() else None
    if console and f"run date {run_date}" not in console:
        console = None  # kept from a demo of another date
    chapters = build_chapters(cfg, run_date, work, shots, console)
    return render_video(cfg, run_date, chapters, out_dir)


def render_video(cfg: Config, run_date: dt.date, chapters: list[Chapter], out_dir: Path) -> dict:
    """Assemble ``chapters`` into ``<out_dir>/walkthrough.*`` and record the facts of the video
    (duration, size, chapters, the run date and the commit it shows) in walkthrough.json."""
    facts = assemble(chapters, out_dir, name=NAME, title=f"churnlake walkthrough, run {run_date}")
    facts |= {"run_date": run_date.isoformat(), "commit": git_commit(cfg.root_dir),
              "made_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "words": sum(len(c.narration.split()) for c in chapters)}
    (out_dir / f"{NAME}.json").write_text(json.dumps(facts, indent=1) + "\n", encoding="utf-8")
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-date", type=dt.date.fromisoformat, default=dt.date.today())
    parser.add_argument("--skip-demo", action="store_true", help="the run date's demo has run already")
    parser.add_argument("--out-dir", type=Path, default=None, help="default: <project>/dist")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config()
    out_dir = args.out_dir or cfg.root_dir / "dist"
    try:
        facts = make_video(cfg, args.run_date, out_dir, skip_demo=args.skip_demo)
    except (VideoToolError, browser.BrowserError, browser.BrowserNotInstalledError, terminal.CaptureError,
            FileNotFoundError, RuntimeError) as exc:
        log.error("%s", exc)
        return 1
    print(f"{facts['path']}: {facts['duration_s'] / 60:.1f} min, {facts['width']}x{facts['height']}, "
          f"{facts['video_codec']}/{facts['audio_codec']}, {facts['bytes'] / 1e6:.1f} MB, "
          f"{len(facts['chapters'])} chapters (subtitles {out_dir / (NAME + '.srt')}, "
          f"chapters {out_dir / (NAME + '.chapters.txt')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
