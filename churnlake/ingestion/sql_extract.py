"""Incremental extraction of SQL tables to JSON Lines by a composite (updated_at, key) watermark.

Pure Python (SQLAlchemy 2.x Core, no Spark, no ORM models): the table is reflected from
the database, so the same code reads the demo billing database on SQLite and on
PostgreSQL and writes byte-identical output for the same data.

Watermark rule
    A row belongs to the increment ``(low, high]`` when
    ``(updated_at, key) > low`` and ``(updated_at, key) <= high`` in lexicographic order,
    i.e. ``updated_at > ts OR (updated_at = ts AND key > id)``. Rows that share an
    ``updated_at`` (the demo writes ~50 invoices per second) are split by the key, so an
    increment boundary inside a tie neither loses nor duplicates rows. ``key`` must be
    unique (the primary key).

Consistency bound
    Before reading, the current maximum ``(updated_at, key)`` is read (the *snapshot
    bound*); the extract reads only rows up to it (and up to ``high`` when that is
    smaller). Rows committed while the extract runs have a larger ``(updated_at, key)``
    in an insert-only source with monotonic ids (the demo's contract), so they are left
    for the next run. Rows are read with keyset pagination, ``batch_rows`` per query,
    so memory stays flat and no long read transaction is held.

Returned watermark
    :attr:`ExtractResult.high_watermark` is the ``(updated_at, key)`` of the last row
    actually read (the maximum, rows being ordered), or ``None`` when nothing was read,
    in which case the caller keeps its previous ``low``. It is not the snapshot bound:
    with ``high`` given, a bound above the data would otherwise claim rows that were
    never seen. The bound used is reported separately as :attr:`ExtractResult.snapshot`.

Output format (JSON Lines, UTF-8, one object per row, ``\\n`` after every line)
    Keys are the column names in table order. Timestamps are ISO-8601 without time zone,
    ``YYYY-MM-DDTHH:MM:SS`` plus ``.ffffff`` only when the microseconds are non-zero
    (aware values are converted to UTC first); dates are ``YYYY-MM-DD``; NUMERIC/DECIMAL
    values are strings with exactly the column's declared scale (``"29.85"``, ``"30.00"``
    for ``NUMERIC(10, 2)``, rounding half away from zero like PostgreSQL; a NUMERIC
    without scale gives the shortest exact string);
    booleans are ``true``/``false``; NULL is ``null``; integers, floats and strings are
    plain JSON values. Objects are written compactly (``{"a":1,"b":"x"}``).

SQLite
    The demo stores timestamps as TEXT ``YYYY-MM-DD HH:MM:SS`` and amounts as REAL. The
    reflected ``DATETIME`` type would bind a watermark as ``YYYY-MM-DD HH:MM:SS.000000``,
    which as text is *never equal* to the stored value, silently dropping the rows of a
    tie. So on SQLite the raw stored values are read and compared: watermark parameters
    are rendered in the storage format detected from the stored maximum (separator and
    number of fractional digits), and REAL amounts are turned into exact decimals via
    their shortest ``repr``. A column must use one text format throughout.

SQLite fast path
    Converting and encoding every row in Python costs ≈ 6 µs a row (212 s for the 32.9 M
    payments of the L scale). On SQLite the database itself writes each line instead: one
    ``json_object(...)`` per row, with SQL conversions that give the same bytes as the
    Python ones *where SQLite can prove they do* (:func:`_sqlite_fast_column`): integers and
    text as stored; dates and timestamps that ``date()``/``datetime()`` leave unchanged, i.e.
    valid calendar values in the canonical layout (``' '`` becomes ``'T'``); REAL amounts that
    are exactly the double nearest to a number with the column's scale, written from their
    integer count of cents. Every other row (a zero or off-grid REAL, a blob in a text
    column, a timestamp with fractions or an invalid one) comes back as NULL and is encoded
    by the Python path, fetched again by its unique key, so the output is byte for byte the
    same either way. Before the
    first page, :func:`_sqlite_json_agrees` checks that this SQLite's JSON string escaping is
    Python's; if not (or without the JSON functions, before SQLite 3.38), the Python path does
    every row. Tables with a column type the fast path does not know (booleans, floats, …)
    use the Python path too.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import IO, Any, BinaryIO, Callable, Union

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

logger = logging.getLogger(__name__)

#: ``(updated_at, key)``: naive UTC timestamp and the key of the row.
Watermark = tuple[datetime, int]
#: Where the JSON Lines go: a binary file object, or a path (written atomically).
Output = Union[BinaryIO, IO[bytes], str, os.PathLike]


@dataclass(frozen=True)
class SqlSource:
    """A table read incrementally by ``(updated_col, key)``; ``key`` must be unique."""

    table: str
    key: str
    updated_col: str = "updated_at"


#: The demo billing database (``churnlake.demo.billing``); ``demo_state`` is not a source.
BILLING_TABLES: dict[str, SqlSource] = {
    "invoices": SqlSource("invoices", "invoice_id"),
    "payments": SqlSource("payments", "payment_id"),
}


@dataclass(frozen=True)
class ExtractResult:
    """Outcome of :func:`extract_increment`.

    ``high_watermark`` is the ``(updated_at, key)`` of the last row written, ``None``
    when no row was read (keep ``low`` for the next run). ``snapshot`` is the upper
    bound the read was limited to (the source's maximum when the extract started,
    capped by ``high``), ``None`` for an empty table.
    """

    rows: int
    bytes: int
    low: Watermark | None
    high_watermark: Watermark | None
    columns: list[str] = field(default_factory=list)
    snapshot: Watermark | None = None


# --------------------------------------------------------------------------- value conversion

_SQLITE_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T])\d{2}:\d{2}:\d{2}(?:\.(\d+))?$")


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _to_datetime(value: Any) -> datetime:
    """A driver value (datetime or SQLite text) as a naive UTC datetime."""
    if isinstance(value, datetime):
        return _naive_utc(value)
    if isinstance(value, str):
        return _naive_utc(datetime.fromisoformat(value))
    raise ValueError(f"unsupported timestamp value {value!r} ({type(value).__name__})")


def _conv_datetime(value: Any) -> str:
    if value.__class__ is str:  # SQLite text (hot path)
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.isoformat()
    return _to_datetime(value).isoformat()


def _conv_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(str(value)).isoformat()


def _conv_time(value: Any) -> str:
    if isinstance(value, dtime):
        return value.isoformat()
    return dtime.fromisoformat(str(value)).isoformat()


def _conv_bool(value: Any) -> bool:
    return bool(value)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        # repr is the shortest string that round-trips: 29.85 -> "29.85" (exact cents).
        return Decimal(repr(value))
    return Decimal(str(value))


def _decimal_converter(scale: int | None) -> Callable[[Any], str]:
    """NUMERIC -> fixed-point string with ``scale`` decimals (shortest exact if None).

    Rounds half away from zero, as PostgreSQL does when it stores a NUMERIC.
    """
    if scale is None:
        def conv(value: Any) -> str:
            d = _to_decimal(value)
            return format(d.normalize() if d else Decimal(0), "f")
        return conv

    quantum = Decimal(1).scaleb(-scale)

    def conv_scaled(value: Any) -> str:
        return format(_to_decimal(value).quantize(quantum, rounding=ROUND_HALF_UP), "f")
    return conv_scaled


def _json_default(value: Any) -> Any:
    """Fallback for values of columns whose reflected type has no converter."""
    if isinstance(value, datetime):
        return _naive_utc(value).isoformat()
    if isinstance(value, (date, dtime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot write {type(value).__name__} value {value!r} as JSON")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                            default=_json_default)


def _converter_for(col_type: sa.types.TypeEngine) -> Callable[[Any], Any] | None:
    if isinstance(col_type, sa.DateTime):
        return _conv_datetime
    if isinstance(col_type, sa.Date):
        return _conv_date
    if isinstance(col_type, sa.Time):
        return _conv_time
    if isinstance(col_type, sa.Boolean):
        return _conv_bool
    if isinstance(col_type, sa.Numeric) and not isinstance(col_type, sa.Float):
        return _decimal_converter(col_type.scale)
    return None


# --------------------------------------------------------------------------- SQLite fast path

def _sqlite_fast_column(col: str, col_type: sa.types.TypeEngine) -> tuple[str, str] | None:
    """``(ok, out)`` SQLite expressions for the quoted column ``col``, or None when its type has no fast path.

    ``out`` is the value ``json_object`` must receive to write what :meth:`_Plan.encode` writes;
    it is used only where ``ok`` is true, and ``ok`` is true only where that is certain.
    """
    if isinstance(col_type, (sa.Boolean, sa.Float)):
        return None
    if isinstance(col_type, sa.Integer):
        return f"typeof({col}) = 'integer'", col
    if isinstance(col_type, sa.String):
        return f"typeof({col}) = 'text'", col
    if isinstance(col_type, sa.DateTime):
        # datetime() writes 'YYYY-MM-DD HH:MM:SS' and normalises: an invalid calendar value (Feb 30, hour 24)
        # comes back changed or NULL, another layout (fractions, zones, other separators) unequal.
        # The year is compared as substr(): DATETIME/DATE columns have NUMERIC affinity, which would turn a
        # bare '0001' into the number 1 (and any text is greater than a number).
        return (f"(datetime({col}, '+0 days') = replace({col}, 'T', ' ') AND substr({col}, 1, 4) >= '0001')",
                f"replace({col}, ' ', 'T')")
    if isinstance(col_type, sa.Date):
        return f"(date({col}, '+0 days') = {col} AND substr({col}, 1, 4) >= '0001')", col
    if isinstance(col_type, sa.Numeric) and col_type.scale is not None and 0 <= col_type.scale <= 6:
        unit = 10 ** col_type.scale
        # A REAL is taken only when it *is* the double nearest to units / 10**scale (units an integer):
        # its shortest repr then has at most `scale` decimals, so the Python path's half-up rounding changes
        # nothing, and the value is written from the integer. Zero is left to Python (the sign of -0.0).
        ok = (f"(typeof({col}) = 'real' AND {col} <> 0 AND abs({col}) < 1e12 AND round({col} * {unit}) / {unit}.0 = {col}"
              f" OR typeof({col}) = 'integer' AND abs({col}) < 1000000000000)")
        units = f"CAST(round(abs({col}) * {unit}) AS INTEGER)"
        sign = f"CASE WHEN {col} < 0 THEN '-' ELSE '' END"
        if col_type.scale == 0:
            text = f"printf('%s%d', {sign}, {units})"
        else:
            text = f"printf('%s%d.%0{col_type.scale}d', {sign}, {units} / {unit}, {units} % {unit})"
        return ok, f"CASE WHEN {col} IS NOT NULL THEN {text} END"  # printf would write NULL as 0
    return None


_PROBE_TEXT = "".join(chr(i) for i in range(0x80)) + "\u00e9\u20ac\u2028\u2029\ufeff\U0001f600"


def _sqlite_json_agrees(conn: Connection) -> bool:
    """Whether this SQLite has ``json_object`` and escapes every ASCII character (and a few
    others) exactly as the Python encoder does."""
    try:
        got = conn.exec_driver_sql("SELECT json_object('k', ?)", (_PROBE_TEXT,)).scalar()
    except sa.exc.DBAPIError:
        return False
    finally:
        conn.rollback()
    return got == _ENCODER.encode({"k": _PROBE_TEXT})


# --------------------------------------------------------------------------- the read plan

class _Plan:
    """Reflected table, selected expressions and dialect-specific watermark binding."""

    def __init__(self, table: sa.Table, source: SqlSource, dialect: str) -> None:
        self.table = table
        self.source = source
        self.sqlite = dialect == "sqlite"
        self.columns = [c.name for c in table.columns]
        # (index, converter) of the columns whose values need converting (never given None).
        convs = [_converter_for(c.type) for c in table.columns]
        self.converters = [(i, conv) for i, conv in enumerate(convs) if conv is not None]
        self._dumps = _ENCODER.encode
        self.ts_index = self.columns.index(source.updated_col)
        self.key_index = self.columns.index(source.key)
        ts_col = table.c[source.updated_col]
        self.ts_tz = bool(getattr(ts_col.type, "timezone", False))
        if self.sqlite:
            # Raw stored values: TEXT timestamps/dates, REAL amounts; converted in Python.
            self.select_cols = [sa.type_coerce(c, sa.types.NullType()).label(c.name)
                                for c in table.columns]
            self.ts = sa.type_coerce(ts_col, sa.String())
        else:
            self.select_cols = list(table.columns)
            self.ts = ts_col
        self.key = table.c[source.key]
        # SQLite: one JSON line per row written by the database, NULL where Python must (enable_fast).
        self.fast_line: Any = None
        # SQLite text format (separator, fractional digits), set by detect_format().
        self._sep = " "
        self._frac = 0

    def detect_format(self, raw_max: Any, url: str) -> None:
        """Learn the SQLite storage format of the timestamp column from a stored value."""
        if not self.sqlite:
            return
        m = _SQLITE_TS_RE.match(raw_max) if isinstance(raw_max, str) else None
        if m is None:
            raise ValueError(
                f"{self.source.table}.{self.source.updated_col} on {url} stores {raw_max!r}; "
                "expected text timestamps 'YYYY-MM-DD HH:MM:SS[.ffffff]'")
        self._sep = m.group(1)
        self._frac = len(m.group(2) or "")

    def enable_fast(self, conn: Connection) -> bool:
        """Use the SQLite fast path (module docstring) when every column has one and this SQLite's
        JSON escaping agrees with Python's; returns whether it is used."""
        if not self.sqlite:
            return False
        quote = conn.dialect.identifier_preparer.quote
        parts = [_sqlite_fast_column(quote(c.name), c.type) for c in self.table.columns]
        if any(p is None for p in parts) or not _sqlite_json_agrees(conn):
            return False
        ok = " AND ".join(f"({quote(c.name)} IS NULL OR {ok})" for c, (ok, _) in zip(self.table.columns, parts))
        pairs = ", ".join(f"""'{name.replace("'", "''")}', {out}""" for name, (_, out) in zip(self.columns, parts))
        self.fast_line = sa.literal_column(f"CASE WHEN {ok} THEN json_object({pairs}) END")
        return True

    def bind_ts(self, value: datetime) -> Any:
        """A watermark timestamp as a parameter comparable with the stored column."""
        if self.sqlite:
            text = (f"{value.year:04d}-{value.month:02d}-{value.day:02d}{self._sep}"
                    f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}")
            if self._frac:
                text += "." + f"{value.microsecond:06d}".ljust(self._frac, "0")[:self._frac]
            elif value.microsecond:
                text += f".{value.microsecond:06d}"
            return text
        return value.replace(tzinfo=timezone.utc) if self.ts_tz else value

    def after(self, ts: Any, key: Any) -> sa.ColumnElement[bool]:
        """``(updated_at, key) > (ts, key)``; the leading ``>=`` lets the index range-scan."""
        return sa.and_(self.ts >= ts, sa.or_(self.ts > ts, sa.and_(self.ts == ts, self.key > key)))

    def not_after(self, ts: Any, key: Any) -> sa.ColumnElement[bool]:
        """``(updated_at, key) <= (ts, key)``."""
        return sa.and_(self.ts <= ts, sa.or_(self.ts < ts, sa.and_(self.ts == ts, self.key <= key)))

    def page(self, lower: tuple[Any, Any] | None, upper: tuple[Any, Any],
             limit: int) -> sa.Select[Any]:
        """One keyset page: rows in ``(lower, upper]`` ordered by ``(updated_at, key)``."""
        cond = self.not_after(*upper)
        if lower is not None:
            cond = sa.and_(self.after(*lower), cond)
        cols = self.select_cols if self.fast_line is None else [self.fast_line.label("_line"), self.ts, self.key]
        return sa.select(*cols).where(cond).order_by(self.ts, self.key).limit(limit)

    def page_lines(self, conn: Connection, page: list[sa.Row[Any]]) -> tuple[list[str], tuple[Any, Any]]:
        """The JSON lines of one page and the ``(updated_at, key)`` of its last row, as stored.

        On the fast path the rows SQLite could not write (NULL line) are read again by their
        keys, ``_FALLBACK_KEYS`` per query, and encoded in Python in their places."""
        end = page[-1]
        if self.fast_line is None:
            return [self.encode(r) for r in page], (end[self.ts_index], end[self.key_index])
        missing = [key for line, _, key in page if line is None]
        rows: dict[Any, sa.Row[Any]] = {}
        for i in range(0, len(missing), _FALLBACK_KEYS):
            chunk = missing[i:i + _FALLBACK_KEYS]
            rows.update((r[self.key_index], r) for r in
                        conn.execute(sa.select(*self.select_cols).where(self.key.in_(chunk))))
        lines = [line if line is not None else self.encode(rows[key]) for line, _, key in page]
        return lines, (end[1], end[2])

    def encode(self, row: sa.Row[Any]) -> str:
        """One row as a compact JSON object (no newline)."""
        values = list(row)
        for i, conv in self.converters:
            value = values[i]
            if value is not None:
                values[i] = conv(value)
        return self._dumps(dict(zip(self.columns, values)))


# --------------------------------------------------------------------------- helpers

def _cause(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig if exc.orig is not None else exc)
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _check_watermark(name: str, wm: Any) -> Watermark | None:
    if wm is None:
        return None
    if (not isinstance(wm, tuple) or len(wm) != 2 or not isinstance(wm[0], datetime)
            or isinstance(wm[1], bool) or not isinstance(wm[1], int)):
        raise ValueError(f"{name} must be a (datetime, int) tuple or None, got {wm!r}")
    return (_naive_utc(wm[0]), wm[1])


def _reflect(conn: Connection, source: SqlSource, url: str) -> sa.Table:
    try:
        table = sa.Table(source.table, sa.MetaData(), autoload_with=conn)
    except sa.exc.NoSuchTableError:
        names = sorted(sa.inspect(conn).get_table_names())
        raise ValueError(f"table {source.table!r} not found in {url} "
                         f"(tables: {', '.join(names) or 'none'})") from None
    missing = [c for c in (source.updated_col, source.key) if c not in table.c]
    if missing:
        raise ValueError(
            f"table {source.table!r} in {url} has no column(s) {', '.join(map(repr, missing))} "
            f"(columns: {', '.join(c.name for c in table.columns)})")
    return table


_FALLBACK_KEYS = 500  # keys per query that reads rows SQLite could not write (well under SQLite's 32,766 parameters)


class _Sink:
    """Writes to a binary file object, or atomically to a path (temp file + rename)."""

    def __init__(self, out: Output) -> None:
        self._path: Path | None = None
        self._tmp: Path | None = None
        if isinstance(out, (str, os.PathLike)):
            self._path = Path(out)
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
            self.fh: IO[bytes] = open(self._tmp, "wb")
        else:
            self.fh = out
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.bytes += len(data)

    def close(self, ok: bool) -> None:
        if self._tmp is None or self._path is None:
            return
        self.fh.close()
        if ok:
            os.replace(self._tmp, self._path)
        else:
            self._tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- public API

def extract_increment(engine: Engine, source: SqlSource, *, low: Watermark | None,
                      high: Watermark | None = None, batch_rows: int = 50_000,
                      out: Output, sqlite_json: bool = True) -> ExtractResult:
    """Write the rows of ``source`` with ``low < (updated_at, key) <= high`` as JSON Lines.

    :param engine: SQLAlchemy engine of the source database (SQLite or PostgreSQL).
    :param source: table, unique key and update-timestamp column, e.g.
        ``BILLING_TABLES["invoices"]``.
    :param low: exclusive lower watermark (the previous run's ``high_watermark``); ``None``
        reads from the beginning.
    :param high: inclusive upper watermark for a bounded re-read; ``None`` means the
        snapshot bound (the table's maximum when the extract starts). An explicit
        ``high`` above the snapshot bound is capped by it.
    :param batch_rows: rows per keyset-pagination query (memory stays O(batch_rows)).
    :param out: binary file object, or a path written atomically (temp file + rename;
        nothing is left behind on failure).
    :param sqlite_json: on SQLite, let the database write each line where it can prove the
        same bytes (module docstring); ``False`` encodes every row in Python. The output is
        the same either way; PostgreSQL always uses the Python encoder.
    :returns: counts, the ``(updated_at, key)`` of the last row read (``None`` if none)
        and the column names. See the module docstring for the output format.
    :raises ValueError: bad arguments, unknown table, missing columns (message names the
        table and the password-less engine URL).
    :raises RuntimeError: the database cannot be reached (``from`` the OperationalError).
    """
    url = engine.url.render_as_string(hide_password=True)
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValueError(f"batch_rows must be an int >= 1, got {batch_rows!r}")
    low = _check_watermark("low", low)
    high = _check_watermark("high", high)
    if low is not None and high is not None and high < low:
        raise ValueError(f"high {high} is below low {low}")

    t0 = time.monotonic()
    try:
        conn = engine.connect()
    except sa.exc.OperationalError as exc:
        raise RuntimeError(f"billing database unreachable at {url}: {_cause(exc)}") from exc

    rows = 0
    last: Watermark | None = None
    snapshot: Watermark | None = None
    sink: _Sink | None = None
    ok = False
    with conn:
        try:
            plan = _Plan(_reflect(conn, source, url), source, conn.dialect.name)
            top = conn.execute(sa.select(plan.ts, plan.key)
                               .order_by(plan.ts.desc(), plan.key.desc()).limit(1)).first()
            conn.rollback()
            sink = _Sink(out)
            if top is not None:
                plan.detect_format(top[0], url)
                snapshot = (_to_datetime(top[0]), top[1])
                upper: tuple[Any, Any] = (top[0], top[1])
                if high is not None and high < snapshot:
                    snapshot, upper = high, (plan.bind_ts(high[0]), high[1])
                lower = None if low is None else (plan.bind_ts(low[0]), low[1])
                fast = sqlite_json and plan.enable_fast(conn)
                logger.info("extracting %s from %s: (%s, %s]%s", source.table, url, low, snapshot,
                            " (lines written by SQLite)" if fast else "")
                if low is None or low < snapshot:
                    while True:
                        page = conn.execute(plan.page(lower, upper, batch_rows)).all()
                        if not page:
                            conn.rollback()
                            break
                        lines, lower = plan.page_lines(conn, page)  # fallback rows in the same transaction
                        conn.rollback()  # end the read transaction between pages
                        sink.write(("\n".join(lines) + "\n").encode("utf-8"))
                        rows += len(page)
                        if len(page) < batch_rows:
                            break
                    if lower is not None and rows:
                        last = (_to_datetime(lower[0]), lower[1])
            ok = True
        except sa.exc.OperationalError as exc:
            raise RuntimeError(f"billing database unreachable at {url}: {_cause(exc)} "
                               f"(reading {source.table!r} after {rows} rows)") from exc
        finally:
            if sink is not None:
                sink.close(ok)

    result = ExtractResult(rows=rows, bytes=sink.bytes if sink else 0, low=low,
                           high_watermark=last, columns=list(plan.columns), snapshot=snapshot)
    logger.info("extracted %s: %d rows, %d bytes, high watermark %s (bound %s) in %.2fs",
                source.table, rows, result.bytes, last, snapshot, time.monotonic() - t0)
    return result
