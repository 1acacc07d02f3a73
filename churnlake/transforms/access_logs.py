"""Parse Apache combined-format access-log lines in Spark.

The customer id travels in the *authuser* field (the third field; ``-`` when the request
was anonymous). A line that cannot be parsed keeps its raw text and gets a reason in
``_reject_reason``; callers route such rows to quarantine.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# ip ident authuser [ts] "method path protocol" status bytes "referer" "user-agent"
COMBINED_LOG_PATTERN = (
    r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$'
)
TIMESTAMP_FORMAT = "dd/MMM/yyyy:HH:mm:ss Z"
FIELDS = ("client_ip", "ident", "authuser", "request_ts", "method", "path", "protocol",
          "status", "bytes", "referer", "user_agent")


def _dash_to_null(col: Column) -> Column:
    return F.when(col == "-", F.lit(None)).otherwise(col)


def parse_access_log(lines: DataFrame, line_col: str = "value") -> DataFrame:
    """Split each line into typed fields; add ``_reject_reason`` (null when parsed).

    Output columns: ``raw_line``, ``client_ip``, ``customer_id``, ``request_ts`` (as
    received), ``event_time`` (UTC timestamp), ``method``, ``path``, ``protocol``,
    ``status``, ``bytes``, ``referer``, ``user_agent``, ``_reject_reason`` and any other
    input columns.
    """
    if line_col not in lines.columns:
        raise ValueError(f"input has no column {line_col!r}")
    raw = F.col(line_col)
    matched = raw.rlike(COMBINED_LOG_PATTERN)
    parts = {name: F.regexp_extract(raw, COMBINED_LOG_PATTERN, i + 1) for i, name in enumerate(FIELDS)}
    event_time = F.try_to_timestamp(parts["request_ts"], F.lit(TIMESTAMP_FORMAT))
    reason = (F.when(raw.isNull() | (F.trim(raw) == ""), F.lit("empty line"))
              .when(~matched, F.lit("does not match the Apache combined log format"))
              .when(event_time.isNull(), F.concat(F.lit("unparseable timestamp: "), parts["request_ts"]))
              .otherwise(F.lit(None).cast("string")))
    others = [c for c in lines.columns if c != line_col]
    return lines.select(
        raw.alias("raw_line"),
        _dash_to_null(parts["client_ip"]).alias("client_ip"),
        _dash_to_null(parts["authuser"]).alias("customer_id"),
        parts["request_ts"].alias("request_ts"),
        event_time.alias("event_time"),
        parts["method"].alias("method"),
        parts["path"].alias("path"),
        parts["protocol"].alias("protocol"),
        parts["status"].try_cast("int").alias("status"),
        _dash_to_null(parts["bytes"]).try_cast("long").alias("bytes"),
        _dash_to_null(parts["referer"]).alias("referer"),
        parts["user_agent"].alias("user_agent"),
        *others,
        reason.alias("_reject_reason"),
    )
