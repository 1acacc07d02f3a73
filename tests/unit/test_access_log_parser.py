"""The single-pass access-log parser gives exactly the fields and rejects of the parser it
replaced (one regexp_extract per field, with the pattern's older form of a quoted field), on
every line of generated demo logs with broken lines, on hand-made malformed lines and on
random lines made of the characters that decide a quoted field (quotes, backslashes)."""

import datetime as dt
import random

import pytest
from pyspark.sql import Column
from pyspark.sql import functions as F

from churnlake.transforms.access_logs import COMBINED_LOG_PATTERN, FIELDS, TIMESTAMP_FORMAT, parse_access_log

#: The pattern until 2026-12-07: a quoted field as the alternation ``(?:[^"\\]|\\.)*``.
REFERENCE_PATTERN = (
    r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$'
)


def reference_parse(lines, line_col: str = "value", pattern: str = REFERENCE_PATTERN):
    """The parser as it was until 2026-12-02 (an rlike and eleven regexp_extract per line), with
    the pattern as it was until 2026-12-07: the oracle."""
    def dash_to_null(col: Column) -> Column:
        return F.when(col == "-", F.lit(None)).otherwise(col)

    raw = F.col(line_col)
    matched = raw.rlike(pattern)
    parts = {name: F.regexp_extract(raw, pattern, i + 1) for i, name in enumerate(FIELDS)}
    event_time = F.try_to_timestamp(parts["request_ts"], F.lit(TIMESTAMP_FORMAT))
    reason = (F.when(raw.isNull() | (F.trim(raw) == ""), F.lit("empty line"))
              .when(~matched, F.lit("does not match the Apache combined log format"))
              .when(event_time.isNull(), F.concat(F.lit("unparseable timestamp: "), parts["request_ts"]))
              .otherwise(F.lit(None).cast("string")))
    others = [c for c in lines.columns if c != line_col]
    return lines.select(
        raw.alias("raw_line"), dash_to_null(parts["client_ip"]).alias("client_ip"),
        dash_to_null(parts["authuser"]).alias("customer_id"), parts["request_ts"].alias("request_ts"),
        event_time.alias("event_time"), parts["method"].alias("method"), parts["path"].alias("path"),
        parts["protocol"].alias("protocol"), parts["status"].try_cast("int").alias("status"),
        dash_to_null(parts["bytes"]).try_cast("long").alias("bytes"), dash_to_null(parts["referer"]).alias("referer"),
        parts["user_agent"].alias("user_agent"), *others, reason.alias("_reject_reason"))


GOOD = ('10.1.2.3 - 7590-VHVEG [27/Nov/2026:13:05:09 +0000] "GET /billing HTTP/1.1" 200 7012 '
        '"https://portal.telco.example/dashboard" "Mozilla/5.0 (X11)"')
MALFORMED = [
    "", "   ", "garbage line", GOOD.replace("27/Nov/2026:13:05:09", "31/Foo/2026:99:05:09"),
    GOOD.replace(" 200 ", " 20 "), GOOD.replace('"GET /billing HTTP/1.1"', '"GET /billing"'),
    GOOD + " trailing", GOOD.replace("Mozilla/5.0 (X11)", 'quote \\" inside'), GOOD.replace("7012", "-"),
    GOOD.replace("Mozilla/5.0 (X11)", "ends in a backslash \\\\"), GOOD.replace("Mozilla/5.0 (X11)", "lone \\"),
    GOOD.replace("Mozilla/5.0 (X11)", 'bare " quote'), GOOD.replace("Mozilla/5.0 (X11)", '\\\\\\"'),
    GOOD.replace('"https://portal.telco.example/dashboard"', '"a\\" "b"'),
    GOOD.replace("Mozilla", "Moz\u0001illa"), "\u0001", GOOD.replace("10.1.2.3", "-"),
    '10.1.2.4 - - [27/Nov/2026:13:05:10 +0100] "POST /login HTTP/1.1" 302 - "-" "curl/8"',
    '\x16\x03\x01\x02\x00\x01\x00\x01\xfc', GOOD.replace('"https://portal.telco.example/dashboard"', '""'),
]


def _same(spark, lines):
    df = spark.createDataFrame([(line, i) for i, line in enumerate(lines)], "value string, n int")
    new = sorted(map(tuple, parse_access_log(df).collect()), key=lambda r: r[12])
    old = sorted(map(tuple, reference_parse(df).collect()), key=lambda r: r[12])
    assert [r[12] for r in new] == list(range(len(lines)))
    for a, b in zip(new, old):
        assert a == b, (a, b)
    return new


def test_hand_made_malformed_lines_get_the_same_fields_and_reasons(spark):
    rows = _same(spark, [GOOD, *MALFORMED, None])
    reasons = {r[0]: r[-1] for r in rows}
    assert reasons[GOOD] is None and reasons["garbage line"] == "does not match the Apache combined log format"
    assert reasons[GOOD.replace("Mozilla", "Moz\u0001illa")] is None  # holds the separator: the per-field path


def test_random_quoted_fields_parse_the_same(spark):
    """Referer and user agent drawn from quotes, backslashes, spaces and letters (seeded): the
    unrolled form of a quoted field accepts and splits exactly what the alternation did."""
    rng = random.Random(20261207)
    alphabet = ['"', "\\", "\\", " ", "a", "b", "-", "\u0001"]

    def field() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))

    head = '10.1.2.3 - 7590-VHVEG [27/Nov/2026:13:05:09 +0000] "GET /billing HTTP/1.1" 200 7012 '
    lines = [f'{head}"{field()}" "{field()}"' for _ in range(1500)]
    lines += [f'{head}"{field()}" "{field()}"{field()}' for _ in range(200)]  # anything may follow
    rows = _same(spark, lines)
    accepted = sum(r[-1] is None for r in rows)
    assert 100 < accepted < len(lines)  # both outcomes are exercised


def test_every_line_of_generated_demo_logs_parses_the_same(spark, tmp_path):
    from churnlake.demo.access_logs import generate_access_logs
    from churnlake.demo.generate import load_population
    from tests.conftest import TELCO_CSV

    generate_access_logs(load_population(TELCO_CSV, 150, 7), tmp_path, dt.date(2026, 11, 27), 3, 7, broken_lines=12)
    lines = [line for path in sorted((tmp_path / "access_logs").glob("*.log"))
             for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()]
    assert len(lines) > 500
    rows = _same(spark, lines)
    assert sum(r[-1] is not None for r in rows) >= 12  # the broken lines are among them, rejected alike


def test_the_parser_matches_each_line_once():
    import inspect

    from churnlake.transforms import access_logs

    source = inspect.getsource(access_logs.parse_access_log)
    # one regexp_replace per line; regexp_extract/rlike only behind the separator check
    assert source.count("regexp_replace(") == 1 and source.count("regexp_extract(") == 1
    assert "when(slow, F.regexp_extract" in source and "F.when(has_sep, raw.rlike" in source
