"""EDA functions on tiny hand-built pandas frames; values checked against hand counts."""

from __future__ import annotations

import datetime as dt
import json
import math

import pandas as pd
import pytest

from churnlake import eda
from churnlake.config import PROJECT_ROOT

# Eight customers with a known label plus one whose label is unknown.
#   contract m2m: 4 customers, 3 churned -> 75%; 1y: 2, 1 churned -> 50%;
#   2y: 1, 0 churned -> 0%; missing: 1, 0 churned -> 0%.
CONTRACT = ["m2m", "m2m", "m2m", "m2m", "1y", "1y", "2y", None, "2y"]
CHURN = [True, True, False, True, False, True, False, False, None]


def customers() -> pd.DataFrame:
    """A frame shaped like silver.customers (after toPandas), with every kind of column."""
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(9)],
        "gender": ["f", "f", "m", "f", "m", "f", "m", None, "m"],
        "senior_citizen": [True, False, False, False, True, False, False, False, False],
        "tenure_months": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "monthly_charges": [10.0, 20.0, 30.0, None, 50.0, 60.0, 70.0, 80.0, 90.0],
        "contract": CONTRACT,
        "churn": pd.Series(CHURN, dtype=object),  # a nullable boolean comes out of toPandas as object
        "_batch_id": ["b"] * 9,
        "_ingested_at": pd.Timestamp("2026-11-27"),
    })


def test_columns_are_picked_by_dtype_and_lineage_id_and_label_are_left_out():
    df = customers().assign(signed_up=pd.Timestamp("2020-01-01"))
    roles = eda.column_roles(df)
    assert roles.numeric == ("tenure_months", "monthly_charges")
    assert roles.categorical == ("gender", "senior_citizen", "contract")
    assert roles.label == "churn"
    assert set(roles.ignored) == {"customer_id", "_batch_id", "_ingested_at", "signed_up"}


def test_label_must_be_boolean_or_zero_one():
    assert eda.label_as_float(pd.DataFrame({"churn": [1, 0, None]})).tolist()[:2] == [1.0, 0.0]
    with pytest.raises(ValueError, match="booleans or 0/1, found 'No', 'Yes'"):
        eda.label_as_float(pd.DataFrame({"churn": ["Yes", "No"]}))
    with pytest.raises(ValueError, match="label column 'churn' is not in the frame"):
        eda.compute_tables(pd.DataFrame({"x": [1.0]}))


def test_summary_numeric_counts_nulls_and_quartiles():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, None], "churn": [True, False, True, False, True]})
    row = eda.summary_numeric(df).set_index("column").loc["x"]
    assert (row["count"], row["nulls"], row["null_share"]) == (4, 1, 0.2)
    assert (row["mean"], row["min"], row["max"]) == (2.5, 1.0, 4.0)
    # linear interpolation: q1 at position 0.75 between 1 and 2, q3 at 2.25 between 3 and 4
    assert (row["q1"], row["median"], row["q3"]) == (1.75, 2.5, 3.25)
    assert row["std"] == pytest.approx(math.sqrt(5 / 3))  # sample std: (2.25+.25+.25+2.25)/3


def test_summary_categorical_counts_distinct_top_and_null_share():
    table = eda.summary_categorical(customers()).set_index("column")
    gender = table.loc["gender"]
    assert (gender["count"], gender["nulls"], gender["distinct"]) == (8, 1, 2)
    assert (gender["top"], gender["top_count"]) == ("f", 4)
    assert gender["null_share"] == pytest.approx(1 / 9)
    # The label is summarised too: 4 False, 4 True, a tie broken by the value's text.
    assert (table.loc["churn", "top"], table.loc["churn", "top_count"], table.loc["churn", "nulls"]) == ("False", 4, 1)


def test_churn_rate_per_category_equals_a_hand_count():
    rates = eda.churn_rate_by_category(customers())
    contract = rates[rates["column"] == "contract"].set_index("category")
    assert contract["customers"].to_dict() == {"m2m": 4, "1y": 2, "2y": 1, "(missing)": 1}
    assert contract["churned"].to_dict() == {"m2m": 3, "1y": 1, "2y": 0, "(missing)": 0}
    assert contract.loc["m2m", "churn_rate"] == 0.75
    assert contract.loc["1y", "churn_rate"] == 0.5
    assert contract.loc["m2m", "share"] == 0.5  # 4 of the 8 customers with a known label
    assert list(contract.index[:2]) == ["m2m", "1y"]  # highest churn rate first
    senior = rates[rates["column"] == "senior_citizen"].set_index("category")
    assert senior.loc["True", "churn_rate"] == 0.5  # customers 0 (churned) and 4 (stayed)
    assert eda.churn_rate(customers()) == 0.5  # 4 of 8 known labels


def test_a_column_with_too_many_distinct_values_gets_no_churn_rate():
    df = customers().assign(note=[f"free text {i}" for i in range(9)])
    rates = eda.churn_rate_by_category(df, max_categories=5)
    assert "note" not in set(rates["column"])
    assert "contract" in set(rates["column"])


def test_iqr_and_zscore_find_the_planted_outlier():
    # 1..19 and a planted 100: q1 = 5.75, q3 = 15.25, IQR = 9.5, upper fence = 29.5.
    # mean 14.5, sample std sqrt(8265/19) = 20.86, so z(100) = 4.1 and z(1) = 0.65.
    df = pd.DataFrame({"x": [*range(1, 20), 100], "y": [float(v) for v in range(20)], "churn": [False] * 20})
    out = eda.outlier_summary(df).set_index("column")
    x = out.loc["x"]
    assert (x["q1"], x["q3"], x["iqr"], x["upper_fence"], x["lower_fence"]) == (5.75, 15.25, 9.5, 29.5, -8.5)
    assert (x["below"], x["above"], x["iqr_outliers"], x["zscore_outliers"]) == (0, 1, 1, 1)
    assert x["iqr_outlier_share"] == 0.05
    assert (out.loc["y", "iqr_outliers"], out.loc["y", "zscore_outliers"]) == (0, 0)
    with pytest.raises(ValueError, match="must be positive"):
        eda.outlier_summary(df, k=0)


def test_correlations_include_the_label():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "churn": [False, False, True, True]})
    corr = eda.correlations(df)
    assert list(corr.columns) == ["x", "churn"]
    assert corr.loc["x", "churn"] == pytest.approx(2 / math.sqrt(5))  # cov 2/3 / (sqrt(5/3) * sqrt(1/3))


def test_plots_have_one_panel_per_column():
    df = customers()
    assert len([ax for ax in eda.plot_histograms(df).axes if ax.get_visible()]) == 2
    assert len([ax for ax in eda.plot_boxplots(df).axes if ax.get_visible()]) == 2
    rates = eda.churn_rate_by_category(df)
    assert len([ax for ax in eda.plot_churn_rates(rates, 0.5).axes if ax.get_visible()]) == 3
    with pytest.raises(ValueError, match="rates lacks columns: churn_rate"):
        eda.plot_churn_rates(rates.drop(columns="churn_rate"))


def test_write_report_writes_every_file_and_one_page_that_references_them(tmp_path):
    out = tmp_path / "eda" / "2026-11-27"
    files = eda.write_report(customers(), out, delta_version=7, location="file:///lake/silver/customers",
                             run_date=dt.date(2026, 11, 27),
                             generated_at=dt.datetime(2026, 11, 27, 6, 30, tzinfo=dt.timezone.utc))
    names = {p.name for p in out.iterdir()}
    assert names == {"index.html", *eda.PLOT_FILES, *eda.TABLE_FILES} == set(files)
    html = (out / "index.html").read_text(encoding="utf-8")
    for name in (*eda.PLOT_FILES, *eda.TABLE_FILES):
        assert f'href="{name}"' in html, name
    assert html.count('src="data:image/png;base64,') == len(eda.PLOT_FILES)
    assert '<dd id="delta-version">7</dd>' in html
    assert '<dd id="row-count">9</dd>' in html
    assert '<dd id="generated-at">2026-11-27T06:30:00+00:00</dd>' in html
    assert "<td>m2m</td>" in html and "75.0%" in html  # the churn-rate table is on the page
    assert (out / "histograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def header(name):
        return list(pd.read_csv(out / name, nrows=0).columns)

    assert header("summary_numeric.csv") == ["column", "count", "nulls", "null_share", "mean", "std",
                                             "min", "q1", "median", "q3", "max"]
    assert header("summary_categorical.csv") == ["column", "count", "nulls", "null_share", "distinct",
                                                 "top", "top_count", "top_share"]
    assert header("churn_rate_by_category.csv") == ["column", "category", "customers", "churned",
                                                    "churn_rate", "share"]
    assert header("outliers.csv")[:2] == ["column", "count"]
    assert {"iqr_outliers", "iqr_outlier_share", "zscore_outliers"} <= set(header("outliers.csv"))
    corr = pd.read_csv(out / "correlations.csv", index_col="column")
    assert list(corr.index) == list(corr.columns) == ["tenure_months", "monthly_charges", "churn"]


def test_a_second_report_replaces_the_first_whole(tmp_path):
    out = tmp_path / "report"
    eda.write_report(customers(), out, delta_version=1)
    (out / "stale.txt").write_text("from an older report")
    eda.write_report(customers(), out, delta_version=2)
    assert not (out / "stale.txt").exists()
    assert '<dd id="delta-version">2</dd>' in (out / "index.html").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no partial/old folders left


def test_an_empty_frame_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no rows to analyse"):
        eda.write_report(customers().iloc[0:0], tmp_path / "r")


def test_report_dir_is_under_reports_dir_by_run_date(cfg):
    assert eda.report_dir(cfg, dt.date(2026, 11, 27)) == cfg.reports_dir / "eda" / "2026-11-27"


def test_the_committed_notebook_has_no_outputs_and_uses_the_library():
    nb = json.loads((PROJECT_ROOT / "notebooks" / "eda.ipynb").read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code), "clear the outputs"
    source = "\n".join("".join(c["source"]) for c in code)
    assert "from churnlake import eda" in source and "eda.write_report(" in source
    assert "def " not in source  # no logic of its own: everything comes from churnlake.eda
