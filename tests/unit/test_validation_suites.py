"""Expectation-suite files, row predicates, anomaly checks and the report (no full runs)."""

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from churnlake.config import PROJECT_ROOT
from churnlake.tables import VALIDATED_TABLES
from churnlake.validation.report import write_report
from churnlake.validation.runner import CheckResult, count_failing, run_checks, status_of
from churnlake.validation.suites import (Check, failing_rows, load_suite, null_share_checks, outlier_check, parse_suite,
                                         row_count_check, suite_path, to_expectation)

CONF = PROJECT_ROOT / "conf"


@pytest.mark.parametrize("table", [t.name for t in VALIDATED_TABLES])
def test_every_validated_table_has_a_loadable_suite(table):
    suite = load_suite(suite_path(CONF, table))
    assert suite.table == table
    assert any(c.severity == "critical" for c in suite.checks)
    assert any(c.resolution == "quarantine" for c in suite.checks)
    for check in suite.checks:
        to_expectation(check)  # GE knows every expectation and accepts its kwargs


def test_suite_rejects_a_severity_with_the_wrong_resolution():
    raw = {"table": "bronze.x", "checks": [
        {"id": "a", "expect": "expect_column_values_to_not_be_null", "kwargs": {"column": "c"},
         "severity": "critical", "resolution": "quarantine"}]}
    with pytest.raises(ValueError, match="critical check resolves by one of"):
        parse_suite(raw, "x.yaml")


def test_suite_rejects_quarantine_on_a_table_level_expectation():
    raw = {"table": "bronze.x", "checks": [
        {"id": "a", "expect": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1},
         "severity": "warning", "resolution": "quarantine"}]}
    with pytest.raises(ValueError, match="row-level expectation"):
        parse_suite(raw, "x.yaml")


def test_suite_rejects_duplicate_ids_and_unknown_expectations():
    check = {"id": "a", "expect": "expect_column_values_to_not_be_null", "kwargs": {"column": "c"},
             "severity": "warning", "resolution": "flag"}
    with pytest.raises(ValueError, match="duplicate check id"):
        parse_suite({"table": "bronze.x", "checks": [check, check]})
    with pytest.raises(ValueError, match="no expectation"):
        to_expectation(Check("b", "expect_the_moon", {}, "warning", "flag"))


def test_row_count_check_needs_history_and_uses_the_median():
    spec = {"history": 3, "min_history": 3, "tolerance": 0.5}
    assert row_count_check(spec, [100, 100]) is None
    check = row_count_check(spec, [5, 100, 120, 80])  # last 3: median 100
    assert check.kwargs == {"min_value": 50, "max_value": 151}
    assert check.severity == "warning" and check.resolution == "flag"


def test_null_share_checks_allow_recent_mean_plus_tolerance():
    checks = null_share_checks({"columns": ["a", "b"], "tolerance": 0.05}, [{"a": 0.1}, {"a": 0.3}])
    assert [c.kwargs for c in checks] == [{"column": "a", "mostly": 0.75}]  # b has no history


def test_outlier_check_uses_tukey_fences():
    check = outlier_check("x", 10.0, 20.0, 3.0)
    assert check.kwargs == {"column": "x", "min_value": -20.0, "max_value": 50.0}


ROWS = [("a", 1, "x"), ("b", None, "y"), ("b", -3, "zz"), (None, 500, "x"), ("e", 7, None)]
CHECKS = [
    Check("id_present", "expect_column_values_to_not_be_null", {"column": "id"}, "warning", "quarantine"),
    Check("n_range", "expect_column_values_to_be_between", {"column": "n", "min_value": 0, "max_value": 100},
          "warning", "quarantine"),
    Check("c_set", "expect_column_values_to_be_in_set", {"column": "c", "value_set": ["x", "y"]},
          "warning", "quarantine"),
    Check("c_regex", "expect_column_values_to_match_regex", {"column": "c", "regex": "^[a-z]$"},
          "warning", "quarantine"),
    Check("id_unique", "expect_column_values_to_be_unique", {"column": "id"}, "warning", "deduplicate"),
    Check("ids_mostly", "expect_column_values_to_not_be_null", {"column": "id", "mostly": 0.5},
          "critical", "stop"),
]


def test_spark_predicates_count_what_great_expectations_counts(spark):
    df = spark.createDataFrame(ROWS, "id string, n int, c string")
    ge = {r.check.id: r for r in run_checks(df, CHECKS, name="tiny")}
    ours = count_failing(df, CHECKS)
    assert ours == {"id_present": 1, "n_range": 2, "c_set": 1, "c_regex": 1}
    for check_id, count in ours.items():
        assert ge[check_id].unexpected_count == count, check_id
    assert ge["id_unique"].unexpected_count == 2 and not ge["id_unique"].success
    assert "b" in ge["id_unique"].sample_values  # no row predicate: GE's own samples (second pass)
    # Samples of the checks with unexpected rows, from the one sample query; none for passing checks.
    assert sorted(ge["n_range"].sample_values) == ["-3", "500"]
    assert ge["c_set"].sample_values == ["zz"] and ge["id_present"].sample_values == ["null"]
    assert ge["ids_mostly"].sample_values == ["null"]  # passed by `mostly`, its unexpected row still shown
    assert ge["ids_mostly"].success  # 4 of 5 ids present >= 50 %
    assert status_of(list(ge.values())) == "warned"


def test_a_failed_critical_check_or_an_error_stops_the_run(spark):
    df = spark.createDataFrame(ROWS, "id string, n int, c string")
    strict = Check("ids_all", "expect_column_values_to_not_be_null", {"column": "id", "mostly": 0.99},
                   "critical", "stop")
    missing = Check("ghost", "expect_column_values_to_not_be_null", {"column": "ghost"}, "warning", "flag")
    results = run_checks(df, [strict, missing], name="tiny2")
    assert status_of(results[:1]) == "stopped"
    assert results[1].error and status_of(results[1:]) == "stopped"


def test_report_writes_csv_html_and_pdf(tmp_path: Path):
    check = Check("n_range", "expect_column_values_to_be_between", {"column": "n"}, "warning", "quarantine",
                  "n within 0..100")
    res = CheckResult(check, success=False, element_count=5, unexpected_count=2, unexpected_percent=40.0,
                      sample_values=["-3", "500"])
    from churnlake.validation.store import result_rows
    from churnlake.tables import BRONZE_CRM_CUSTOMERS
    day = dt.date(2026, 11, 27)
    results = pd.DataFrame(result_rows("crm_customers-2026-11-27", day, BRONZE_CRM_CUSTOMERS, [res],
                                       dt.datetime(2026, 11, 27, 1)),
                           columns=["run_id", "run_date", "table_name", "check_id", "expectation", "column_name",
                                    "severity", "success", "element_count", "unexpected_count",
                                    "unexpected_percent", "sample_values", "observed_value", "resolution",
                                    "description", "error", "validated_at"])
    runs = pd.DataFrame([{"run_id": "crm_customers-2026-11-27", "table_name": "bronze.crm_customers",
                          "status": "warned", "batch_ids": ["b1"], "rows_in": 5, "rows_passed": 3,
                          "rows_quarantined": 2, "rows_blocked": 0, "checks": 1, "checks_failed": 1,
                          "duration_s": 1.5}])
    paths = write_report(tmp_path, day, runs, results)
    csv = pd.read_csv(paths["csv"])
    assert csv.loc[0, "resolution"] == "quarantined" and csv.loc[0, "sample_values"] == "-3|500"
    html = paths["html"].read_text()
    assert "n_range" in html and "quarantined" in html and "warned" in html
    assert paths["pdf"].read_bytes().startswith(b"%PDF") and paths["pdf"].stat().st_size > 1000
    assert pd.read_csv(paths["runs_csv"]).loc[0, "rows_quarantined"] == 2


@pytest.mark.parametrize("table", ["bronze.crm_customers", "bronze.web_access_logs"])
def test_customer_id_format_accepts_telco_and_synthetic_ids_only(spark, table):
    """The demo's populations above 7,043 customers add SYN-nnnnnn ids; they must reach silver."""
    check = next(c for c in load_suite(suite_path(CONF, table)).checks if c.id == "customer_id_format")
    ids = ["7590-VHVEG", "SYN-000123", "SYN-12", "7590-vhveg", "x7590-VHVEG", "SYN-0001234"]
    df = spark.createDataFrame([(i,) for i in ids], f"{check.kwargs['column']} string")
    failing = [r[0] for r in df.where(failing_rows(check)).collect()]
    assert failing == ids[2:]
