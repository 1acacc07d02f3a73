"""Parse Apache combined-format access-log lines in Spark.

The customer id travels in the *authuser* field (the third field; ``-`` when the request
was anonymous). A line that cannot be parsed keeps its raw text and gets a reason in
``_reject_reason``; callers route such rows to quarantine.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

#: A quoted field is any run of characters other than a quote or a backslash, with
#: backslash escapes (``\"``, ``\\``) between such runs. Written as the "unrolled loop"
#: ``[^"\\]*(?:\\.[^"\\]*)*``: the same strings as the alternation ``(?:[^"\\]|\\.)*`` it
#: replaced on 2026-12-07, but Java's regex engine takes a plain run in one greedy loop
#: instead of entering a group for every character, which halved the parse (10.1 s against
#: 21.2 s for 2.7 M lines of the M logs on the engine; docs/benchmarks.md).
QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
# ip ident authuser [ts] "method path protocol" status bytes "referer" "user-agent"
COMBINED_LOG_PATTERN = (
    r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) ' + QUOTED + " " + QUOTED + "$"
)
TIMESTAMP_FORMAT = "dd/MMM/yyyy:HH:mm:ss Z"
FIELDS = ("client_ip", "ident", "authuser", "request_ts", "method", "path", "protocol",
          "status", "bytes", "referer", "user_agent")


def _dash_to_null(col: Column) -> Column:
    return F.when(col == "-", F.lit(None)).otherwise(col)


#: Joins the captured groups of one match (a line holding it takes the per-field path).
_SEP = "\u0001"
_GROUPS = _SEP.join(f"${i}" for i in range(1, len(FIELDS) + 1))


def parse_access_log(lines: DataFrame, line_col: str = "value", pattern: str = COMBINED_LOG_PATTERN) -> DataFrame:
    """Split each line into typed fields; add ``_reject_reason`` (null when parsed).

    One regular-expression match per line: ``regexp_replace`` rewrites a matching line into its
    eleven groups joined by U+0001, and one literal ``split`` gives them back (a line that does
    not match comes back unchanged, without the separator). Before 2026-12-02 every field was
    a ``regexp_extract`` of its own, plus an ``rlike``: twelve matches per line. Only a line
    that contains U+0001 itself is still matched per field, so the result is the same for
    every line.

    ``pattern``: the line format with its eleven groups (the benchmark passes the older form).

    Output columns: ``raw_line``, ``client_ip``, ``customer_id``, ``request_ts`` (as
    received), ``event_time`` (UTC timestamp), ``method``, ``path``, ``protocol``,
    ``status``, ``bytes``, ``referer``, ``user_agent``, ``_reject_reason`` and any other
    input columns.
    """
    if line_col not in lines.columns:
        raise ValueError(f"input has no column {line_col!r}")
    others = [c for c in lines.columns if c != line_col]
    raw = F.col(line_col)
    groups = F.split(F.regexp_replace(raw, pattern, _GROUPS), _SEP)
    # A line that holds the separator itself cannot be split back: for those (none in practice)
    # the per-field extraction decides, so the result is the same for every line.
    has_sep = F.coalesce(F.instr(raw, _SEP) > 0, F.lit(False))
    staged = lines.select(raw.alias("raw_line"), has_sep.alias("_has_sep"),
                          F.when(has_sep, raw.rlike(pattern))
                          .otherwise(F.size(groups) == len(FIELDS)).alias("_matched"),
                          groups.alias("_groups"), *others)
    matched, line, slow = F.col("_matched"), F.col("raw_line"), F.col("_has_sep")
    # Like regexp_extract: the group of a matching line, "" for a line that does not match, null for null.
    parts = {name: F.when(line.isNull(), F.lit(None).cast("string"))
             .when(slow, F.regexp_extract(line, pattern, i + 1))
             .when(matched, F.col("_groups")[i]).otherwise(F.lit("")) for i, name in enumerate(FIELDS)}
    event_time = F.try_to_timestamp(parts["request_ts"], F.lit(TIMESTAMP_FORMAT))
    reason = (F.when(line.isNull() | (F.trim(line) == ""), F.lit("empty line"))
              .when(~matched, F.lit("does not match the Apache combined log format"))
              .when(event_time.isNull(), F.concat(F.lit("unparseable timestamp: "), parts["request_ts"]))
              .otherwise(F.lit(None).cast("string")))
    return staged.select(
        line.alias("raw_line"),
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
