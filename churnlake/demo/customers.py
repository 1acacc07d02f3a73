"""Customer population for the demo sources, read from the IBM Telco churn CSV.

``--customers N`` below the CSV size keeps the first N rows; above it, extra
customers ``SYN-000001``, ``SYN-000002``... are synthesised by resampling Telco
rows (all attributes copied, only the id changes) with a keyed RNG, so the
population is a pure function of (CSV, N, seed).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Sequence

from churnlake.demo._common import day_start, keyed_rng, month_index, month_start

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("customerID", "tenure", "MonthlyCharges", "TotalCharges",
                    "Churn", "PaymentMethod", "Contract")
SYNTHETIC_PREFIX = "SYN-"

#: Telco ``PaymentMethod`` label -> ``payments.method`` code.
PAYMENT_METHOD_CODES = {
    "Electronic check": "electronic_check",
    "Mailed check": "mailed_check",
    "Bank transfer (automatic)": "bank_transfer",
    "Credit card (automatic)": "credit_card",
}


@dataclass(frozen=True, slots=True)
class Customer:
    """One customer of the demo population (attributes copied from a Telco row)."""

    customer_id: str
    #: 0-based position in the population (stable sort key).
    ordinal: int
    #: Index of the Telco row the attributes come from.
    template_index: int
    tenure: int
    monthly_charges: float
    #: ``None`` when the CSV has a blank TotalCharges (tenure 0).
    total_charges: float | None
    churn: bool
    payment_method: str
    contract: str

    @property
    def method_code(self) -> str:
        """``payments.method`` code for this customer's Telco PaymentMethod."""
        return PAYMENT_METHOD_CODES.get(self.payment_method, "other")


@dataclass(frozen=True)
class TelcoTable:
    """The raw Telco CSV: header, string rows, and the file's SHA-256."""

    header: list[str]
    rows: list[list[str]]
    sha256: str
    name: str


def load_telco_csv(path: str | Path) -> TelcoTable:
    """Read the Telco CSV (LF or CRLF, optional BOM) and validate its columns.

    Raises ``ValueError`` when the file is empty, lacks a required column, or
    has duplicate customer ids.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"customers CSV not found: {p}")
    raw = p.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    text = raw.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ValueError(f"customers CSV is empty: {p}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"customers CSV {p} lacks required column(s): {', '.join(missing)}")
    rows = [r for r in reader if r]
    if not rows:
        raise ValueError(f"customers CSV has a header but no rows: {p}")
    id_col = header.index("customerID")
    ids = [r[id_col] for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"customers CSV {p} has duplicate customerID values")
    bad = [i for i, r in enumerate(rows) if len(r) != len(header)]
    if bad:
        raise ValueError(f"customers CSV {p}: row {bad[0] + 2} has {len(rows[bad[0]])} "
                         f"fields, header has {len(header)}")
    return TelcoTable(header=header, rows=rows, sha256=digest, name=p.name)


def _customer_from_row(table: TelcoTable, index: int, customer_id: str, ordinal: int) -> Customer:
    h = table.header
    row = table.rows[index]
    line = index + 2
    try:
        tenure = int(row[h.index("tenure")])
        monthly = float(row[h.index("MonthlyCharges")])
    except ValueError as exc:
        raise ValueError(f"customers CSV line {line}: bad tenure/MonthlyCharges: {exc}") from exc
    if tenure < 0 or monthly <= 0:
        raise ValueError(f"customers CSV line {line}: tenure must be >= 0 and MonthlyCharges > 0")
    total_raw = row[h.index("TotalCharges")].strip()
    total = float(total_raw) if total_raw else None
    churn_raw = row[h.index("Churn")].strip()
    if churn_raw not in ("Yes", "No"):
        raise ValueError(f"customers CSV line {line}: Churn must be Yes/No, got {churn_raw!r}")
    return Customer(
        customer_id=customer_id,
        ordinal=ordinal,
        template_index=index,
        tenure=tenure,
        monthly_charges=monthly,
        total_charges=total,
        churn=churn_raw == "Yes",
        payment_method=row[h.index("PaymentMethod")],
        contract=row[h.index("Contract")],
    )


def build_population(table: TelcoTable, n_customers: int | None, seed: int) -> list[Customer]:
    """Return ``n_customers`` customers (default: every CSV row).

    N <= rows: the first N rows. N > rows: all rows plus ``N - rows`` synthetic
    customers ``SYN-000001``... whose Telco template row is drawn by
    ``keyed_rng(seed, "synth", i)``.
    """
    n_rows = len(table.rows)
    n = n_rows if n_customers is None else n_customers
    if n < 1:
        raise ValueError(f"--customers must be >= 1, got {n}")
    id_col = table.header.index("customerID")
    customers = [_customer_from_row(table, i, table.rows[i][id_col], i) for i in range(min(n, n_rows))]
    # Templates are parsed once; synthetic customers copy them with a new id.
    for i in range(1, n - n_rows + 1):
        template = keyed_rng(seed, "synth", i).randrange(n_rows)
        customers.append(_customer_from_row(table, template, f"{SYNTHETIC_PREFIX}{i:06d}",
                                            n_rows + i - 1))
    logger.info("population: %d customers (%d synthetic), %d churners",
                len(customers), max(0, n - n_rows), sum(c.churn for c in customers))
    return customers


def write_customers_csv(path: str | Path, table: TelcoTable, customers: Sequence[Customer]) -> int:
    """Write the effective population as a Telco-shaped CSV (LF endings, original values).

    Synthetic customers get their template row with the new ``customerID``.
    Returns the number of data rows written.
    """
    id_col = table.header.index("customerID")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(table.header)
        for c in customers:
            row = list(table.rows[c.template_index])
            row[id_col] = c.customer_id
            writer.writerow(row)
    return len(customers)


def billing_start_month(c: Customer, as_of: date) -> int:
    """Month index of the customer's first invoice (tenure 0 -> the month after as-of)."""
    return month_index(as_of) - c.tenure + 1


def customer_start(c: Customer, as_of: date, seed: int) -> datetime:
    """When the customer joined (naive UTC).

    Tenure >= 1: midnight on the first day of the first billed month.
    Tenure 0: a keyed day 0-13 days before the as-of date (not billed yet).
    """
    if c.tenure >= 1:
        return day_start(month_start(billing_start_month(c, as_of)))
    back = keyed_rng(seed, "start", c.customer_id).randrange(14)
    return day_start(as_of) - timedelta(days=back)
