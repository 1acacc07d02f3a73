"""Sample queries: variables are bound as parameters, never spliced into the text."""

import pytest

from churnlake.serving.queries import bound_query
from churnlake.versioning.filters import checked_filter


def test_a_quoted_variable_becomes_a_placeholder():
    sql, names = bound_query("customer_features.sql")
    assert names == ["customer_id"]
    assert "WHERE customer_id = %(customer_id)s" in sql and "${" not in sql and not sql.endswith(";")


def test_a_value_with_quotes_stays_one_literal_when_the_driver_formats_it():
    from pyhive.hive import HiveParamEscaper

    sql, _ = bound_query("customer_features.sql")
    formatted = sql % HiveParamEscaper().escape_args({"customer_id": "x' OR '1'='1"})
    assert "customer_id = 'x\\' OR \\'1\\'=\\'1'" in formatted


def test_unknown_files_and_unquoted_variables_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no query"):
        bound_query("../../etc/passwd")
    (tmp_path / "bad.sql").write_text("SELECT * FROM t LIMIT ${n}")
    with pytest.raises(ValueError, match="not inside quotes"):
        bound_query("bad.sql", tmp_path)


@pytest.mark.parametrize("text", ["customer_id = 'a'", "churned = 1 AND as_of_date >= '2026-11-01'",
                                  "monthly_charges BETWEEN 20 AND 70"])
def test_a_plain_filter_is_accepted(text):
    assert checked_filter(text) == text


@pytest.mark.parametrize("text, cause", [
    ("1=1; DROP TABLE gold.customer_features", "one expression"),
    ("customer_id = 'a' -- comment", "comment"),
    ("customer_id IN (SELECT customer_id FROM gold.churn_labels)", "subquer"),
    ("", "empty"),
])
def test_statements_comments_and_subqueries_are_refused(text, cause):
    with pytest.raises(ValueError, match=cause):
        checked_filter(text)
