"""The real Luigi pipeline (real spark-submit, Delta, MLflow) on a small sample.

All four sources are real: CSV files in an inbox, a SQLite billing database, the ticket
REST API server (with injected faults) and access-log files with broken lines.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F
from mlflow.tracking import MlflowClient

from churnlake import tables
from churnlake.config import load_config
from churnlake.delta import history, read_table
from churnlake.demo.generate import append_billing, generate_all
from churnlake.demo.ticket_api import serve_in_thread, shutdown
from churnlake.ml.tracking import model_requirements
from churnlake.services import luigid
from tests.conftest import TELCO_CSV
from tests.integration.helpers import VENV_BIN, failed_line, free_port, pipeline_env, run, write_sample

pytestmark = pytest.mark.integration
RUN_DATE = "2026-11-27"
SAMPLE_ROWS = 400
DEMO_CUSTOMERS, BROKEN_LINES = 250, 4
TOKEN = "integration-test-token"
# A third CRM file with one defect per line: validation quarantines them, silver never sees them.
_ROW = TELCO_CSV.read_text().splitlines()[1].split(",")
DEFECTS = {
    "tenure_integer": ",".join(["9001-TYPEA", *_ROW[1:5], "abc", *_ROW[6:]]),
    "monthly_charges_range": ",".join(["9002-RANGE", *_ROW[1:18], "-5.0", *_ROW[19:]]),
    "broken_line": "9003-BROKN,Male,0,Yes",
}
CRM_ROWS = SAMPLE_ROWS + 50 + len(DEFECTS)


def luigi(task: str, env, run_date: str = RUN_DATE, scheduler_port: int | None = None):
    # conf/luigi.cfg sets two workers: independent tasks (sources, tables) run side by side.
    where = (["--scheduler-host", "127.0.0.1", "--scheduler-port", str(scheduler_port)] if scheduler_port
             else ["--local-scheduler"])
    return run([str(VENV_BIN / "luigi"), "--module", "luigi_tasks.pipeline", task,
                "--run-date", run_date, *where], env, timeout=1800)


def table_versions(spark, table, cfg) -> int:
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, table.uri(cfg)).history().count()


@pytest.fixture(scope="module")
def demo_sources(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    manifest = generate_all(TELCO_CSV, base / "demo", 42, dt.date.fromisoformat(RUN_DATE),
                            n_customers=DEMO_CUSTOMERS, days=1, broken_lines=BROKEN_LINES)
    # Every fault at once; the client's retries must still land every ticket exactly once.
    server, url = serve_in_thread(base / "demo" / "tickets.jsonl", TOKEN, error_rate=0.25,
                                  rate_limit_every=4, malformed_page=2, retry_after=1, fault_seed=3)
    yield base, manifest, url
    shutdown(server)


@pytest.fixture(scope="module")
def central_scheduler(demo_sources):
    """A real luigid (task history in SQLite) on a free 127.0.0.1 port for the pipeline run."""
    base = demo_sources[0]
    cfg = load_config(environ=pipeline_env(base))
    port = free_port()
    daemon = luigid.server(cfg, port)
    luigid.start(cfg, port)
    try:
        yield port, luigid.paths(cfg)["history"]
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def pipeline_run(demo_sources, central_scheduler):
    base, manifest, url = demo_sources
    env = pipeline_env(base)
    env.update({"CHURNLAKE_TICKETS_TOKEN": TOKEN, "CHURNLAKE__SOURCES__TICKETS__BASE_URL": url,
                "CHURNLAKE__SOURCES__TICKETS__PAGE_SIZE": "40",
                "CHURNLAKE__SOURCES__BILLING__URL": f"sqlite:///{base / 'demo' / 'billing.db'}",
                "CHURNLAKE__SOURCES__WEB_LOGS__INBOX": str(base / "demo" / "access_logs"),
                # One candidate per library, two folds: the end-to-end path through MLflow, the gate and
                # scoring; every candidate is fitted in tests/integration/test_candidates.py.
                "CHURNLAKE__TRAINING__CANDIDATES": "[sk_logreg, mllib_logreg]",
                "CHURNLAKE__TRAINING__CV_FOLDS": "2"})
    write_sample(base / "inbox" / "crm", SAMPLE_ROWS)
    # The same customers again under another name, with CRLF line endings and a BOM: a new
    # file whose rows duplicate customers and must be deduplicated in silver.
    resend = write_sample(base / "inbox" / "crm", 50, name="crm_export_resend.csv", crlf=True)
    resend.write_bytes(b"\xef\xbb\xbf" + resend.read_bytes())
    header = TELCO_CSV.read_text().splitlines()[0]
    (base / "inbox" / "crm" / "crm_export_defects.csv").write_text("\n".join([header, *DEFECTS.values()]) + "\n")
    result = luigi("Pipeline", env, scheduler_port=central_scheduler[0])  # on the central scheduler
    cfg = load_config(environ=env)
    return base, env, cfg, result, manifest


def test_the_run_went_through_the_central_scheduler(pipeline_run, central_scheduler):
    _, _, _, result, _ = pipeline_run
    assert result.returncode == 0
    with sqlite3.connect(central_scheduler[1]) as db:
        done = {r[0] for r in db.execute(
            "SELECT DISTINCT t.name FROM tasks t JOIN task_events e ON e.task_id = t.id WHERE e.event_name = 'DONE'")}
    assert {"BronzeCrm", "ValidateBronze", "SilverCustomers", "GoldCustomerFeatures", "TrainModel",
            "ScoreCustomers", "MaterializeOnlineFeatures"} <= done


def test_pipeline_succeeds_and_fills_every_layer(pipeline_run, spark):
    base, env, cfg, result, _ = pipeline_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    bronze = read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg)
    assert bronze.count() == CRM_ROWS
    assert bronze.select("_batch_id").distinct().collect()[0][0] == f"crm-customers-{RUN_DATE}"
    assert bronze.where("_source_file_sha256 IS NULL OR _source_file IS NULL").count() == 0
    silver = read_table(spark, tables.SILVER_CUSTOMERS, cfg)
    assert silver.count() == SAMPLE_ROWS
    assert silver.select("customer_id").distinct().count() == SAMPLE_ROWS
    feats = read_table(spark, tables.GOLD_CUSTOMER_FEATURES, cfg)
    labels = read_table(spark, tables.GOLD_CHURN_LABELS, cfg)
    assert feats.where(f"as_of_date = '{RUN_DATE}'").count() == SAMPLE_ROWS
    assert labels.count() == SAMPLE_ROWS
    assert "churned" not in feats.columns
    # The gold table the pipeline wrote and the feature registry agree, feature by feature.
    from churnlake.features.registry import load_registry, schema_problems

    assert schema_problems(load_registry()["customer_churn"], feats.schema) == []
    # The online store holds what gold holds for the run date.
    from churnlake.features.online import OnlineStore, online_url

    store = OnlineStore(online_url(cfg))
    try:
        for row in feats.where(f"as_of_date = '{RUN_DATE}'").orderBy("customer_id").limit(3).collect():
            online = store.get(row["customer_id"])
            assert online == {k: (v if not isinstance(v, float) else pytest.approx(v)) for k, v in row.asDict().items()}
        assert store.last_materialization()["rows"] == SAMPLE_ROWS
    finally:
        store.close()
    # every job logged start and end with row counts
    for job in ("bronze_ingest_crm", "silver_customers", "gold_customer_features", "ml_train"):
        text = (base / "logs" / f"{job}.log").read_text()
        assert "START run_date=2026-11-27" in text and "END status=ok rows_in=" in text, job


def test_validation_quarantines_defects_reconciles_and_reports(pipeline_run, spark):
    base, env, cfg, result, _ = pipeline_run
    assert result.returncode == 0, result.stdout[-3000:]
    runs = {r["table_name"]: r for r in read_table(spark, tables.QUALITY_RUNS, cfg).collect()}
    assert set(runs) == {t.name for t in tables.VALIDATED_TABLES}
    for name, rec in runs.items():
        assert rec["status"] in ("passed", "warned"), name
        assert rec["rows_in"] == rec["rows_passed"] + rec["rows_quarantined"], name  # reconciliation
        bronze = read_table(spark, tables.get_table(name), cfg)
        assert rec["rows_in"] == bronze.count(), name  # every bronze row was validated
    crm = runs["bronze.crm_customers"]
    assert (crm["rows_in"], crm["rows_quarantined"]) == (CRM_ROWS, len(DEFECTS))
    quarantine = read_table(spark, tables.quarantine_table(tables.BRONZE_CRM_CUSTOMERS), cfg).collect()
    found = {check for r in quarantine for check in r["_quarantine_reasons"]}
    assert set(DEFECTS) <= found
    silver_ids = {r[0] for r in read_table(spark, tables.SILVER_CUSTOMERS, cfg).select("customer_id").collect()}
    assert not silver_ids & {"9001-TYPEA", "9002-RANGE", "9003-BROKN"}
    results = read_table(spark, tables.QUALITY_RESULTS, cfg)
    assert results.where("resolution = 'quarantined' AND table_name = 'bronze.crm_customers'").count() >= 3
    report = base / "reports" / "quality" / RUN_DATE
    html = (report / "report.html").read_text()
    assert all(t.name in html for t in tables.VALIDATED_TABLES) and "tenure_integer" in html
    assert (report / "report.pdf").read_bytes()[:4] == b"%PDF"
    assert len((report / "report.csv").read_text().splitlines()) == results.count() + 1


def test_every_source_lands_exactly_once_and_reconciles(pipeline_run, spark):
    base, _, cfg, result, manifest = pipeline_run
    assert result.returncode == 0, result.stderr[-3000:]
    arts = manifest["artefacts"]
    for name, table in tables.BILLING_TABLES.items():
        df = read_table(spark, table, cfg)
        key = "invoice_id" if name == "invoices" else "payment_id"
        assert df.count() == df.select(key).distinct().count() == arts["billing_db"]["tables"][name]
    tickets = read_table(spark, tables.BRONZE_SUPPORT_TICKETS, cfg)
    n_tickets = sum(1 for _ in open(base / "demo" / "tickets.jsonl"))
    assert tickets.count() == tickets.select("ticket_id").distinct().count() == n_tickets
    logs = read_table(spark, tables.BRONZE_WEB_ACCESS_LOGS, cfg)
    quarantine = read_table(spark, tables.QUARANTINE_WEB_ACCESS_LOGS, cfg)
    lines = sum(len(p.read_text().splitlines()) for p in (base / "demo" / "access_logs").glob("*.log"))
    assert quarantine.count() == BROKEN_LINES
    assert logs.count() + quarantine.count() == lines
    assert quarantine.where("reason IS NULL OR raw_line IS NULL").count() == 0
    records = [json.loads(line) for line in (base / "logs" / "ingestion.log").read_text().splitlines()]
    assert {(r["source"], r["entity"]) for r in records if r["status"] == "ok"} == {
        ("crm", "customers"), ("billing", "invoices"), ("billing", "payments"),
        ("support", "tickets"), ("web", "access_logs")}
    for r in records:
        assert r["rows_read"] == r["rows_written"] + (r["rows_rejected"] if r["source"] == "web" else 0)
    ticket_log = next(r for r in records if r["source"] == "support")
    assert ticket_log["attempts"] > ticket_log["pages"]  # the injected faults were retried
    landing = base / "lakehouse" / "bronze" / "_landing"
    assert (landing / "source=billing" / "type=invoices" / f"ingest_date={RUN_DATE}" / "ingest_hour=00"
            / f"billing-invoices-{RUN_DATE}.jsonl").is_file()


def test_an_hourly_run_takes_only_the_new_log_lines_to_silver(pipeline_run, spark):
    """One hour with new access logs and nothing else: every source's hourly batch lands, only
    the logs are validated and merged into silver; the other steps start no job."""
    base, env, cfg, result, _ = pipeline_run
    assert result.returncode == 0
    day, label = "2026-11-28", "2026-11-28T00"
    # Valid lines (bronze holds their raw text) moved to minute i of the next day's first hour: new events.
    logs = read_table(spark, tables.BRONZE_WEB_ACCESS_LOGS, cfg).where(F.col("customer_id").isNotNull())
    new = [re.sub(r"\[[^\]]+\]", f"[28/Nov/2026:00:{i:02d}:00 +0000]", r["raw_line"], count=1)
           for i, r in enumerate(logs.orderBy("raw_line").limit(12).collect())]
    assert len(new) == 12
    (base / "demo" / "access_logs" / f"access-{day}-00.log").write_text("\n".join(new) + "\n")
    events_before = read_table(spark, tables.SILVER_WEB_EVENTS, cfg).count()
    job_runs, task_runs = cfg.logs_dir / "job_runs.jsonl", cfg.logs_dir / "task_runs.jsonl"
    jobs_before, tasks_before = len(job_runs.read_text().splitlines()), len(task_runs.read_text().splitlines())

    res = run([str(VENV_BIN / "luigi"), "--module", "luigi_tasks.pipeline", "HourlyPipeline", "--run-date", day,
               "--run-hour", "0", "--local-scheduler"], env, timeout=1800)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    started = [json.loads(line) for line in job_runs.read_text().splitlines()[jobs_before:]]
    assert sorted(r["job"] for r in started) == sorted([
        "bronze_ingest_crm", "bronze_ingest_billing", "bronze_ingest_billing", "bronze_ingest_tickets",
        "bronze_ingest_access_logs", "validate_bronze", "silver_web_events"])
    assert all(r["status"] == "ok" and r["args"].get("run_hour") == "0" for r in started)
    assert next(r for r in started if r["job"] == "validate_bronze")["args"]["table"] == "web_access_logs"
    skipped = [json.loads(line) for line in task_runs.read_text().splitlines()[tasks_before:]]
    notes = {(r["task_family"], r["params"].get("table") or r["params"].get("billing_table") or "")
             for r in skipped if r["event"] == "SUCCESS" and "nothing new" in (r.get("note") or "")}
    assert notes == {("ValidateBronze", "crm_customers"), ("ValidateBronze", "billing_invoices"),
                     ("ValidateBronze", "billing_payments"), ("ValidateBronze", "support_tickets"),
                     ("SilverCustomers", ""), ("SilverBilling", "invoices"), ("SilverBilling", "payments"),
                     ("SilverTickets", "")}
    # The hour's lines: in bronze under the hour's batch, validated by the hour's run, in silver once.
    hour_rows = read_table(spark, tables.BRONZE_WEB_ACCESS_LOGS, cfg).where(
        f"_batch_id = 'web-access_logs-{label}'")
    assert hour_rows.count() == len(new)
    run_row = read_table(spark, tables.QUALITY_RUNS, cfg).where(
        f"run_id = 'web_access_logs-{label}'").collect()
    assert len(run_row) == 1 and run_row[0]["rows_in"] == len(new) and run_row[0]["status"] in ("passed", "warned")
    assert read_table(spark, tables.SILVER_WEB_EVENTS, cfg).count() == events_before + len(new)
    commit = json.loads(history(spark, tables.SILVER_WEB_EVENTS.uri(cfg), 1).first()["userMetadata"])
    assert (commit["interval"], commit["mode"], commit["batches"]) == (label, "incremental",
                                                                       [f"web-access_logs-{label}"])
    # The same hour again: nothing to do.
    again = run([str(VENV_BIN / "luigi"), "--module", "luigi_tasks.pipeline", "HourlyPipeline", "--run-date", day,
                 "--run-hour", "0", "--local-scheduler"], env)
    assert again.returncode == 0 and "Did not run any tasks" in again.stdout + again.stderr
    assert len(job_runs.read_text().splitlines()) == jobs_before + len(started)


def test_billing_second_run_reads_only_new_rows(pipeline_run, spark):
    base, env, cfg, result, manifest = pipeline_run
    assert result.returncode == 0
    before = read_table(spark, tables.BRONZE_BILLING_INVOICES, cfg).count()
    counts = append_billing(TELCO_CSV, base / "demo", 42, dt.date(2026, 12, 27), n_customers=DEMO_CUSTOMERS)
    res = run([str(VENV_BIN / "luigi"), "--module", "luigi_tasks.ingestion", "BronzeBilling",
               "--billing-table", "invoices", "--run-date", "2026-11-28", "--run-hour", "1",
               "--local-scheduler"], env)
    assert res.returncode == 0, res.stderr[-3000:]
    df = read_table(spark, tables.BRONZE_BILLING_INVOICES, cfg)
    new = df.where("_batch_id = 'billing-invoices-2026-11-28T01'").count()
    assert new == counts.invoices > 0
    assert df.count() == before + new == df.select("invoice_id").distinct().count()


def test_model_is_tracked_registered_scored_and_reproducible(pipeline_run, spark):
    base, env, cfg, result, _ = pipeline_run
    assert result.returncode == 0
    client = MlflowClient(tracking_uri=cfg.mlflow_tracking_uri, registry_uri=cfg.mlflow_tracking_uri)
    versions = client.search_model_versions(f"name = '{cfg.registered_model}'")
    assert len(versions) == 1
    champion = client.get_model_version_by_alias(cfg.registered_model, "champion")
    assert str(champion.version) == str(versions[0].version)
    best = client.get_run(champion.run_id)
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc"):
        assert 0.0 <= best.data.metrics[f"test_{metric}"] <= 1.0
    assert best.data.metrics["test_roc_auc"] > 0.7  # real signal even on a small sample
    assert {"tn", "fp", "fn", "tp", "retained_revenue", "revenue_lift"} <= {
        k.removeprefix("test_") for k in best.data.metrics}
    # The exact inputs: Delta versions through the feature store, registry version, code, hash.
    params = best.data.params
    assert params["label_date"] == RUN_DATE and params["feature_date"] == "2026-10-28"
    assert {"features_delta_version", "labels_delta_version", "feature_registry_version",
            "training_set_sha256"} <= set(params)
    assert not {"events_28d", "sessions_28d"} & set(params["features"].split(","))  # excluded tag "web"
    assert best.data.tags["churnlake.gate.decision"] == "promoted"
    # Every candidate is a nested run of the training run, both libraries present.
    parent_id = best.data.tags["mlflow.parentRunId"]
    children = client.search_runs([best.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    assert sorted(r.data.tags["churnlake.candidate"] for r in children) == ["mllib_logreg", "sk_logreg"]
    assert {r.data.tags["churnlake.flavor"] for r in children} == {"sklearn", "mllib"}
    # The scikit-learn model (the one candidate with an MLflow flavor) names what it needs to load
    # and predict, at this environment's versions (given, not inferred: churnlake/ml/tracking.py).
    requirements = [p.read_text().split() for p in cfg.state_dir.rglob("requirements.txt")]
    assert requirements and all(r == model_requirements() for r in requirements)
    artifacts = {a.path for a in client.list_artifacts(champion.run_id, "plots")}
    assert len(artifacts) == 4
    report = base / "reports" / "models" / RUN_DATE / "report.html"
    assert report.is_file() and "mllib_logreg" in report.read_text() and "sk_logreg" in report.read_text()
    # Batch scoring wrote every active customer with the champion's version.
    preds = read_table(spark, tables.GOLD_CHURN_PREDICTIONS, cfg).where(f"as_of_date = '{RUN_DATE}'")
    active = read_table(spark, tables.GOLD_CHURN_LABELS, cfg).where(f"as_of_date = '{RUN_DATE}' AND churned = 0")
    assert preds.count() == active.count() > 0
    assert {r[0] for r in preds.select("model_version").distinct().collect()} == {str(champion.version)}
    assert preds.where("churn_probability < 0 OR churn_probability > 1").count() == 0
    # The registered version's training set is rebuilt from the recorded versions, hash equal.
    res = run([str(cfg.root_dir / "spark-submit.sh"), "jobs/ml/reproduce.py", "--model-version",
               str(champion.version)], env)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "REPRODUCED: identical content" in res.stdout


def test_rerun_for_the_same_date_does_nothing(pipeline_run, spark):
    _, env, cfg, first, _ = pipeline_run
    assert first.returncode == 0
    existing = [t for t in tables.ALL_TABLES if DeltaTable.isDeltaTable(spark, t.uri(cfg))]
    before = {t.name: table_versions(spark, t, cfg) for t in existing}
    job_runs = cfg.logs_dir / "job_runs.jsonl"
    runs_before = job_runs.read_text().count("\n")
    again = luigi("Pipeline", env)
    assert again.returncode == 0, again.stderr[-3000:]
    out = again.stdout + again.stderr
    assert "Running command" not in out and "Did not run any tasks" in out  # nothing was submitted
    assert job_runs.read_text().count("\n") == runs_before  # no job started
    after = {t.name: table_versions(spark, t, cfg) for t in existing}
    assert after == before
    assert read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg).count() == CRM_ROWS


def test_rerunning_a_job_leaves_identical_content(pipeline_run, spark):
    _, env, cfg, first, _ = pipeline_run
    assert first.returncode == 0
    bronze = read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg)
    before = bronze.collect()
    version = table_versions(spark, tables.BRONZE_CRM_CUSTOMERS, cfg)
    res = run([str(cfg.root_dir / "spark-submit.sh"), "jobs/bronze/ingest_crm.py", "--run-date", RUN_DATE], env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert table_versions(spark, tables.BRONZE_CRM_CUSTOMERS, cfg) == version + 1  # a real rewrite
    after = read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg).collect()
    assert sorted(map(tuple, after)) == sorted(map(tuple, before))


def test_next_day_skips_files_already_ingested(pipeline_run, spark):
    _, env, cfg, first, _ = pipeline_run
    assert first.returncode == 0
    next_day = (dt.date.fromisoformat(RUN_DATE) + dt.timedelta(days=1)).isoformat()
    res = run([str(cfg.root_dir / "spark-submit.sh"), "jobs/bronze/ingest_crm.py", "--run-date", next_day], env)
    assert res.returncode == 0, res.stderr[-3000:]
    # classic: spark-submit relays the Python driver's stderr on its stdout; engine: on stderr
    assert "already ingested by an earlier batch" in res.stdout + res.stderr
    bronze = read_table(spark, tables.BRONZE_CRM_CUSTOMERS, cfg)
    assert bronze.where(f"_batch_id = 'crm-customers-{next_day}'").count() == 0
    assert bronze.count() == CRM_ROWS


def test_the_release_package_holds_code_video_and_the_runs_evidence(pipeline_run, tmp_path):
    """make package's builder on the e2e run: a real (short) video, the evidence collected by
    the project's own commands, unpacked and checked file by file."""
    import re
    import zipfile

    from churnlake.monitoring import browser
    from churnlake.walkthrough import evidence, package, slides
    from churnlake.walkthrough.assemble import Chapter
    from churnlake.walkthrough.video import readme_commands, render_video

    _, env, cfg, first, _ = pipeline_run
    assert first.returncode == 0
    day = dt.date.fromisoformat(RUN_DATE)
    summary = run([str(cfg.root_dir / "spark-submit.sh"), "jobs/monitoring/run_summary.py", "--run-date", RUN_DATE], env)
    assert summary.returncode == 0, summary.stderr[-3000:]
    shots = tmp_path / "shots"
    dashboard = cfg.reports_dir / "runs" / RUN_DATE / "dashboard.html"
    browser.screenshot(dashboard.as_uri(), shots / "run-dashboard.png", 1280, 720, wait_ms=1000)
    slide = slides.image_slide(tmp_path / "slide.png", "Run dashboard", shots / "run-dashboard.png", "e2e run")
    video_dir = tmp_path / "video"
    render_video(cfg, day, [Chapter("Dashboard", "The run dashboard of the test run.", (slide,))], video_dir)

    zip_path = package.build_package(cfg, day, tmp_path / "dist", video_dir=video_dir,
                                     evidence_dir=tmp_path / "evidence", env=env, screenshots=shots)
    assert zip_path.name == f"churnlake-{package.project_version(cfg.root_dir)}.zip"
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        assert len(names) == len(set(names)), "a file is in the zip twice"
        zf.extractall(tmp_path / "unpacked")
    top = tmp_path / "unpacked" / zip_path.stem
    # The source tree, file for file, and its README's two commands are the repository's.
    for name in package.source_files(cfg.root_dir):
        assert (top / name).is_file(), name
    for stage in ("jobs/bronze", "jobs/silver", "jobs/gold", "jobs/ml", "data", "docs", "notebooks"):
        assert any((top / stage).iterdir()), stage
    assert readme_commands(top) == readme_commands(cfg.root_dir) == ["make demo", "make test"]
    for name in package.VIDEO_FILES:
        assert (top / "video" / name).stat().st_size > 0, name
    # Every deliverable's files are there and non-empty, and the evidence README lists each.
    assert evidence.check(top / "evidence") == []
    readme = (top / "evidence" / "README.md").read_text()
    for item in evidence.DELIVERABLES:
        assert item.what in readme
    listed = re.findall(r"^- `([^`]+)`$", readme, re.M)
    assert listed and all((top / "evidence" / rel).is_file() for rel in listed)
    samples = (top / "evidence" / "samples" / "index.csv").read_text().splitlines()
    assert any(line.startswith("gold.customer_features,gold,") for line in samples)
    assert "customerID" in (top / "evidence" / "samples" / "bronze.crm_customers.csv").read_text().splitlines()[0]
    nb = json.loads((top / "evidence" / "eda" / "eda.executed.ipynb").read_text())
    assert any(o.get("output_type") == "display_data" for c in nb["cells"] for o in c.get("outputs", []))


def test_a_failing_job_exits_non_zero_with_one_readable_line(tmp_path):
    env = pipeline_env(tmp_path)  # no inbox folder: the CRM job must fail
    res = luigi("SilverCustomers", env)
    assert res.returncode == 30, res.stdout[-2000:]  # [retcode] task_failed
    summary = res.stdout + res.stderr
    assert "BronzeCrm" in summary and "were left pending" in summary  # dependants never ran
    assert not (tmp_path / "lakehouse" / "silver").exists()
    job = run(["./spark-submit.sh",
               "jobs/bronze/ingest_crm.py", "--run-date", RUN_DATE], env)
    assert job.returncode == 1
    last = failed_line(job)
    assert "FAILED after" in last and "FileNotFoundError: the CRM inbox" in last


def test_a_critical_validation_failure_stops_the_dag_before_silver(tmp_path):
    env = pipeline_env(tmp_path)
    # A truncated export: the header is complete, but every line lost its "gender" field.
    header, *rows = TELCO_CSV.read_text().splitlines()[:31]
    cut = [",".join(line.split(",")[:1] + line.split(",")[2:]) for line in rows]
    (tmp_path / "inbox" / "crm").mkdir(parents=True)
    (tmp_path / "inbox" / "crm" / "export.csv").write_text("\n".join([header, *cut]) + "\n")
    res = luigi("SilverCustomers", env)
    assert res.returncode == 30, res.stdout[-3000:]
    summary = res.stdout + res.stderr
    assert "ValidateBronze" in summary and "were left pending" in summary
    assert "SilverCustomers" in summary.split("were left pending")[1]
    assert not (tmp_path / "lakehouse" / "silver").exists()
    log = (tmp_path / "logs" / "validate_bronze.log").read_text()
    failed = [line for line in log.splitlines() if "FAILED after" in line][-1]
    assert "ValidationStopped" in failed and "bronze.crm_customers" in failed
    assert "broken_lines_share" in failed and "30 of 30 rows unexpected" in failed
    # Nothing lost: every line is in bronze, its raw text kept as the rescued data.
    cfg = load_config(environ=env)
    report = (cfg.reports_dir / "quality" / RUN_DATE / "report.html").read_text()
    assert "stopped" in report and "broken_lines_share" in report
    ingest = [json.loads(line) for line in (tmp_path / "logs" / "ingestion.log").read_text().splitlines()]
    assert (ingest[-1]["rows_read"], ingest[-1]["rows_written"], ingest[-1]["rows_rejected"]) == (30, 30, 0)
