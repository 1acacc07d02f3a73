"""The EDA job through ./spark-submit.sh and the EDA notebook, on a tiny silver.customers.

The table is built from the first rows of the bundled Telco CSV with the silver transform
and committed twice, so the version read (1) differs from Delta's default first version.
"""

from __future__ import annotations

import datetime as dt

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from pyspark.sql import functions as F

from churnlake import eda, tables
from churnlake.config import PROJECT_ROOT, load_config
from churnlake.delta import overwrite_table
from churnlake.jobrun import commit_metadata
from churnlake.transforms.silver import type_crm_customers
from tests.conftest import TELCO_CSV
from tests.integration.helpers import pipeline_env, run

pytestmark = pytest.mark.integration
RUN_DATE = "2026-11-27"
ROWS = 120


@pytest.fixture(scope="module")
def silver_lakehouse(tmp_path_factory, spark):
    """A temporary lakehouse holding a 120-customer silver.customers at Delta version 1."""
    base = tmp_path_factory.mktemp("eda")
    env = pipeline_env(base)
    cfg = load_config(environ=env)
    raw = pd.read_csv(TELCO_CSV, dtype=str, keep_default_na=False).head(ROWS)
    bronze = (spark.createDataFrame(raw)
              .withColumn("_ingested_at", F.lit("2026-11-27 06:00:00").cast("timestamp"))
              .withColumn("_batch_id", F.lit(f"crm-customers-{RUN_DATE}")))
    silver = type_crm_customers(bronze)
    for _ in range(2):
        overwrite_table(silver, tables.SILVER_CUSTOMERS, cfg,
                        metadata=commit_metadata("silver_customers", dt.date.fromisoformat(RUN_DATE)))
    return base, env, raw


def expected_contract_rates(raw: pd.DataFrame) -> dict[str, float]:
    """Churn rate per contract counted on the raw CSV rows, independently of churnlake."""
    churned = raw["Churn"].str.strip().eq("Yes")
    return churned.groupby(raw["Contract"].str.strip()).mean().to_dict()


def check_report(out, raw: pd.DataFrame) -> None:
    assert {p.name for p in out.iterdir()} == {eda.INDEX, *eda.PLOT_FILES, *eda.TABLE_FILES}
    html = (out / eda.INDEX).read_text(encoding="utf-8")
    assert '<dd id="delta-version">1</dd>' in html
    assert f'<dd id="row-count">{ROWS}</dd>' in html
    assert "silver.customers" in html
    rates = pd.read_csv(out / "churn_rate_by_category.csv")
    contract = rates[rates["column"] == "contract"].set_index("category")["churn_rate"].to_dict()
    assert contract == pytest.approx(expected_contract_rates(raw))
    numeric = pd.read_csv(out / "summary_numeric.csv").set_index("column")
    assert set(numeric.index) == {"tenure_months", "monthly_charges", "total_charges"}
    assert numeric.loc["tenure_months", "max"] == raw["tenure"].astype(int).max()


def test_job_writes_the_report_for_the_run_date(silver_lakehouse):
    base, env, raw = silver_lakehouse
    res = run(["./spark-submit.sh", "jobs/eda/customers.py", "--run-date", RUN_DATE], env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    check_report(base / "reports" / "eda" / RUN_DATE, raw)
    log = (base / "logs" / "eda_customers.log").read_text(encoding="utf-8")
    assert f"END status=ok rows_in={ROWS}" in log and '"delta_version": 1' in log


def test_notebook_runs_headless_and_writes_the_same_report(silver_lakehouse):
    base, env, raw = silver_lakehouse
    env = {**env, "CHURNLAKE__REPORTS_DIR": str(base / "notebook_reports"), "CHURNLAKE_EDA_RUN_DATE": RUN_DATE}
    nb = nbformat.read(PROJECT_ROOT / "notebooks" / "eda.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(PROJECT_ROOT / "notebooks")}})
    client.execute(env=env)  # raises CellExecutionError naming the cell if any cell fails
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4, "the four plots are shown inline"
    check_report(base / "notebook_reports" / "eda" / RUN_DATE, raw)
