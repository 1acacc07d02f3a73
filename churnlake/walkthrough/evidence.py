"""The ``evidence/`` folder of a release: what one real demo run produced, gathered in one place.

    python -m churnlake.walkthrough.evidence --run-date 2026-11-27 --out dist/evidence

Everything is copied from where the run left it or produced by the project's own commands
(the samples and Delta listings through ``./spark-submit.sh``, so through the engine when it
runs); nothing is written by hand. :data:`DELIVERABLES` maps each deliverable of the problem
formulation (docs/problem_formulation.md) to its files; :func:`collect` fails naming every
deliverable whose files are missing or empty, so a package is never built on a half run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from churnlake.config import Config, load_config
from churnlake.storage import filestore_for

log = logging.getLogger(__name__)

#: Tables whose Delta history and tags the evidence lists.
HISTORY_TABLES = ("bronze.crm_customers", "silver.customers", "gold.customer_features", "gold.churn_predictions")


@dataclass(frozen=True)
class Deliverable:
    what: str
    files: tuple[str, ...]  # paths below evidence/ (a trailing / = a folder that must not be empty)


DELIVERABLES = (
    Deliverable("Ingestion log (one JSON line per source entity per batch)", ("ingestion.log",)),
    Deliverable("Data-quality report (CSV, HTML, PDF)",
                ("data-quality/report.csv", "data-quality/report.html", "data-quality/report.pdf")),
    Deliverable("EDA plots and summary statistics",
                ("eda/index.html", "eda/histograms.png", "eda/summary_numeric.csv", "eda/summary_categorical.csv")),
    Deliverable("EDA notebook, executed (outputs included)", ("eda/eda.executed.ipynb",)),
    Deliverable("Model report and versioned model files (scikit-learn .pkl, MLlib folder)",
                ("model/report.md", "model/report.html", "model/*/model.pkl", "model/*/mllib_model/")),
    Deliverable("Samples of bronze, silver and gold tables (CSV) with row counts",
                ("samples/index.csv", "samples/bronze.crm_customers.csv", "samples/silver.customers.csv",
                 "samples/gold.customer_features.csv")),
    Deliverable("Dataset versions: Delta history and tags",
                ("versions/tags.txt", *(f"versions/history-{t}.txt" for t in HISTORY_TABLES))),
    Deliverable("Run dashboard and run records", ("dashboard/dashboard.html", "dashboard/summary.json",
                                                   "logs/task_runs.jsonl", "logs/job_runs.jsonl")),
    Deliverable("Screenshots of the UIs and reports", ("screenshots/",)),
    Deliverable("The lakehouse's folder structure (python -m churnlake.walkthrough.layout)", ("storage_layout.txt",)),
)


class EvidenceError(RuntimeError):
    """A deliverable's files are missing: the message names each one and where it comes from."""


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    elif src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def _copy_uri_tree(uri: str, dst: Path, cfg: Config) -> None:
    """Copy a model file or folder from the lakehouse (local or HDFS) to ``dst``."""
    store = filestore_for(uri, cfg)
    children = store.list(uri)
    if not children:
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(store.read_bytes(uri))
        return
    for name in children:
        _copy_uri_tree(f"{uri.rstrip('/')}/{name}", dst / name, cfg)


def _submit(cfg: Config, args: list[str], out: Path | None = None, env: dict | None = None) -> str:
    """Run a job through ./spark-submit.sh (the engine when it runs); its stdout."""
    cmd = [str(cfg.root_dir / "spark-submit.sh"), *args]
    res = subprocess.run(cmd, cwd=cfg.root_dir, capture_output=True, text=True, timeout=900,
                         env=None if env is None else {**os.environ, **env})
    if res.returncode != 0:
        raise EvidenceError(f"`{' '.join(args)}` failed (exit {res.returncode}): "
                            f"{(res.stderr.strip().splitlines() or [''])[-1]}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"$ ./spark-submit.sh {' '.join(args)}\n{res.stdout}", encoding="utf-8")
    return res.stdout


def candidate_models(cfg: Config, run_date: dt.date) -> dict[str, str]:
    """``{candidate: model file or folder URI}`` of the run date's newest training run: the
    versioned model each nested candidate run saved beside MLflow (jobs/ml/train.py)."""
    from mlflow.tracking import MlflowClient

    from churnlake.ml.settings import training_settings
    from churnlake.ml.tracking import RUN_DATE_TAG

    client = MlflowClient(tracking_uri=cfg.mlflow_tracking_uri, registry_uri=cfg.mlflow_tracking_uri)
    exp = client.get_experiment_by_name(cfg.mlflow_experiment)
    if exp is None:
        return {}
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`{RUN_DATE_TAG}` = '{run_date}'",
                              max_results=500, order_by=["attributes.start_time DESC"])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    if not parents:
        return {}
    models_dir = training_settings(cfg).models_dir
    found = {}
    for run in runs:
        if run.data.tags.get("mlflow.parentRunId") != parents[0].info.run_id:
            continue
        name = run.info.run_name.removesuffix(f"-{run_date}")
        folder = f"{models_dir}/{cfg.registered_model}/{run_date}/{run.info.run_id}/{name}"
        store = filestore_for(folder, cfg)
        for leaf in ("model.pkl", "mllib_model"):
            if store.exists(f"{folder}/{leaf}"):
                found[name] = f"{folder}/{leaf}"
    return found


def execute_notebook(cfg: Config, run_date: dt.date, out: Path, env: dict | None = None) -> None:
    """Run notebooks/eda.ipynb headless (its own report into a temporary folder) and save it with
    its outputs."""
    import tempfile

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(cfg.root_dir / "notebooks" / "eda.ipynb", as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        run_env = {**os.environ, **(env or {}), "CHURNLAKE__REPORTS_DIR": tmp,
                   "CHURNLAKE_EDA_RUN_DATE": run_date.isoformat()}
        run_env.pop("CHURNLAKE_ENGINE_REMOTE", None)
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(cfg.root_dir / "notebooks")}}).execute(env=run_env)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)


def collect(cfg: Config, run_date: dt.date, out: Path, screenshots: Path | None = None,
            notebook: bool = True, env: dict | None = None) -> list[Path]:
    """``env``: the environment of the run's configuration (``CHURNLAKE__…`` overrides), given to
    the commands it runs."""
    """Fill ``out`` with the run date's evidence; returns the files written."""
    day = run_date.isoformat()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    _copy(cfg.logs_dir / "ingestion.log", out / "ingestion.log")
    for name in ("task_runs.jsonl", "job_runs.jsonl", "alerts.log"):
        _copy(cfg.logs_dir / name, out / "logs" / name)
    for sub, dst in (("quality", "data-quality"), ("eda", "eda"), ("models", "model"), ("runs", "dashboard")):
        _copy(cfg.reports_dir / sub / day, out / dst)
    for name, uri in candidate_models(cfg, run_date).items():
        _copy_uri_tree(uri, out / "model" / name / uri.rsplit("/", 1)[1], cfg)
    _copy(screenshots or cfg.root_dir / "docs" / "screenshots", out / "screenshots")
    if cfg.lakehouse_root.startswith("file:"):
        from churnlake.walkthrough.layout import listing

        (out / "storage_layout.txt").write_text(
            "\n".join(listing(Path(cfg.lakehouse_root.removeprefix("file://")))) + "\n", encoding="utf-8")
    else:
        (out / "storage_layout.txt").write_text(f"{cfg.lakehouse_root}: list it with `hdfs dfs -ls -R`\n")
    _submit(cfg, ["jobs/monitoring/export_samples.py", "--run-date", day, "--out", str(out / "samples")], env=env)
    versions = ["jobs/versioning/versions.py"]
    _submit(cfg, [*versions, "tags"], out / "versions" / "tags.txt", env=env)
    for table in HISTORY_TABLES:
        _submit(cfg, [*versions, "history", table, "--limit", "15"], out / "versions" / f"history-{table}.txt",
                env=env)
    if notebook:
        execute_notebook(cfg, run_date, out / "eda" / "eda.executed.ipynb", env=env)
    missing = check(out)
    if missing:
        raise EvidenceError("evidence of " + day + " is incomplete: " + "; ".join(missing)
                            + " (run the demo for this date first: make demo RUN_DATE=" + day + ")")
    (out / "README.md").write_text(readme(run_date, out), encoding="utf-8")
    return sorted(p for p in out.rglob("*") if p.is_file())


def check(out: Path) -> list[str]:
    """Each deliverable file that is missing or empty, as ``"<deliverable>: <file>"``."""
    problems = []
    for item in DELIVERABLES:
        for rel in item.files:
            if not any(_non_empty(path, rel.endswith("/")) for path in out.glob(rel.rstrip("/"))):
                problems.append(f"{item.what}: {rel} missing or empty")
    return problems


def _non_empty(path: Path, folder: bool) -> bool:
    if folder:
        return path.is_dir() and any(p.is_file() and p.stat().st_size for p in path.rglob("*"))
    return path.is_file() and path.stat().st_size > 0


def readme(run_date: dt.date, out: Path) -> str:
    """evidence/README.md: each deliverable and its files, with their sizes."""
    lines = [f"# Evidence of the demo run {run_date.isoformat()}", "",
             "Produced by `make package` from a real run of `make demo` on the bundled data "
             "(docs/walkthrough.md). Every file below was written by the pipeline or by the "
             "project's own commands; none is edited by hand.", "",
             "| deliverable | files |", "| --- | --- |"]
    for item in DELIVERABLES:
        cells = []
        for rel in item.files:
            for path in sorted(out.glob(rel.rstrip("/"))):
                size = (sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir()
                        else path.stat().st_size)
                cells.append(f"`{path.relative_to(out)}` ({size:,} bytes)")
        lines.append(f"| {item.what} | {'<br>'.join(cells)} |")
    lines += ["", "Everything else in this folder (all files):", ""]
    lines += [f"- `{p.relative_to(out)}`" for p in sorted(out.rglob("*")) if p.is_file()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-date", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, default=None, help="default: dist/evidence")
    parser.add_argument("--no-notebook", action="store_true", help="do not execute the EDA notebook")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config()
    try:
        files = collect(cfg, args.run_date, args.out or cfg.root_dir / "dist" / "evidence",
                        notebook=not args.no_notebook)
    except EvidenceError as exc:
        log.error("%s", exc)
        return 1
    print(f"{len(files)} evidence files in {args.out or cfg.root_dir / 'dist' / 'evidence'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
