"""Incremental SQL extraction against a real PostgreSQL, compared byte for byte with SQLite.

The same 100-customer billing database is generated into a private PostgreSQL database
(on the session's ``postgres_server``) and into a SQLite file; every extract of one must
equal the extract of the other.
"""

from __future__ import annotations

import io
import json
import os
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from churnlake.demo import billing
from churnlake.demo.generate import load_population
from churnlake.ingestion.sql_extract import (BILLING_TABLES, ExtractResult, SqlSource,
                                             extract_increment)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CSV = REPO / "data" / "telco_customer_churn.csv"
AS_OF = date(2026, 11, 27)
NEXT_AS_OF = date(2026, 12, 27)
SEED = 42
N_CUSTOMERS = 100


def run(engine, table: str | SqlSource, **kw) -> tuple[ExtractResult, bytes]:
    source = BILLING_TABLES[table] if isinstance(table, str) else table
    buf = io.BytesIO()
    kw.setdefault("low", None)
    return extract_increment(engine, source, out=buf, **kw), buf.getvalue()


def wm(line: bytes, key: str) -> tuple[datetime, int]:
    obj = json.loads(line)
    return datetime.fromisoformat(obj["updated_at"]), obj[key]


@pytest.fixture(scope="module")
def pg_url(postgres_server) -> str:
    """URL of a private database on the session server (dropped afterwards)."""
    name = f"sql_extract_{os.getpid()}"
    admin = sa.create_engine(postgres_server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(postgres_server.url).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="module")
def dbs(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Both engines, extracts before and after an appended month, and the append counts."""
    if not CSV.is_file():
        pytest.skip("Telco CSV not present")
    customers = load_population(CSV, N_CUSTOMERS, SEED)
    engines = {"postgresql": sa.create_engine(pg_url),
               "sqlite": sa.create_engine(
                   f"sqlite:///{tmp_path_factory.mktemp('billing') / 'billing.db'}")}
    state: dict = {"engines": engines, "first": {}, "second": {}, "counts": {}}
    for name, eng in engines.items():
        billing.generate_billing(eng, customers, AS_OF, SEED)
        state["first"][name] = {t: run(eng, t) for t in BILLING_TABLES}
        state["counts"][name] = billing.append_new_billing(eng, customers, NEXT_AS_OF, SEED)
        state["second"][name] = {
            t: run(eng, t, low=state["first"][name][t][0].high_watermark) for t in BILLING_TABLES}
    yield state
    for eng in engines.values():
        eng.dispose()


def test_postgres_database_has_native_types(dbs) -> None:
    table = sa.Table("payments", sa.MetaData(), autoload_with=dbs["engines"]["postgresql"])
    assert isinstance(table.c.updated_at.type, sa.DateTime)
    assert isinstance(table.c.amount.type, sa.Numeric) and table.c.amount.type.scale == 2


@pytest.mark.parametrize("table", ["invoices", "payments"])
def test_first_extract_reads_everything_and_matches_sqlite_bytes(dbs, table: str) -> None:
    key = BILLING_TABLES[table].key
    (rp, dp), (rs, ds) = dbs["first"]["postgresql"][table], dbs["first"]["sqlite"][table]
    assert dp == ds and rp == rs
    with dbs["engines"]["postgresql"].connect() as conn:
        count, max_id = conn.execute(
            sa.text(f"SELECT count(*), max({key}) FROM {table} WHERE {key} <= :k"),
            {"k": rp.high_watermark[1]}).one()
    assert rp.rows == count == max_id == len(dp.splitlines()) > 1000
    first = json.loads(dp.splitlines()[0])
    assert "T" in first["updated_at"] and isinstance(first["amount"], str)


@pytest.mark.parametrize("table", ["invoices", "payments"])
def test_second_extract_reads_exactly_the_new_rows_on_both_engines(dbs, table: str) -> None:
    key = BILLING_TABLES[table].key
    (r2p, d2p), (r2s, d2s) = dbs["second"]["postgresql"][table], dbs["second"]["sqlite"][table]
    assert d2p == d2s and r2p == r2s
    new_rows = getattr(dbs["counts"]["postgresql"], table)
    assert new_rows == getattr(dbs["counts"]["sqlite"], table) > 0
    assert r2p.rows == new_rows
    ids = [json.loads(ln)[key] for ln in d2p.splitlines()]
    first_high = dbs["first"]["postgresql"][table][0].high_watermark
    assert ids == list(range(first_high[1] + 1, first_high[1] + 1 + new_rows))
    _, full = run(dbs["engines"]["postgresql"], table)
    assert dbs["first"]["postgresql"][table][1] + d2p == full
    r3, d3 = run(dbs["engines"]["postgresql"], table, low=r2p.high_watermark)
    assert (r3.rows, r3.high_watermark, d3) == (0, None, b"")


def test_tie_boundary_and_bounded_reread_on_postgres(dbs) -> None:
    pg, lite = dbs["engines"]["postgresql"], dbs["engines"]["sqlite"]
    _, full = run(pg, "invoices")
    lines = full.splitlines(keepends=True)
    stamps = [wm(ln, "invoice_id") for ln in lines]
    i = next(i for i in range(len(stamps)) if stamps[i][0] == stamps[i + 9][0])
    boundary, end = stamps[i + 4], stamps[i + 60]
    assert stamps[i + 3][0] == boundary[0] == stamps[i + 5][0]
    for batch_rows in (50_000, 3, 1):
        a, da = run(pg, "invoices", high=boundary, batch_rows=batch_rows)
        b, db = run(pg, "invoices", low=boundary, high=end, batch_rows=batch_rows)
        assert (a.rows, b.rows) == (i + 5, 56)
        assert da + db == b"".join(lines[:i + 61])
    # Bounded re-read (low, high] of a batch, identical on both engines.
    low, high = stamps[99], stamps[1499]
    rp, dp = run(pg, "invoices", low=low, high=high, batch_rows=128)
    rs, ds = run(lite, "invoices", low=low, high=high, batch_rows=500)
    assert dp == ds == b"".join(lines[100:1500])
    assert rp.high_watermark == rs.high_watermark == high and rp.rows == 1400


def test_rows_committed_during_the_extract_are_left_for_the_next_run(pg_url: str) -> None:
    eng = sa.create_engine(pg_url)
    md = sa.MetaData()
    t = sa.Table("extract_race", md,
                 sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                 sa.Column("amount", sa.Numeric(10, 2), nullable=False),
                 sa.Column("updated_at", sa.DateTime, nullable=False))
    md.drop_all(eng)
    md.create_all(eng)
    t0 = datetime(2026, 11, 1, 1, 0, 0)
    with eng.begin() as conn:  # 4 rows per second: ties everywhere
        conn.execute(t.insert(), [{"id": i, "amount": i / 4,
                                   "updated_at": t0 + timedelta(seconds=i // 4)}
                                  for i in range(1, 2001)])

    def insert_more() -> None:  # another connection, another thread, committed mid-extract
        with eng.begin() as conn:
            conn.execute(t.insert(), [{"id": i, "amount": 1,
                                       "updated_at": t0 + timedelta(seconds=i // 4)}
                                      for i in range(2001, 2101)])

    class InsertOnFirstWrite(io.BytesIO):
        fired = False

        def write(self, data) -> int:
            if not self.fired:
                self.fired = True
                th = threading.Thread(target=insert_more)
                th.start()
                th.join()
            return super().write(data)

    out = InsertOnFirstWrite()
    src = SqlSource("extract_race", "id")
    r1 = extract_increment(eng, src, low=None, batch_rows=300, out=out)
    assert out.fired and r1.rows == 2000
    assert r1.high_watermark == r1.snapshot == (t0 + timedelta(seconds=500), 2000)
    r2, d2 = run(eng, src, low=r1.high_watermark)
    assert r2.rows == 100 and json.loads(d2.splitlines()[0])["id"] == 2001
    assert json.loads(out.getvalue().splitlines()[1]) == {
        "id": 2, "amount": "0.50", "updated_at": "2026-11-01T01:00:00"}
    md.drop_all(eng)
    eng.dispose()


def test_timestamptz_is_written_as_naive_utc(pg_url: str) -> None:
    eng = sa.create_engine(pg_url, connect_args={"options": "-c timezone=Europe/Berlin"})
    md = sa.MetaData()
    t = sa.Table("extract_tz", md,
                 sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                 sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False))
    md.drop_all(eng)
    md.create_all(eng)
    utc = timezone.utc
    stamps = [datetime(2026, 3, 29, 0, 30, tzinfo=utc)] * 2 + [
        datetime(2026, 3, 29, 1, 30, 0, 250000, tzinfo=utc)]
    with eng.begin() as conn:
        conn.execute(t.insert(), [{"id": i + 1, "updated_at": ts} for i, ts in enumerate(stamps)])
    src = SqlSource("extract_tz", "id")
    r, data = run(eng, src, low=(datetime(2026, 3, 29, 0, 30), 1))
    assert [json.loads(ln) for ln in data.splitlines()] == [
        {"id": 2, "updated_at": "2026-03-29T00:30:00"},
        {"id": 3, "updated_at": "2026-03-29T01:30:00.250000"}]
    assert r.high_watermark == (datetime(2026, 3, 29, 1, 30, 0, 250000), 3)
    md.drop_all(eng)
    eng.dispose()


def test_errors_name_the_table_and_hide_the_password(pg_url: str) -> None:
    with_password = sa.engine.make_url(pg_url).set(password="topsecret")  # trust auth ignores it
    eng = sa.create_engine(with_password)
    with pytest.raises(ValueError) as exc:
        run(eng, SqlSource("refunds", "refund_id"))
    msg = str(exc.value)
    assert "'refunds'" in msg and ":***@127.0.0.1:" in msg and "topsecret" not in msg
    assert "invoices" in msg  # the tables that do exist
    eng.dispose()

    missing_db = sa.create_engine(sa.engine.make_url(pg_url).set(database="no_such_db",
                                                                 password="topsecret"))
    with pytest.raises(RuntimeError) as exc:
        run(missing_db, "invoices")
    msg = str(exc.value)
    assert msg.startswith("billing database unreachable at postgresql+psycopg://")
    assert "no_such_db" in msg
    assert "topsecret" not in msg and isinstance(exc.value.__cause__, sa.exc.OperationalError)
    missing_db.dispose()
