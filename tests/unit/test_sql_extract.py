"""Unit tests of the incremental SQL extraction (SQLite, demo billing DB with 100 customers)."""

from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3
import tracemalloc
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from churnlake.demo import billing
from churnlake.demo.generate import load_population
from churnlake.ingestion import sql_extract
from churnlake.ingestion.sql_extract import (BILLING_TABLES, ExtractResult, SqlSource,
                                             extract_increment)
from churnlake.services.process import free_port

REPO = Path(__file__).resolve().parents[2]
CSV = REPO / "data" / "telco_customer_churn.csv"
AS_OF = date(2026, 11, 27)
NEXT_AS_OF = date(2026, 12, 27)
SEED = 42
N_CUSTOMERS = 100

ISO_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONEY = re.compile(r"^-?\d+\.\d{2}$")


# --------------------------------------------------------------------------- fixtures / helpers

@pytest.fixture(scope="module")
def customers():
    if not CSV.is_file():
        pytest.skip("Telco CSV not present")
    return load_population(CSV, N_CUSTOMERS, SEED)


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory, customers) -> Path:
    path = tmp_path_factory.mktemp("billing") / "billing.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    billing.generate_billing(engine, customers, AS_OF, SEED)
    engine.dispose()
    return path


@pytest.fixture
def engine(base_db: Path, tmp_path: Path):
    """A private copy of the generated billing DB (tests may append to it)."""
    path = tmp_path / "billing.db"
    shutil.copy(base_db, path)
    eng = sa.create_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()


def run(engine, table: str | SqlSource, **kw) -> tuple[ExtractResult, bytes]:
    source = BILLING_TABLES[table] if isinstance(table, str) else table
    buf = io.BytesIO()
    kw.setdefault("low", None)
    result = extract_increment(engine, source, out=buf, **kw)
    return result, buf.getvalue()


def lines_of(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def wm(line: bytes, key: str) -> tuple[datetime, int]:
    obj = json.loads(line)
    return datetime.fromisoformat(obj["updated_at"]), obj[key]


def db_rows(engine, table: str, key: str) -> list[tuple[str, int]]:
    """(updated_at text, key) of every row in watermark order, straight from SQLite."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            f"SELECT updated_at, {key} FROM {table} ORDER BY updated_at, {key}")]


# ------------------------------------------------------------------- full and incremental reads

@pytest.mark.parametrize("table", ["invoices", "payments"])
def test_first_extract_reads_everything_in_watermark_order(engine, table: str) -> None:
    key = BILLING_TABLES[table].key
    expected = db_rows(engine, table, key)
    result, data = run(engine, table)
    lines = lines_of(data)
    assert result.rows == len(lines) == len(expected) > 1000
    assert result.bytes == len(data) and data.endswith(b"\n")
    assert [json.loads(ln)[key] for ln in lines] == [k for _, k in expected]
    last = (datetime.fromisoformat(expected[-1][0]), expected[-1][1])
    assert result.high_watermark == last == result.snapshot
    assert result.low is None
    assert result.columns == [c.name for c in billing.metadata.tables[table].columns]


def test_output_format_matches_the_database_values(engine) -> None:
    result, data = run(engine, "payments")
    objs = [json.loads(ln) for ln in lines_of(data)]
    with engine.connect() as conn:  # SQLAlchemy with the demo's own types as reference
        ref = {r.payment_id: r for r in conn.execute(sa.select(billing.payments))}
    for obj in objs:
        r = ref[obj["payment_id"]]
        assert list(obj) == result.columns
        assert ISO_TS.match(obj["updated_at"]) and MONEY.match(obj["amount"])
        assert obj["updated_at"] == r.updated_at.isoformat()
        assert Decimal(obj["amount"]) == r.amount
        assert (obj["paid_at"] is None) == (obj["status"] == "failed")
        if obj["paid_at"] is not None:
            assert obj["paid_at"] == r.paid_at.isoformat()
    first_invoice = lines_of(run(engine, "invoices")[1])[0]
    inv = json.loads(first_invoice)
    assert ISO_DATE.match(inv["billing_month"]) and ISO_DATE.match(inv["due_date"])
    assert first_invoice == (json.dumps(inv, separators=(",", ":")) + "\n").encode()


def test_second_extract_reads_exactly_the_appended_rows(engine, customers) -> None:
    first = {t: run(engine, t) for t in BILLING_TABLES}
    max_ids = {t: first[t][0].high_watermark[1] for t in BILLING_TABLES}
    counts = billing.append_new_billing(engine, customers, NEXT_AS_OF, SEED)
    assert counts.invoices > 0 and counts.payments > 0

    for table, src in BILLING_TABLES.items():
        r1, data1 = first[table]
        r2, data2 = run(engine, table, low=r1.high_watermark)
        ids = [json.loads(ln)[src.key] for ln in lines_of(data2)]
        assert r2.rows == getattr(counts, table) == len(ids)
        assert ids == sorted(ids) and min(ids) == max_ids[table] + 1
        assert r2.low == r1.high_watermark and r2.high_watermark > r1.high_watermark
        # Both increments together are exactly one full read of the table.
        _, full = run(engine, table)
        assert data1 + data2 == full
        # Nothing new: zero rows, no watermark, nothing written.
        r3, data3 = run(engine, table, low=r2.high_watermark)
        assert (r3.rows, r3.bytes, r3.high_watermark, data3) == (0, 0, None, b"")
        assert r3.snapshot == r2.high_watermark


def test_boundary_inside_a_timestamp_tie_neither_loses_nor_duplicates(engine) -> None:
    _, full = run(engine, "invoices")
    lines = lines_of(full)
    stamps = [wm(ln, "invoice_id") for ln in lines]
    # First run of >= 10 invoices sharing one updated_at (the batch writes 50 per second).
    i = next(i for i in range(len(stamps)) if stamps[i][0] == stamps[i + 9][0])
    boundary = stamps[i + 4]
    assert stamps[i + 3][0] == boundary[0] == stamps[i + 5][0]
    a, data_a = run(engine, "invoices", high=boundary)
    b, data_b = run(engine, "invoices", low=boundary)
    assert a.high_watermark == boundary and a.rows == i + 5
    assert wm(lines_of(data_b)[0], "invoice_id") == stamps[i + 5]
    assert data_a + data_b == full
    # Pages that end inside the tie too (the page cursor is a watermark as well).
    end = stamps[i + 60]
    for batch_rows in (3, 1):
        _, data_a = run(engine, "invoices", high=boundary, batch_rows=batch_rows)
        _, data_b = run(engine, "invoices", low=boundary, high=end, batch_rows=batch_rows)
        assert data_a + data_b == b"".join(lines[:i + 61])


def _tie_table(engine, ts_type) -> tuple[sa.Table, list[tuple[datetime, int]]]:
    """A table whose rows share timestamps in groups, with gaps in the ids."""
    md = sa.MetaData()
    t = sa.Table("events", md, sa.Column("event_id", sa.Integer, primary_key=True,
                                         autoincrement=False),
                 sa.Column("updated_at", ts_type, nullable=False),
                 sa.Column("amount", sa.Numeric(10, 2)), sa.Column("flag", sa.Boolean))
    md.create_all(engine)
    t0 = datetime(2026, 1, 31, 23, 59, 59)
    rows, eid = [], 0
    for group, size in enumerate([5, 1, 4, 7, 2]):
        for _ in range(size):
            eid += 2 + (eid % 3)
            rows.append((t0 + timedelta(seconds=group), eid))
    with engine.begin() as conn:
        conn.execute(t.insert(), [{"event_id": k, "updated_at": ts, "amount": Decimal("30.00"),
                                   "flag": k % 2 == 0} for ts, k in rows])
    return t, rows


@pytest.mark.parametrize("ts_type", [billing.Timestamp, sa.DateTime()],
                         ids=["demo-text-seconds", "sqlalchemy-microseconds"])
def test_constructed_ties_split_at_every_boundary(tmp_path: Path, ts_type) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ties.db'}")
    table, rows = _tie_table(engine, ts_type)
    src = SqlSource("events", "event_id")
    _, full = run(engine, src, batch_rows=2)
    assert [json.loads(ln)["event_id"] for ln in lines_of(full)] == [k for _, k in rows]
    first = json.loads(lines_of(full)[0])
    assert first == {"event_id": rows[0][1], "updated_at": "2026-01-31T23:59:59",
                     "amount": "30.00", "flag": True}
    # Every possible boundary, including each position inside a tie, for page sizes 1 and 2.
    for j, boundary in enumerate(rows):
        for batch_rows in (1, 2):
            a, da = run(engine, src, high=boundary, batch_rows=batch_rows)
            b, db = run(engine, src, low=boundary, batch_rows=batch_rows)
            assert (a.rows, b.rows) == (j + 1, len(rows) - j - 1)
            assert da + db == full
    # An aware low is taken as UTC.
    aware = (rows[2][0].replace(tzinfo=timezone.utc), rows[2][1])
    assert run(engine, src, low=aware)[1] == run(engine, src, low=rows[2])[1]
    # Why the raw text comparison matters: the reflected DATETIME binds
    # 'YYYY-MM-DD HH:MM:SS.000000', which never equals the demo's stored text.
    if ts_type is billing.Timestamp:
        reflected = sa.Table("events", sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).where(
                reflected.c.updated_at == rows[0][0])).scalar()
        assert n == 0
    engine.dispose()


def test_bounded_reread_reproduces_a_batch_exactly(engine) -> None:
    _, full = run(engine, "payments")
    lines = lines_of(full)
    low, high = wm(lines[99], "payment_id"), wm(lines[1499], "payment_id")
    for batch_rows in (50_000, 64):
        r, data = run(engine, "payments", low=low, high=high, batch_rows=batch_rows)
        assert data == b"".join(lines[100:1500])
        assert (r.rows, r.low, r.high_watermark, r.snapshot) == (1400, low, high, high)
    # A high above the data is capped by the snapshot bound; the watermark is the last row.
    far = (datetime(2099, 1, 1), 0)
    r, data = run(engine, "payments", low=low, high=far)
    assert data == b"".join(lines[100:])
    assert r.high_watermark == r.snapshot == wm(lines[-1], "payment_id")


def test_page_size_does_not_change_the_output(engine) -> None:
    outputs = {n: run(engine, "invoices", batch_rows=n)[1] for n in (50_000, 1_000, 7)}
    assert len(set(outputs.values())) == 1


class _AppendDuringWrite(io.BytesIO):
    """An output that lets the source receive new rows after the first page is written."""

    def __init__(self, action) -> None:
        super().__init__()
        self.action = action
        self.result = None

    def write(self, data) -> int:
        n = super().write(data)
        if self.action is not None:
            action, self.action = self.action, None
            self.result = action()
        return n


def test_rows_inserted_during_the_extract_are_left_for_the_next_run(engine, customers) -> None:
    before = {t: run(engine, t)[0] for t in BILLING_TABLES}
    out = _AppendDuringWrite(lambda: billing.append_new_billing(engine, customers, NEXT_AS_OF,
                                                                SEED))
    r1 = extract_increment(engine, BILLING_TABLES["payments"], low=None, batch_rows=500, out=out)
    assert out.result is not None and out.result.payments > 0  # the append really happened
    assert r1.rows == before["payments"].rows
    assert r1.high_watermark == r1.snapshot == before["payments"].high_watermark
    r2, data2 = run(engine, "payments", low=r1.high_watermark)
    assert r2.rows == out.result.payments
    assert out.getvalue() + data2 == run(engine, "payments")[1]


# --------------------------------------------------------------------------- output file, errors

def test_path_output_is_written_atomically(engine, tmp_path: Path) -> None:
    target = tmp_path / "out" / "invoices.jsonl"
    r = extract_increment(engine, BILLING_TABLES["invoices"], low=None, out=target)
    assert target.stat().st_size == r.bytes and r.rows == len(target.read_bytes().splitlines())
    assert sorted(p.name for p in target.parent.iterdir()) == ["invoices.jsonl"]

    # A value that cannot be converted half-way through: no file, no temp file left behind.
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE invoices SET due_date = 'not a date' WHERE invoice_id = 3000")
    bad = tmp_path / "out" / "bad.jsonl"
    with pytest.raises(ValueError):
        extract_increment(engine, BILLING_TABLES["invoices"], low=None, batch_rows=100, out=bad)
    assert sorted(p.name for p in target.parent.iterdir()) == ["invoices.jsonl"]


def test_unknown_table_and_missing_columns_name_table_and_url(engine) -> None:
    url = engine.url.render_as_string(hide_password=True)
    with pytest.raises(ValueError) as exc:
        run(engine, SqlSource("refunds", "refund_id"))
    msg = str(exc.value)
    assert "'refunds'" in msg and url in msg and "invoices" in msg
    with pytest.raises(ValueError) as exc:
        run(engine, SqlSource("invoices", "invoice_id", updated_col="modified_at"))
    assert "'invoices'" in str(exc.value) and "'modified_at'" in str(exc.value)
    assert url in str(exc.value)


def test_unreachable_database_is_a_runtime_error_without_password(tmp_path: Path) -> None:
    port = free_port()
    eng = sa.create_engine(f"postgresql+psycopg://billing:s3cr3t@127.0.0.1:{port}/billing",
                           connect_args={"connect_timeout": 5})
    with pytest.raises(RuntimeError) as exc:
        run(eng, "invoices")
    msg = str(exc.value)
    assert msg.startswith(f"billing database unreachable at postgresql+psycopg://billing:***@"
                          f"127.0.0.1:{port}/billing: ")
    assert "s3cr3t" not in msg and isinstance(exc.value.__cause__, sa.exc.OperationalError)

    missing_dir = sa.create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'billing.db'}")
    with pytest.raises(RuntimeError, match="billing database unreachable at sqlite:///"):
        run(missing_dir, "invoices")


def test_invalid_arguments(engine) -> None:
    ts = datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="batch_rows"):
        run(engine, "invoices", batch_rows=0)
    with pytest.raises(ValueError, match="low"):
        run(engine, "invoices", low="2026-01-01")
    with pytest.raises(ValueError, match="below low"):
        run(engine, "invoices", low=(ts, 5), high=(ts, 4))


def test_empty_table(tmp_path: Path) -> None:
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    billing.create_billing_schema(eng)
    r, data = run(eng, "payments")
    assert (r.rows, r.bytes, r.high_watermark, r.snapshot, data) == (0, 0, None, None, b"")
    assert r.columns[0] == "payment_id"
    eng.dispose()


class _NullSink(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return len(data)


def test_memory_stays_flat_with_small_pages(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE ev (ev_id INTEGER PRIMARY KEY, customer_id VARCHAR(32), "
                "amount NUMERIC(10, 2), updated_at DATETIME)")
    con.execute("CREATE INDEX ix_ev ON ev (updated_at, ev_id)")
    t0 = datetime(2026, 1, 1)
    con.executemany("INSERT INTO ev VALUES (?, ?, ?, ?)",
                    ((i, f"C{i % 997:05d}", (i % 9000) / 100, str(t0 + timedelta(seconds=i // 4)))
                     for i in range(1, 12_001)))
    con.commit()
    con.close()
    eng = sa.create_engine(f"sqlite:///{path}")
    src = SqlSource("ev", "ev_id")
    run(eng, src, high=(t0, 4))  # warm up reflection/compilation caches
    peaks = {}
    for n in (2_000, 12_000):
        tracemalloc.start()
        try:
            r = extract_increment(eng, src, low=None, high=(t0 + timedelta(seconds=n // 4), n),
                                  batch_rows=200, out=_NullSink())
            peaks[n] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert r.rows == n
    eng.dispose()
    # Six times the rows, (about) the same peak: memory depends on batch_rows only.
    assert peaks[12_000] < 1.5 * peaks[2_000] and peaks[12_000] < 2_000_000, peaks


# ------------------------------------------------------------------- the SQLite fast path

def _encoded_in_python(monkeypatch) -> list[int]:
    """Count the rows the Python encoder writes (the rest SQLite wrote)."""
    calls = [0]
    encode = sql_extract._Plan.encode

    def counting(self, row):
        calls[0] += 1
        return encode(self, row)
    monkeypatch.setattr(sql_extract._Plan, "encode", counting)
    return calls


@pytest.mark.parametrize("table", ["invoices", "payments"])
def test_sqlite_writes_the_demo_lines_byte_for_byte_as_python_does(engine, table, monkeypatch) -> None:
    calls = _encoded_in_python(monkeypatch)
    r, fast = run(engine, table, batch_rows=97)
    assert r.rows > 1000 and calls[0] == 0  # every demo row is one SQLite can write
    r2, slow = run(engine, table, batch_rows=97, sqlite_json=False)
    assert fast == slow and r == r2
    assert calls[0] == r.rows


def _odd_table(path: Path, rows: list[tuple]) -> sa.Engine:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE odd (odd_id INTEGER PRIMARY KEY, name VARCHAR(40), day DATE, "
                "seen_at DATETIME, amount NUMERIC(10, 2), whole NUMERIC(8, 0), updated_at DATETIME NOT NULL)")
    con.executemany("INSERT INTO odd VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return sa.create_engine(f"sqlite:///{path}")


ODD_SOURCE = SqlSource("odd", "odd_id")


def test_rows_sqlite_cannot_prove_fall_back_to_python_in_order(tmp_path: Path, monkeypatch) -> None:
    ts = "2026-01-02 03:04:05"
    rows = [
        (1, "plain", "2026-01-31", ts, 29.85, 7, ts),
        (2, None, None, None, None, None, ts),
        (3, 'quote " back \\ tab \t nl \n bell \x07 del \x7f', "2024-02-29", "2024-02-29T23:59:59", -0.05, -3, ts),
        (4, "ünïcödé € 😀 \u2028", "0001-01-01", "9999-12-31 23:59:59", 1e11 + 0.01, 0, ts),
        (5, "zero", "2026-01-01", ts, 0.0, 0.0, ts),             # REAL zero: Python (sign of -0.0)
        (6, "minus zero", "2026-01-01", ts, -0.0, -0.0, ts),     # NUMERIC affinity stores it as integer 0
        (7, "off grid", "2026-01-01", ts, 1.005, 2.5, ts),       # half-up of the shortest repr
        (8, "off grid 2", "2026-01-01", ts, 0.125, 0.5, ts),
        (9, "fraction", "2026-01-01", "2026-01-01 00:00:00.250000", 30, 12, ts),
        (10, "integer amount", "2026-01-01", "2026-01-01 00:00:00.000", 30, -12, ts),
        (11, "huge", "2026-01-01", ts, 12345678901234.5, 1e13, ts),
        (12, b"\x00\x01blob", "2026-01-01", ts, 1.1, 1, ts),       # a blob in a text column: base64
        (13, 42, "2026-01-01", ts, 1.1, 1, ts),                    # a number in a text column: text affinity
        (14, "text key col", "2026-01-01", "2026-01-01T00:00:00", "12.345", "7", ts),  # numeric text
        (15, "negative", "2026-01-01", ts, -1234.56, -1, ts),
    ]
    eng = _odd_table(tmp_path / "odd.db", rows)
    calls = _encoded_in_python(monkeypatch)
    r, fast = run(eng, ODD_SOURCE, batch_rows=4)
    fell_back = calls[0]
    _, slow = run(eng, ODD_SOURCE, batch_rows=4, sqlite_json=False)
    assert fast == slow
    assert r.rows == len(rows) and 0 < fell_back < len(rows)
    got = [json.loads(line) for line in lines_of(fast)]
    assert [g["odd_id"] for g in got] == [row[0] for row in rows]
    assert got[2]["amount"] == "-0.05" and got[5]["amount"] == "0.00" and got[6]["amount"] == "1.01"
    assert got[8]["seen_at"] == "2026-01-01T00:00:00.250000" and got[9]["seen_at"] == "2026-01-01T00:00:00"
    eng.dispose()


def test_pages_where_most_rows_fall_back_read_them_in_few_queries(tmp_path: Path, monkeypatch) -> None:
    ts = "2026-01-02 03:04:05"
    rows = [(i, f"n{i}", "2026-01-01", f"2026-01-01 00:00:{i % 60:02d}.5" if i % 5 else ts, 1.5, 1, ts)
            for i in range(1, 41)]  # four of five timestamps have fractions: SQLite leaves them to Python
    eng = _odd_table(tmp_path / "fractions.db", rows)
    monkeypatch.setattr(sql_extract, "_FALLBACK_KEYS", 3)  # several key lists per page
    queries = []
    sa.event.listen(eng, "before_cursor_execute", lambda *a: queries.append(a[2]))
    calls = _encoded_in_python(monkeypatch)
    r, fast = run(eng, ODD_SOURCE, batch_rows=16)
    fallback_queries = [q for q in queries if " IN (" in q]
    assert calls[0] == 32 and r.rows == 40
    assert len(fallback_queries) == 5 + 5 + 2  # 13, 13 and 6 of the three pages' rows, three keys a query
    _, slow = run(eng, ODD_SOURCE, batch_rows=16, sqlite_json=False)
    assert fast == slow
    eng.dispose()


@pytest.mark.parametrize("bad", ["2026-02-30 00:00:00", "2026-02-28 24:00:00", "0000-01-01 00:00:00"])
def test_an_invalid_timestamp_fails_on_both_paths(tmp_path: Path, bad: str) -> None:
    ts = "2026-01-02 03:04:05"
    eng = _odd_table(tmp_path / "bad.db", [(1, "a", "2026-01-01", ts, 1.0, 1, ts),
                                           (2, "b", "2026-01-01", bad, 1.0, 1, ts)])
    with pytest.raises(ValueError):
        run(eng, ODD_SOURCE)
    with pytest.raises(ValueError):
        run(eng, ODD_SOURCE, sqlite_json=False)
    eng.dispose()


def test_many_random_amounts_are_written_alike(tmp_path: Path, monkeypatch) -> None:
    import random

    rnd = random.Random(7)
    ts = "2026-01-02 03:04:05"
    values = ([rnd.randint(-10**7, 10**7) / 100 for _ in range(4000)]      # on the cent grid
              + [rnd.randint(-10**6, 10**6) / 1000 for _ in range(2000)]   # half a cent off and ties
              + [rnd.uniform(-1e4, 1e4) for _ in range(2000)]              # arbitrary doubles
              + [rnd.randint(-10**5, 10**5) for _ in range(500)]           # integers
              + [rnd.randint(1, 10**14) / 100 for _ in range(500)])        # near and past the bound
    rows = [(i + 1, "x", "2026-01-01", ts, v, round(v), ts) for i, v in enumerate(values)]
    eng = _odd_table(tmp_path / "amounts.db", rows)
    calls = _encoded_in_python(monkeypatch)
    _, fast = run(eng, ODD_SOURCE)
    assert 0 < calls[0] < len(rows)
    _, slow = run(eng, ODD_SOURCE, sqlite_json=False)
    assert fast == slow
    eng.dispose()


def test_a_sqlite_whose_json_escaping_differs_leaves_every_row_to_python(engine, monkeypatch) -> None:
    assert sql_extract._sqlite_json_agrees(engine.connect())  # this machine's SQLite agrees
    monkeypatch.setattr(sql_extract, "_PROBE_TEXT", "a")
    monkeypatch.setattr(sql_extract, "_ENCODER", json.JSONEncoder(separators=(", ", ": ")))
    with engine.connect() as conn:
        assert not sql_extract._sqlite_json_agrees(conn)
