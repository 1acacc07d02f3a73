"""Demo transactional billing database: ``invoices`` and ``payments`` via SQLAlchemy.

One invoice per customer per month of tenure, the last one for the as-of
month. Amounts ramp linearly from an earlier price to today's
``MonthlyCharges`` so that, with +-1.5 % noise, the sum over the tenure is close
to the Telco ``TotalCharges``. Each invoice gets one payment row (``paid`` or
``late``), or a ``failed`` attempt optionally followed by a ``late`` recovery.

Ids are assigned in ``(updated_at, ...)`` order, so ``invoice_id`` and
``payment_id`` never decrease when ``updated_at`` increases: an incremental
reader can keep a watermark on ``(updated_at, id)``. Rows are immutable once
written; :func:`append_new_billing` adds later rows (new months, late
payments of earlier invoices) with larger ``updated_at`` and larger ids.

The schema is plain SQLAlchemy Core and works on SQLite and PostgreSQL
(``postgresql+psycopg://``). Timestamps are naive UTC (``TIMESTAMP WITHOUT
TIME ZONE``). A small ``demo_state`` key/value table remembers the seed and
as-of date for :func:`append_new_billing`; ingestion jobs should ignore it.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import random
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine

from churnlake.demo._common import cutoff_for, day_start, month_index, month_start
from churnlake.demo.customers import Customer, billing_start_month
from churnlake.demo.profiles import RECENT_MONTHS, profile_for

logger = logging.getLogger(__name__)

#: Invoices are stamped by a monthly batch run starting at 01:00 UTC on the 1st,
#: 50 invoices per second (so several invoices share one ``updated_at`` second
#: and the id is the tie-breaker of the watermark).
INVOICE_RUN_HOUR = 1
INVOICES_PER_SECOND = 50
#: ``due_date = billing_month + DUE_DAYS`` (the 15th).
DUE_DAYS = 14
#: Multiplicative amount noise: N(0, AMOUNT_NOISE_SD) clipped to +-AMOUNT_NOISE_CLIP.
AMOUNT_NOISE_SD = 0.015
AMOUNT_NOISE_CLIP = 0.04
PAYMENT_STATUSES = ("paid", "late", "failed")
DEFAULT_BATCH_SIZE = 10_000
_CENT = Decimal("0.01")

#: TIMESTAMP column; on SQLite stored as text ``YYYY-MM-DD HH:MM:SS`` (no microseconds),
#: which sorts correctly and is what JDBC drivers parse.
Timestamp = sa.DateTime().with_variant(
    sqlite_dialect.DATETIME(
        storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d",
        regexp=r"(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)"),
    "sqlite")

metadata = sa.MetaData()

invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("invoice_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.String(32), nullable=False),
    sa.Column("billing_month", sa.Date, nullable=False),
    sa.Column("amount", sa.Numeric(10, 2), nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("issued_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("customer_id", "billing_month", name="uq_invoices_customer_month"),
    sa.Index("ix_invoices_updated_at_id", "updated_at", "invoice_id"),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("payment_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("invoice_id", sa.Integer, sa.ForeignKey("invoices.invoice_id"), nullable=False),
    sa.Column("customer_id", sa.String(32), nullable=False),
    sa.Column("paid_at", Timestamp, nullable=True),
    sa.Column("amount", sa.Numeric(10, 2), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("status IN ('paid', 'late', 'failed')", name="ck_payments_status"),
    sa.Index("ix_payments_updated_at_id", "updated_at", "payment_id"),
    sa.Index("ix_payments_invoice_id", "invoice_id"),
)

demo_state = sa.Table(
    "demo_state",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)


@dataclass
class BillingCounts:
    """Rows written by one generation or append run."""

    invoices: int = 0
    payments: int = 0
    payments_by_status: dict[str, int] = field(
        default_factory=lambda: {s: 0 for s in PAYMENT_STATUSES})

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return {"invoices": self.invoices, "payments": self.payments,
                "payments_by_status": dict(self.payments_by_status)}


def default_sqlite_url(out_dir: str | Path) -> str:
    """SQLAlchemy URL of the default SQLite database ``<out>/billing.db``."""
    return f"sqlite:///{Path(out_dir).resolve() / 'billing.db'}"


def create_billing_schema(engine: Engine, drop_existing: bool = False) -> None:
    """Create ``invoices``, ``payments`` and ``demo_state`` (SQLite or PostgreSQL).

    With ``drop_existing`` the three tables are dropped first (destructive).
    """
    if drop_existing:
        metadata.drop_all(engine)
    metadata.create_all(engine)


def population_digest(customers: Sequence[Customer]) -> str:
    """SHA-256 over (id, template row) of the population, to detect mismatched appends."""
    h = hashlib.sha256()
    for c in customers:
        h.update(f"{c.customer_id},{c.template_index}\n".encode())
    return h.hexdigest()


def _money(x: float) -> Decimal:
    return Decimal(f"{x:.2f}") if x >= 0.005 else _CENT


@functools.lru_cache(maxsize=4096)
def _due(month_idx: int) -> tuple[date, date, datetime]:
    """(billing_month, due_date, end of the due day) of a month."""
    bm = month_start(month_idx)
    due = bm + timedelta(days=DUE_DAYS)
    return bm, due, day_start(due) + timedelta(seconds=86399)


def _base_amount(c: Customer, k: int) -> float:
    """Noise-free amount of the customer's k-th invoice (k = 0 is the first)."""
    m = c.monthly_charges
    t = c.tenure
    if t <= 0 or k >= t:
        return m
    avg = c.total_charges / t if c.total_charges else m
    if t == 1:
        return avg
    # Linear ramp p0 -> m whose mean is the historical average TotalCharges / tenure.
    p0 = min(3.0 * m, max(0.3 * m, 2.0 * avg - m))
    return p0 + (m - p0) * k / (t - 1)


# A payment event before the id is known: (updated_at, seq, status, paid_at).
_PayEvent = tuple[datetime, int, str, "datetime | None"]


def plan_invoice(c: Customer, month_idx: int, origin_as_of: date, seed: int,
                 issued_at: datetime) -> tuple[Decimal, list[_PayEvent]]:
    """Amount and payment events of ``c``'s invoice for ``month_idx`` (pure function).

    ``origin_as_of`` is the churn reference date (the first generation's as-of);
    the last :data:`RECENT_MONTHS` invoices up to it use the ``*_recent`` rates.
    Events may lie after any cut-off; callers filter them.
    """
    # Same stream as keyed_rng(seed, "billing", customer_id, month_idx), built inline (hot path).
    rng = random.Random(f"{seed}|billing|{c.customer_id}|{month_idx}")
    origin_idx = month_index(origin_as_of)
    k = month_idx - (origin_idx - c.tenure + 1)
    noise = max(-AMOUNT_NOISE_CLIP, min(AMOUNT_NOISE_CLIP, rng.gauss(0.0, AMOUNT_NOISE_SD)))
    amount = _money(_base_amount(c, k) * (1.0 + noise))

    prof = profile_for(c.churn)
    months_before = origin_idx - month_idx
    recent = c.churn and 0 <= months_before < RECENT_MONTHS
    p_failed = prof.p_failed_recent if recent else prof.p_failed
    p_late = prof.p_late_recent if recent else prof.p_late
    due_end = _due(month_idx)[2]

    events: list[_PayEvent] = []
    u = rng.random()
    if u < p_failed:
        attempt = issued_at + timedelta(seconds=rng.randint(3600, 12 * 86400))
        events.append((attempt, 0, "failed", None))
        if rng.random() < prof.p_recovery:
            paid = due_end + timedelta(seconds=rng.randint(3600, 30 * 86400))
            events.append((paid, 1, "late", paid))
    elif u < p_failed + p_late:
        paid = due_end + timedelta(seconds=rng.randint(3600, 30 * 86400))
        events.append((paid, 0, "late", paid))
    else:
        method = c.method_code
        if method in ("credit_card", "bank_transfer"):
            lo, hi = 3600, 3 * 86400
        elif method == "electronic_check":
            lo, hi = 86400, 10 * 86400
        else:
            lo, hi = 3 * 86400, 13 * 86400
        paid = issued_at + timedelta(seconds=rng.randint(lo, hi))
        events.append((paid, 0, "paid", paid))
    return amount, events


def _issued_at(month_idx: int, position: int) -> datetime:
    return (day_start(month_start(month_idx))
            + timedelta(hours=INVOICE_RUN_HOUR, seconds=position // INVOICES_PER_SECOND))


class _BulkInserter:
    """executemany of driver-ready row tuples (table column order) via ``exec_driver_sql``.

    SQLAlchemy's per-row type processing dominated the run time, so rows go to
    the DBAPI directly; :class:`_Writer` converts values for SQLite itself.
    """

    def __init__(self, conn: Connection, table: sa.Table) -> None:
        self.conn = conn
        names = [c.name for c in table.columns]
        compiled = table.insert().compile(dialect=conn.dialect, column_keys=names)
        self.sql = str(compiled)
        self.names = names
        self.positional = bool(compiled.positional)
        order = list(compiled.positiontup or names) if self.positional else names
        self.index = [names.index(n) for n in order]

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (tuples in table column order) with one executemany."""
        if not rows:
            return
        params: list[Any]
        if not self.positional:
            params = [dict(zip(self.names, r)) for r in rows]
        elif self.index != list(range(len(self.names))):
            params = [tuple(r[i] for i in self.index) for r in rows]
        else:
            params = rows
        self.conn.exec_driver_sql(self.sql, params)


def _same(value: Any) -> Any:
    return value


class _Writer:
    """Batches executemany inserts and assigns ids to payments in time order."""

    def __init__(self, conn: Connection, batch_size: int, next_invoice_id: int,
                 next_payment_id: int) -> None:
        self.conn = conn
        self.batch_size = batch_size
        self.next_invoice_id = next_invoice_id
        self.next_payment_id = next_payment_id
        # SQLite gets the text SQLAlchemy itself would store (YYYY-MM-DD,
        # YYYY-MM-DD HH:MM:SS for whole seconds) and floats (NUMERIC affinity);
        # other drivers (psycopg) get the Python values.
        sqlite = conn.dialect.name == "sqlite"
        self.text: Callable[[Any], Any] = str if sqlite else _same
        self.num: Callable[[Any], Any] = float if sqlite else _same
        self.invoice_ins = _BulkInserter(conn, invoices)
        self.payment_ins = _BulkInserter(conn, payments)
        self.invoice_buf: list[tuple[Any, ...]] = []
        self.payment_buf: list[tuple[Any, ...]] = []
        # heap of (updated_at, invoice_id, seq, row tail after payment_id)
        self.pending: list[tuple[datetime, int, int, tuple[Any, ...]]] = []
        self.counts = BillingCounts()

    def add_invoice(self, c: Customer, month_idx: int, issued: datetime, amount: Decimal) -> int:
        invoice_id = self.next_invoice_id
        self.next_invoice_id += 1
        bm, due, _ = _due(month_idx)
        text = self.text
        issued_v = text(issued)
        self.invoice_buf.append((invoice_id, c.customer_id, text(bm), self.num(amount),
                                 text(due), issued_v, issued_v))
        self.counts.invoices += 1
        if len(self.invoice_buf) >= self.batch_size:
            self.flush_invoices()
        return invoice_id

    def add_payment_event(self, invoice_id: int, c: Customer, amount: Decimal,
                          event: _PayEvent) -> None:
        updated_at, seq, status, paid_at = event
        text = self.text
        heapq.heappush(self.pending, (updated_at, invoice_id, seq, (
            invoice_id, c.customer_id, None if paid_at is None else text(paid_at),
            self.num(amount), status, c.method_code, text(updated_at))))

    def flush_invoices(self) -> None:
        self.invoice_ins.insert(self.invoice_buf)
        self.invoice_buf = []

    def release_payments_before(self, boundary: datetime | None) -> None:
        """Give ids to pending payments with ``updated_at < boundary`` (all if None) and insert."""
        self.flush_invoices()  # payments reference invoices
        by_status = self.counts.payments_by_status
        while self.pending and (boundary is None or self.pending[0][0] < boundary):
            tail = heapq.heappop(self.pending)[3]
            self.payment_buf.append((self.next_payment_id, *tail))
            self.next_payment_id += 1
            self.counts.payments += 1
            by_status[tail[4]] += 1
            if len(self.payment_buf) >= self.batch_size:
                self._flush_payment_buf()
        self._flush_payment_buf()

    def _flush_payment_buf(self) -> None:
        self.payment_ins.insert(self.payment_buf)
        self.payment_buf = []


def _bill_months(writer: _Writer, months: range, active_for: Callable[[int], Sequence[Customer]],
                 origin_as_of: date, seed: int, cutoff: datetime) -> None:
    """Write invoices of ``months`` and release payments month by month (streaming)."""
    for m in months:
        for pos, c in enumerate(active_for(m)):
            issued = _issued_at(m, pos)
            amount, events = plan_invoice(c, m, origin_as_of, seed, issued)
            invoice_id = writer.add_invoice(c, m, issued, amount)
            for ev in events:
                if ev[0] < cutoff:
                    writer.add_payment_event(invoice_id, c, amount, ev)
        # Later invoices are issued on/after the 1st of m+1, so earlier events are final.
        writer.release_payments_before(day_start(month_start(m + 1)))
        writer.conn.commit()


def _write_state(conn: Connection, values: dict[str, str]) -> None:
    conn.execute(demo_state.delete())
    conn.execute(demo_state.insert(), [{"key": k, "value": v} for k, v in sorted(values.items())])


def read_state(engine: Engine) -> dict[str, str]:
    """Return the ``demo_state`` key/values (seed, origin_as_of, as_of, customers, population)."""
    with engine.connect() as conn:
        return {k: v for k, v in conn.execute(sa.select(demo_state.c.key, demo_state.c.value))}


def _prepare_sqlite(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA synchronous=OFF")


def generate_billing(engine: Engine, customers: Sequence[Customer], as_of: date, seed: int,
                     batch_size: int = DEFAULT_BATCH_SIZE) -> BillingCounts:
    """(Re)create the billing tables and fill them for ``customers`` up to ``as_of``.

    Destructive: existing ``invoices``/``payments``/``demo_state`` are dropped.
    Invoices are written month by month, payments are given ids in
    ``updated_at`` order; events after the end of the as-of day are left out.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not customers:
        raise ValueError("customers must not be empty")
    create_billing_schema(engine, drop_existing=True)
    asof_idx = month_index(as_of)
    cutoff = cutoff_for(as_of)
    buckets: dict[int, list[Customer]] = {}
    for c in customers:
        if c.tenure >= 1:
            buckets.setdefault(billing_start_month(c, as_of), []).append(c)
    first = min(buckets) if buckets else asof_idx + 1
    active: list[Customer] = []

    def active_for(m: int) -> list[Customer]:
        nonlocal active
        if m in buckets:
            active = list(heapq.merge(active, buckets[m], key=lambda c: c.ordinal))
        return active

    with engine.connect() as conn:
        _prepare_sqlite(conn)
        writer = _Writer(conn, batch_size, 1, 1)
        _bill_months(writer, range(first, asof_idx + 1), active_for, as_of, seed, cutoff)
        writer.release_payments_before(None)
        _write_state(conn, {
            "seed": str(seed), "origin_as_of": as_of.isoformat(), "as_of": as_of.isoformat(),
            "customers": str(len(customers)), "population": population_digest(customers),
        })
        conn.commit()
    logger.info("billing: %d invoices, %d payments %s", writer.counts.invoices,
                writer.counts.payments, writer.counts.payments_by_status)
    return writer.counts


def append_new_billing(engine: Engine, customers: Sequence[Customer], as_of: date, seed: int,
                       batch_size: int = DEFAULT_BATCH_SIZE) -> BillingCounts:
    """Advance an existing billing database to a later ``as_of`` date (incremental demo).

    Adds, with ids and ``updated_at`` above every existing row:

    * invoices for each month after the previous as-of month up to ``as_of``'s
      month, for non-churners only (churners left at the original as-of date);
    * the payments that happen in ``(previous as-of day, as_of day]``, both for
      the new invoices and for earlier invoices still open (late payments,
      recoveries of failed payments).

    ``customers`` and ``seed`` must be the ones the database was generated with
    (checked against ``demo_state``); raises ``ValueError`` otherwise or when
    ``as_of`` is not after the previous as-of date.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    state = read_state(engine)
    if not state:
        raise ValueError("billing database has no demo_state: generate it first")
    if state.get("generator", "churnlake.demo.generate") != "churnlake.demo.generate":
        raise ValueError(f"this billing database was made by {state['generator']}, which cannot be advanced: "
                         "generate it again with the later --as-of")
    if int(state["seed"]) != seed:
        raise ValueError(f"seed {seed} differs from the database's seed {state['seed']}")
    if state["population"] != population_digest(customers):
        raise ValueError("customers differ from the population the database was generated "
                         "with (use the same CSV, --customers and --seed)")
    origin = date.fromisoformat(state["origin_as_of"])
    prev = date.fromisoformat(state["as_of"])
    if as_of <= prev:
        raise ValueError(f"as_of {as_of} must be after the database's as_of {prev}")
    prev_cutoff, cutoff = cutoff_for(prev), cutoff_for(as_of)
    prev_idx, new_idx = month_index(prev), month_index(as_of)
    by_id = {c.customer_id: c for c in customers}

    with engine.connect() as conn:
        _prepare_sqlite(conn)
        max_inv = conn.execute(sa.select(sa.func.max(invoices.c.invoice_id))).scalar() or 0
        max_pay = conn.execute(sa.select(sa.func.max(payments.c.payment_id))).scalar() or 0
        writer = _Writer(conn, batch_size, max_inv + 1, max_pay + 1)
        # 1. Payments of existing invoices that fall into the new window. Events of an
        #    invoice end at most ~46 days after issue, so three months back suffice.
        open_rows = conn.execute(
            sa.select(invoices.c.invoice_id, invoices.c.customer_id, invoices.c.billing_month,
                      invoices.c.issued_at)
            .where(invoices.c.billing_month >= month_start(prev_idx - 2))
            .order_by(invoices.c.invoice_id)).all()
        for invoice_id, customer_id, billing_month, issued_at in open_rows:
            c = by_id[customer_id]
            amount, events = plan_invoice(c, month_index(billing_month), origin, seed, issued_at)
            for ev in events:
                if prev_cutoff <= ev[0] < cutoff:
                    writer.add_payment_event(invoice_id, c, amount, ev)

        # 2. New months: only customers that did not churn and whose billing has started.
        def active_for(m: int) -> list[Customer]:
            return [c for c in customers if not c.churn and billing_start_month(c, origin) <= m]

        _bill_months(writer, range(prev_idx + 1, new_idx + 1), active_for, origin, seed, cutoff)
        writer.release_payments_before(None)
        state["as_of"] = as_of.isoformat()
        _write_state(conn, state)
        conn.commit()
    logger.info("billing append to %s: %d invoices, %d payments", as_of,
                writer.counts.invoices, writer.counts.payments)
    return writer.counts
