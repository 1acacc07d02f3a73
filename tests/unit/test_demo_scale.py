"""Tests of the vectorised scale generator: formats, scale knobs, churn signal, and agreement
with the per-customer generator on the same population. No Spark."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from churnlake.demo import access_logs, billing
from churnlake.demo.generate import generate_all
from churnlake.demo.scale import PRESETS, generate_scale, main
from churnlake.demo.ticket_api import TicketStore
from churnlake.demo.tickets import TICKET_FIELDS, read_tickets_jsonl

REPO = Path(__file__).resolve().parents[2]
CSV = REPO / "data" / "telco_customer_churn.csv"
AS_OF = date(2026, 11, 27)
SEED = 7
N = 3000
DAYS = 14
BROKEN = 5

pytestmark = pytest.mark.skipif(not CSV.is_file(), reason="Telco CSV not present")


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "manifest.json"}


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("scale")
    manifest = generate_scale(CSV, out, seed=SEED, as_of=AS_OF, customers=N, days=DAYS, broken_lines=BROKEN)
    return {"out": out, "manifest": manifest}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The per-customer generator on the same population (first N Telco rows)."""
    out = tmp_path_factory.mktemp("reference")
    return {"out": out, "manifest": generate_all(CSV, out, SEED, AS_OF, n_customers=N, days=DAYS)}


def _log_lines(out: Path) -> list[str]:
    return [line for f in access_logs.iter_log_files(out) for line in f.read_text().splitlines()]


def _churners(out: Path) -> dict[str, bool]:
    import csv
    with open(out / "customers.csv", newline="") as fh:
        return {r["customerID"]: r["Churn"] == "Yes" for r in csv.DictReader(fh)}


# --------------------------------------------------------------------------- formats


def test_same_seed_same_bytes_other_seed_other_data(scale: dict, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_scale(CSV, again, seed=SEED, as_of=AS_OF, customers=N, days=DAYS, broken_lines=BROKEN)
    first = _hashes(scale["out"])
    assert _hashes(again) == first
    other = tmp_path / "other"
    generate_scale(CSV, other, seed=SEED + 1, as_of=AS_OF, customers=N, days=DAYS, broken_lines=BROKEN)
    differ = {k for k, v in _hashes(other).items() if first.get(k) != v}
    assert {"billing.db", "tickets.jsonl"} <= differ


def test_log_files_hourly_combined_format_and_exact_counts(scale: dict) -> None:
    out, counts = scale["out"], scale["manifest"]["artefacts"]["access_logs"]
    files = access_logs.iter_log_files(out)
    assert len(files) == counts["files"] == DAYS * 24
    start, end = access_logs.log_window(AS_OF, DAYS)
    assert files[0].name == access_logs.log_file_name(start)
    customers = set(_churners(out))
    total = broken = logins = 0
    for f in files:
        hour = datetime.strptime(f.name, "access-%Y-%m-%d-%H.log").replace(tzinfo=timezone.utc)
        previous = None
        for line in f.read_text().splitlines():
            total += 1
            m = access_logs.LOG_LINE_RE.match(line)
            if m is None:
                broken += 1
                continue
            ts = access_logs.parse_log_ts(m["ts"])
            assert hour <= ts < hour + timedelta(hours=1), (f.name, line)
            assert previous is None or ts >= previous, f"{f.name} not in time order at {line}"
            previous = ts
            assert m["authuser"] == "-" or m["authuser"] in customers
            assert (m["bytes"] == "-") == (m["status"] == "304")
            logins += m["method"] == "POST" and m["path"] == "/login" and m["status"] == "302"
    assert broken == counts["broken_lines"] == BROKEN
    assert total == counts["lines"]
    assert logins == counts["logins"]
    assert total == counts["customer_lines"] + counts["anonymous_lines"] + BROKEN


def test_sessions_follow_the_portal_flow(scale: dict) -> None:
    """Every customer line belongs to a login: GET /login (anonymous) then POST /login per session."""
    lines = [access_logs.LOG_LINE_RE.match(line) for line in _log_lines(scale["out"])]
    lines = [m for m in lines if m]
    get_login = sum(m["method"] == "GET" and m["path"] == "/login" for m in lines)
    post_ok = sum(m["method"] == "POST" and m["path"] == "/login" and m["status"] == "302" for m in lines)
    failed = sum(m["path"] == "/login" and m["status"] == "401" for m in lines)
    assert abs(get_login - post_ok) <= 5  # sessions cut by the window's end
    assert 0.02 < failed / post_ok < 0.06
    # The dashboard right after the login has the login page as referer (later visits another page).
    after_login = sum(m["path"] == "/dashboard" and m["referer"].endswith("/login") for m in lines)
    assert abs(after_login - post_ok) <= 5
    pages = Counter(m["status"] for m in lines if m["authuser"] != "-" and m["method"] == "GET"
                    and m["path"] not in ("/logout",))
    assert 0.04 < pages["304"] / sum(pages.values()) < 0.08


def test_billing_database_has_the_demo_schema_and_consistent_rows(scale: dict) -> None:
    out, counts = scale["out"], scale["manifest"]["artefacts"]["billing_db"]
    con = sqlite3.connect(out / "billing.db")
    try:
        tenure = {}
        import csv
        with open(out / "customers.csv", newline="") as fh:
            tenure = {r["customerID"]: int(r["tenure"]) for r in csv.DictReader(fh)}
        per_customer = dict(con.execute("SELECT customer_id, count(*) FROM invoices GROUP BY customer_id"))
        assert per_customer == {c: t for c, t in tenure.items() if t > 0}
        assert con.execute("SELECT count(*) FROM invoices").fetchone()[0] == counts["tables"]["invoices"]
        assert con.execute("SELECT count(*) FROM payments").fetchone()[0] == counts["tables"]["payments"]
        # ids follow (updated_at, id): the watermark of incremental reads.
        for table, key in (("invoices", "invoice_id"), ("payments", "payment_id")):
            ids = [r[0] for r in con.execute(f"SELECT {key} FROM {table} ORDER BY updated_at, {key}")]
            assert ids == sorted(ids) == list(range(1, len(ids) + 1))
        assert con.execute("SELECT count(*) FROM payments WHERE (paid_at IS NULL) != (status = 'failed')").fetchone()[0] == 0
        assert con.execute("SELECT max(updated_at) FROM payments").fetchone()[0] < "2026-11-28"
        assert con.execute("SELECT count(*) FROM payments p JOIN invoices i USING (invoice_id) "
                           "WHERE p.customer_id != i.customer_id OR p.amount != i.amount").fetchone()[0] == 0
        state = dict(con.execute("SELECT key, value FROM demo_state"))
        assert state["generator"] == "churnlake.demo.scale"
    finally:
        con.close()
    engine = sa.create_engine(billing.default_sqlite_url(out))
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.select(billing.invoices).limit(1)).one()
            assert isinstance(row.issued_at, datetime) and isinstance(row.billing_month, date)
        with pytest.raises(ValueError, match="made by churnlake.demo.scale, which cannot be advanced"):
            billing.append_new_billing(engine, [], date(2026, 12, 27), SEED)
    finally:
        engine.dispose()


def test_tickets_load_into_the_api_store(scale: dict) -> None:
    out = scale["out"]
    records = list(read_tickets_jsonl(out / "tickets.jsonl"))
    assert len(records) == scale["manifest"]["artefacts"]["tickets"]["records"] == len(TicketStore.from_jsonl(out / "tickets.jsonl"))
    assert all(list(r) == list(TICKET_FIELDS) for r in records)
    assert sorted(r["ticket_id"] for r in records) == list(range(1, len(records) + 1))
    assert [(r["updated_at"], r["ticket_id"]) for r in records] == sorted((r["updated_at"], r["ticket_id"]) for r in records)
    for r in records:
        assert r["created_at"] <= r["updated_at"] < "2026-11-28"
        assert (r["resolved_at"] is None) == (r["status"] in ("open", "pending"))
        assert r["satisfaction"] is None or r["status"] == "closed"
        assert not (r["category"] == "cancellation" and r["priority"] == "low")


# --------------------------------------------------------------------------- knobs and signal


def test_scale_knobs_scale_the_data(scale: dict, tmp_path: Path) -> None:
    small = generate_scale(CSV, tmp_path / "half", seed=SEED, as_of=AS_OF, customers=N // 2, days=DAYS // 2,
                           broken_lines=0)["artefacts"]
    big = scale["manifest"]["artefacts"]
    assert small["customers"]["rows"] == N // 2
    assert small["access_logs"]["files"] == DAYS // 2 * 24
    # Half the customers for half the days: about a quarter of the customer lines.
    assert 0.18 < small["access_logs"]["customer_lines"] / big["access_logs"]["customer_lines"] < 0.32
    assert 0.4 < small["tickets"]["records"] / big["tickets"]["records"] < 0.6
    synthetic = generate_scale(CSV, tmp_path / "syn", seed=SEED, as_of=AS_OF, customers=8000, days=1,
                               broken_lines=0)["artefacts"]["customers"]
    assert synthetic["synthetic"] == 8000 - 7043
    ids = list(_churners(tmp_path / "syn"))
    assert len(ids) == len(set(ids)) == 8000 and ids[-1] == "SYN-000957"


def test_presets_are_the_documented_scales() -> None:
    assert PRESETS["M"][0] == 100_000 and PRESETS["L"][0] == 1_000_000


def test_churners_differ_as_configured(scale: dict) -> None:
    out = scale["out"]
    churn = _churners(out)
    n_churn = sum(churn.values())
    sessions = Counter()
    for line in _log_lines(out):
        m = access_logs.LOG_LINE_RE.match(line)
        if m and m["method"] == "POST" and m["status"] == "302":
            sessions[churn[m["authuser"]]] += 1
    weeks = DAYS / 7
    non_rate = sessions[False] / (len(churn) - n_churn) / weeks
    churn_rate = sessions[True] / n_churn / weeks
    assert 4.4 < non_rate < 5.6
    assert churn_rate < 0.4 * non_rate
    con = sqlite3.connect(out / "billing.db")
    try:
        rows = con.execute("SELECT p.customer_id, p.status FROM payments p").fetchall()
    finally:
        con.close()
    bad = Counter((churn[c], s != "paid") for c, s in rows)
    share = {g: bad[(g, True)] / (bad[(g, True)] + bad[(g, False)]) for g in (True, False)}
    assert share[True] > 2 * share[False]
    tickets = list(read_tickets_jsonl(out / "tickets.jsonl"))
    cancel = {g: sum(t["category"] == "cancellation" for t in tickets if churn[t["customer_id"]] == g)
              / sum(churn[t["customer_id"]] == g for t in tickets) for g in (True, False)}
    assert cancel[True] > 4 * cancel[False]
    rating = {g: [t["satisfaction"] for t in tickets if t["satisfaction"] and churn[t["customer_id"]] == g]
              for g in (True, False)}
    assert sum(rating[True]) / len(rating[True]) < sum(rating[False]) / len(rating[False]) - 1


def test_agrees_with_the_per_customer_generator(scale: dict, reference: dict) -> None:
    """Same population: the same invoices per customer, and rates within sampling noise."""
    ours, ref = scale["manifest"]["artefacts"], reference["manifest"]["artefacts"]
    assert ours["customers"]["churners"] == ref["customers"]["churners"]
    assert ours["billing_db"]["tables"]["invoices"] == ref["billing_db"]["tables"]["invoices"]
    for key in ("late", "failed"):
        a, b = ours["billing_db"]["payments_by_status"][key], ref["billing_db"]["payments_by_status"][key]
        assert abs(a - b) / b < 0.15, (key, a, b)
    for key, tol in (("customer_lines", 0.08), ("sessions", 0.08), ("anonymous_lines", 0.08)):
        a, b = ours["access_logs"][key], ref["access_logs"][key]
        assert abs(a - b) / b < tol, (key, a, b)
    a, b = ours["tickets"]["records"], ref["tickets"]["records"]
    assert abs(a - b) / b < 0.08
    con_a = sqlite3.connect(scale["out"] / "billing.db")
    con_b = sqlite3.connect(reference["out"] / "billing.db")
    try:
        total_a = con_a.execute("SELECT sum(amount) FROM invoices").fetchone()[0]
        total_b = con_b.execute("SELECT sum(amount) FROM invoices").fetchone()[0]
    finally:
        con_a.close()
        con_b.close()
    assert abs(total_a - total_b) / total_b < 0.002


def test_cli_preset_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--customers", "50", "--days", "1", "--out", str(tmp_path / "c"), "--as-of", "2026-11-27",
                 "--customers-csv", str(CSV), "--broken-lines", "0"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["artefacts"]["customers"]["rows"] == 50
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "d"), "--as-of", "2026-11-27"])
    assert "give --preset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--customers", "5", "--days", "0", "--broken-lines", "2", "--out", str(tmp_path / "e"),
              "--as-of", "2026-11-27", "--customers-csv", str(CSV)])
    assert "broken_lines needs days" in capsys.readouterr().err
