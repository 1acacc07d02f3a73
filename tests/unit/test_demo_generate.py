"""Tests of the demo source generator (billing DB, tickets, access logs). No Spark."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from churnlake.demo import access_logs, billing
from churnlake.demo.customers import build_population, load_telco_csv
from churnlake.demo.generate import generate_all, load_population, main
from churnlake.demo.profiles import CHURNER, NON_CHURNER, session_rate_multiplier

REPO = Path(__file__).resolve().parents[2]
CSV = REPO / "data" / "telco_customer_churn.csv"
AS_OF = date(2026, 11, 27)
SEED = 42
N_CUSTOMERS = 300
DAYS = 28
BROKEN = 5

pytestmark = pytest.mark.skipif(not CSV.is_file(), reason="Telco CSV not present")


def _tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("demo")
    manifest = generate_all(CSV, out, SEED, AS_OF, n_customers=N_CUSTOMERS, days=DAYS,
                            broken_lines=BROKEN)
    customers = {c.customer_id: c for c in load_population(CSV, N_CUSTOMERS, SEED)}
    con = sqlite3.connect(out / "billing.db")
    yield {"out": out, "manifest": manifest, "customers": customers, "db": con}
    con.close()


# --------------------------------------------------------------------------- determinism

def test_same_inputs_give_byte_identical_outputs(tmp_path: Path) -> None:
    args = ["--customers-csv", str(CSV), "--seed", "7", "--as-of", "2026-11-27",
            "--customers", "200", "--days", "2", "--broken-lines", "3", "--log-level", "ERROR"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = _tree_hashes(tmp_path / "a"), _tree_hashes(tmp_path / "b")
    assert a == b
    assert {"billing.db", "tickets.jsonl", "manifest.json", "customers.csv"} <= set(a)
    assert sum(k.startswith("access_logs/") for k in a) == 48


def test_other_seed_gives_other_data(tmp_path: Path) -> None:
    common = dict(n_customers=50, days=1)
    generate_all(CSV, tmp_path / "s1", 1, AS_OF, **common)
    generate_all(CSV, tmp_path / "s2", 2, AS_OF, **common)
    assert (tmp_path / "s1/tickets.jsonl").read_bytes() != (tmp_path / "s2/tickets.jsonl").read_bytes()


def test_days_do_not_change_billing_or_tickets(demo: dict, tmp_path: Path) -> None:
    generate_all(CSV, tmp_path, SEED, AS_OF, n_customers=N_CUSTOMERS, days=1)
    assert (tmp_path / "tickets.jsonl").read_bytes() == (demo["out"] / "tickets.jsonl").read_bytes()
    con = sqlite3.connect(tmp_path / "billing.db")
    try:
        q = "SELECT * FROM payments ORDER BY payment_id"
        assert con.execute(q).fetchall() == demo["db"].execute(q).fetchall()
    finally:
        con.close()


# --------------------------------------------------------------------------- population

def test_population_first_n_and_synthetic_resampling() -> None:
    table = load_telco_csv(CSV)
    assert len(table.rows) == 7043
    first = build_population(table, 10, SEED)
    assert [c.customer_id for c in first] == [r[0] for r in table.rows[:10]]
    big = build_population(table, 7050, SEED)
    assert [c.customer_id for c in big[-7:]] == [f"SYN-{i:06d}" for i in range(1, 8)]
    again = build_population(table, 7050, SEED)
    assert [c.template_index for c in big[-7:]] == [c.template_index for c in again[-7:]]
    syn = big[-1]
    assert syn.tenure == int(table.rows[syn.template_index][table.header.index("tenure")])


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_customers=0), "customers must be >= 1"),
    (dict(days=-1), "days must be >= 0"),
    (dict(broken_lines=-2), "broken_lines must be >= 0"),
    (dict(batch_size=0), "batch_size must be >= 1"),
])
def test_invalid_parameters_raise_value_error(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_all(CSV, tmp_path, SEED, AS_OF, **kwargs)


def test_missing_csv_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        generate_all(tmp_path / "nope.csv", tmp_path, SEED, AS_OF)


def test_cli_rejects_bad_as_of(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--customers-csv", str(CSV), "--out", str(tmp_path), "--as-of", "27/11/2026"])
    assert exc.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


# --------------------------------------------------------------------------- manifest

def test_manifest_counts_match_artefacts(demo: dict) -> None:
    out, m = demo["out"], demo["manifest"]
    assert json.loads((out / "manifest.json").read_text()) == m
    assert m["parameters"]["seed"] == SEED and m["parameters"]["days"] == DAYS
    art = m["artefacts"]
    assert art["customers"]["rows"] == N_CUSTOMERS
    db = demo["db"]
    assert art["billing_db"]["tables"]["invoices"] == db.execute("SELECT count(*) FROM invoices").fetchone()[0]
    assert art["billing_db"]["tables"]["payments"] == db.execute("SELECT count(*) FROM payments").fetchone()[0]
    assert art["tickets"]["records"] == len((out / "tickets.jsonl").read_text().splitlines())
    lines = sum(len(p.read_text().splitlines()) for p in access_logs.iter_log_files(out))
    assert art["access_logs"]["lines"] == lines
    assert art["access_logs"]["files"] == DAYS * 24
    assert art["access_logs"]["broken_lines"] == BROKEN


# --------------------------------------------------------------------------- billing

def test_billing_matches_tenure_and_total_charges(demo: dict) -> None:
    db = demo["db"]
    rows = db.execute("SELECT customer_id, count(*), min(billing_month), max(billing_month), "
                      "sum(amount) FROM invoices GROUP BY customer_id").fetchall()
    by_customer = {r[0]: r[1:] for r in rows}
    last_amount = dict(db.execute(
        "SELECT customer_id, amount FROM invoices WHERE billing_month = '2026-11-01'").fetchall())
    checked = 0
    for cid, c in demo["customers"].items():
        if c.tenure == 0:
            assert cid not in by_customer
            continue
        count, first, last, total = by_customer[cid]
        assert count == c.tenure
        assert last == "2026-11-01"
        first_d = date.fromisoformat(first)
        assert (2026 * 12 + 10) - (first_d.year * 12 + first_d.month - 1) == c.tenure - 1
        # Noise is clipped at +-4 % per invoice and the price ramp averages to TotalCharges.
        assert abs(total - c.total_charges) <= 0.04 * c.total_charges + 0.005 * count, cid
        assert abs(last_amount[cid] - c.monthly_charges) <= 0.05 * c.monthly_charges + 0.01
        checked += 1
    assert checked > 250


def test_billing_ids_follow_updated_at_and_rows_are_consistent(demo: dict) -> None:
    db = demo["db"]
    for table, key in (("invoices", "invoice_id"), ("payments", "payment_id")):
        rows = db.execute(f"SELECT {key}, updated_at FROM {table} ORDER BY {key}").fetchall()
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
        assert all(a[1] <= b[1] for a, b in zip(rows, rows[1:])), table
        assert max(r[1] for r in rows) < "2026-11-28 00:00:00"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[0][1])
    orphans = db.execute("SELECT count(*) FROM payments p LEFT JOIN invoices i "
                         "ON p.invoice_id = i.invoice_id WHERE i.invoice_id IS NULL").fetchone()[0]
    assert orphans == 0
    bad = db.execute("SELECT count(*) FROM payments WHERE (status = 'failed') != (paid_at IS NULL)"
                     ).fetchone()[0]
    assert bad == 0
    late_early = db.execute("SELECT count(*) FROM payments p JOIN invoices i USING (invoice_id) "
                            "WHERE p.status = 'late' AND p.paid_at <= i.due_date || ' 23:59:59'"
                            ).fetchone()[0]
    assert late_early == 0
    statuses = {r[0] for r in db.execute("SELECT DISTINCT status FROM payments")}
    assert statuses == {"paid", "late", "failed"}


def test_sqlalchemy_reads_typed_values(demo: dict) -> None:
    engine = sa.create_engine(f"sqlite:///{demo['out'] / 'billing.db'}")
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.select(billing.payments).limit(1)).one()
    finally:
        engine.dispose()
    assert isinstance(row.updated_at, datetime)
    assert row.method in {"electronic_check", "mailed_check", "bank_transfer", "credit_card"}


def test_append_new_billing_is_incremental(demo: dict, tmp_path: Path) -> None:
    db_file = tmp_path / "billing.db"
    shutil.copy(demo["out"] / "billing.db", db_file)
    engine = sa.create_engine(f"sqlite:///{db_file}")
    customers = list(demo["customers"].values())
    try:
        with engine.connect() as conn:
            wm_inv = conn.execute(sa.text("SELECT max(updated_at), max(invoice_id) FROM invoices")).one()
            wm_pay = conn.execute(sa.text("SELECT max(updated_at), max(payment_id) FROM payments")).one()
        counts = billing.append_new_billing(engine, customers, date(2026, 12, 27), SEED)
        with engine.connect() as conn:
            new_inv = conn.execute(sa.text(
                "SELECT invoice_id, customer_id, billing_month FROM invoices "
                "WHERE updated_at > :ts OR (updated_at = :ts AND invoice_id > :id)"),
                {"ts": wm_inv[0], "id": wm_inv[1]}).all()
            new_pay = conn.execute(sa.text(
                "SELECT payment_id, invoice_id FROM payments "
                "WHERE updated_at > :ts OR (updated_at = :ts AND payment_id > :id)"),
                {"ts": wm_pay[0], "id": wm_pay[1]}).all()
            total_pay = conn.execute(sa.text("SELECT count(*) FROM payments")).scalar()
            ordered = conn.execute(sa.text(
                "SELECT payment_id, updated_at FROM payments ORDER BY payment_id")).all()
    finally:
        engine.dispose()
    non_churners = {c.customer_id for c in customers if not c.churn}
    assert counts.invoices == len(new_inv) == len(non_churners)
    assert {r[1] for r in new_inv} == non_churners
    assert {r[2] for r in new_inv} == {"2026-12-01"}
    assert counts.payments == len(new_pay) > 0
    assert min(r[0] for r in new_pay) == wm_pay[1] + 1
    assert total_pay == wm_pay[1] + counts.payments
    assert all(a[1] <= b[1] for a, b in zip(ordered, ordered[1:]))
    # Some new payments settle November invoices (late payers), not only December ones.
    assert any(r[1] <= wm_inv[1] for r in new_pay)


def test_append_new_billing_validates(demo: dict, tmp_path: Path) -> None:
    db_file = tmp_path / "billing.db"
    shutil.copy(demo["out"] / "billing.db", db_file)
    engine = sa.create_engine(f"sqlite:///{db_file}")
    customers = list(demo["customers"].values())
    try:
        with pytest.raises(ValueError, match="must be after"):
            billing.append_new_billing(engine, customers, AS_OF, SEED)
        with pytest.raises(ValueError, match="seed"):
            billing.append_new_billing(engine, customers, date(2026, 12, 27), SEED + 1)
        with pytest.raises(ValueError, match="customers differ"):
            billing.append_new_billing(engine, customers[:-1], date(2026, 12, 27), SEED)
    finally:
        engine.dispose()


def test_schema_compiles_for_postgresql() -> None:
    dialect = postgresql.psycopg.dialect()
    ddl = "\n".join(str(CreateTable(t).compile(dialect=dialect))
                    for t in (billing.invoices, billing.payments))
    assert "TIMESTAMP WITHOUT TIME ZONE" in ddl and "NUMERIC(10, 2)" in ddl
    for ix in billing.invoices.indexes | billing.payments.indexes:
        assert "CREATE INDEX" in str(CreateIndex(ix).compile(dialect=dialect))


# --------------------------------------------------------------------------- churn signal

def _shares_by_group(demo: dict) -> dict[bool, dict[str, float]]:
    churn = {cid: c.churn for cid, c in demo["customers"].items()}
    inv = Counter()
    for cid, n in demo["db"].execute("SELECT customer_id, count(*) FROM invoices GROUP BY 1"):
        inv[churn[cid]] += n
    pay: dict[bool, Counter] = defaultdict(Counter)
    for cid, status, n in demo["db"].execute(
            "SELECT customer_id, status, count(*) FROM payments GROUP BY 1, 2"):
        pay[churn[cid]][status] += n
    return {g: {s: pay[g][s] / inv[g] for s in ("late", "failed")} for g in (True, False)}


def test_churners_pay_late_and_fail_more(demo: dict) -> None:
    shares = _shares_by_group(demo)
    assert shares[True]["late"] > 1.5 * shares[False]["late"]
    assert shares[True]["failed"] > 1.5 * shares[False]["failed"]
    # Close to the configured rates (non-churners: 5 % late + 2 % * 80 % recoveries).
    assert 0.04 < shares[False]["late"] < 0.10
    assert 0.005 < shares[False]["failed"] < 0.04


def test_churners_open_more_tickets_and_rate_them_lower(demo: dict) -> None:
    tickets = [json.loads(line) for line in (demo["out"] / "tickets.jsonl").read_text().splitlines()]
    customers = demo["customers"]
    per_year = {}
    sat = {}
    for group in (True, False):
        members = [c for c in customers.values() if c.churn == group]
        years = sum(max(c.tenure, 0.5) for c in members) / 12
        mine = [t for t in tickets if customers[t["customer_id"]].churn == group]
        per_year[group] = len(mine) / years
        ratings = [t["satisfaction"] for t in mine if t["satisfaction"] is not None]
        sat[group] = sum(ratings) / len(ratings)
    assert per_year[True] > 2 * per_year[False]
    assert sat[True] < sat[False] - 0.7


def test_ticket_records_are_well_formed(demo: dict) -> None:
    lines = (demo["out"] / "tickets.jsonl").read_text().splitlines()
    tickets = [json.loads(line) for line in lines]
    keys = [(t["updated_at"], t["ticket_id"]) for t in tickets]
    assert keys == sorted(keys)
    assert sorted(t["ticket_id"] for t in tickets) == list(range(1, len(tickets) + 1))
    for t in tickets:
        assert t["created_at"] <= t["updated_at"] < "2026-11-28T00:00:00Z"
        assert (t["resolved_at"] is None) == (t["status"] in ("open", "pending"))
        assert t["satisfaction"] is None or (t["status"] == "closed" and 1 <= t["satisfaction"] <= 5)
        assert t["customer_id"] in demo["customers"]


def _sessions_by_day(demo: dict) -> dict[bool, Counter]:
    out: dict[bool, Counter] = {True: Counter(), False: Counter()}
    customers = demo["customers"]
    for path in access_logs.iter_log_files(demo["out"]):
        day = path.name[7:17]
        for line in path.read_text().splitlines():
            m = access_logs.LOG_LINE_RE.match(line)
            if m and m["method"] == "POST" and m["path"] == "/login" and m["status"] == "302":
                out[customers[m["authuser"]].churn][day] += 1
    return out


def test_churners_log_in_less_and_decline(demo: dict) -> None:
    sessions = _sessions_by_day(demo)
    n = Counter(c.churn for c in demo["customers"].values())
    weeks = DAYS / 7
    rate = {g: sum(sessions[g].values()) / n[g] / weeks for g in (True, False)}
    assert rate[False] > 2.5 * rate[True]
    assert 3.5 < rate[False] < 6.5
    days = sorted(sessions[False] | sessions[True])
    first, last = days[: DAYS // 2], days[DAYS // 2:]
    assert sum(sessions[True][d] for d in last) < 0.75 * sum(sessions[True][d] for d in first)
    assert session_rate_multiplier(CHURNER, 0) == pytest.approx(0.2)
    assert session_rate_multiplier(CHURNER, 40) == 1.0
    assert session_rate_multiplier(NON_CHURNER, 0) == 1.0


# --------------------------------------------------------------------------- access logs

def test_log_files_are_hourly_combined_format(demo: dict) -> None:
    files = access_logs.iter_log_files(demo["out"])
    assert len(files) == DAYS * 24
    assert files[0].name == "access-2026-10-31-00.log"
    assert files[-1].name == "access-2026-11-27-23.log"
    customers = demo["customers"]
    broken = 0
    valid = 0
    private = re.compile(r"^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)")
    for path in files:
        hour = datetime.strptime(path.name, "access-%Y-%m-%d-%H.log").replace(tzinfo=timezone.utc)
        previous = hour
        for line in path.read_text(encoding="utf-8").splitlines():
            m = access_logs.LOG_LINE_RE.match(line)
            if m is None:
                broken += 1
                continue
            valid += 1
            ts = access_logs.parse_log_ts(m["ts"])
            assert hour <= ts < hour + timedelta(hours=1)
            assert ts >= previous
            previous = ts
            assert m["ident"] == "-"
            assert m["authuser"] == "-" or m["authuser"] in customers
            assert private.match(m["ip"]), m["ip"]
    assert broken == BROKEN
    assert valid == demo["manifest"]["artefacts"]["access_logs"]["lines"] - BROKEN


def test_example_line_parses() -> None:
    line = ('10.23.7.141 - 7590-VHVEG [27/Nov/2026:19:04:11 +0000] "GET /billing HTTP/1.1" 200 '
            '7012 "https://portal.telco.example/dashboard" "Mozilla/5.0 (X11; Linux x86_64)"')
    m = access_logs.LOG_LINE_RE.match(line)
    assert m is not None and m["authuser"] == "7590-VHVEG" and m["bytes"] == "7012"
    assert access_logs.parse_log_ts(m["ts"]).isoformat() == "2026-11-27T19:04:11+00:00"
    assert access_logs.log_file_name(datetime(2026, 11, 27, 19)) == "access-2026-11-27-19.log"
