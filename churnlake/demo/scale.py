"""Scale generator: the demo source systems at 100k or 1M customers, vectorised with numpy/pyarrow.

Usage::

    python -m churnlake.demo.scale --preset M --out build/scale-M --as-of 2026-11-27
    python -m churnlake.demo.scale --customers 250000 --days 7 --out build/s --as-of 2026-11-27

It writes the same artefacts, in the same formats, as :mod:`churnlake.demo.generate`
(``customers.csv``, ``billing.db``, ``tickets.jsonl``, hourly ``access_logs/*.log``,
``manifest.json``), with the same distributions and churn signal: every rate comes from
:mod:`churnlake.demo.profiles` and the constants of the per-customer generators. What
differs is how the random numbers are drawn: one numpy ``Generator`` per artefact (and
per log day), seeded from ``--seed``, instead of one keyed ``random.Random`` per
customer. So the output is deterministic for a seed and a preset, but it is not the same
data as ``generate`` makes for the same seed (docs/demo_sources.md, "Scale presets").

Memory is bounded by one day of log lines (plus the billing arrays, ~60 bytes per
invoice), not by the total number of lines.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from churnlake.demo import GENERATOR_VERSION
from churnlake.demo import access_logs as logs_mod
from churnlake.demo import billing as billing_mod
from churnlake.demo import tickets as tickets_mod
from churnlake.demo._common import cutoff_for, day_start, month_index, month_start, parse_as_of, to_epoch
from churnlake.demo.customers import PAYMENT_METHOD_CODES, SYNTHETIC_PREFIX, TelcoTable, load_telco_csv
from churnlake.demo.profiles import (CHURNER, NON_CHURNER, P_RATED, PORTAL_PAGES,
                                     RECENT_EXTRA_CATEGORY_WEIGHTS, RECENT_MONTHS, TICKET_CATEGORIES)

logger = logging.getLogger(__name__)

__all__ = ["PRESETS", "Population", "build_population", "generate_scale", "main"]

#: Named scales: (customers, days of access logs). Event counts are measured, see docs/demo_sources.md.
PRESETS: dict[str, tuple[int, int]] = {
    "S": (10_000, 14),
    "M": (100_000, 28),
    "L": (1_000_000, 14),
}
DEFAULT_BROKEN_LINES = 25
GENERATOR = "churnlake.demo.scale"
DAY = 86_400
YEAR = 365.25 * DAY
_ARTEFACT = {"population": 1, "billing": 2, "tickets": 3, "web": 4, "logs": 5}
_METHODS = ("electronic_check", "mailed_check", "bank_transfer", "credit_card", "other")


def _rng(seed: int, artefact: str, *parts: int) -> np.random.Generator:
    """The numpy generator of one artefact (and e.g. one log day), a pure function of the seed."""
    return np.random.default_rng(np.random.SeedSequence([seed, _ARTEFACT[artefact], *parts]))


def _by_group(churn: np.ndarray, churner: Any, non_churner: Any) -> np.ndarray:
    """Per-row value of a profile field: ``churner`` where churn, else ``non_churner``."""
    return np.where(churn, churner, non_churner)


def _choice(rng: np.random.Generator, weights: Sequence[float], size: int) -> np.ndarray:
    """Indices drawn with ``weights`` (normalised)."""
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(w), size=size, p=w / w.sum())


def _group_choice(rng: np.random.Generator, churn: np.ndarray, churner_w: Sequence[float],
                  non_churner_w: Sequence[float]) -> np.ndarray:
    """Indices drawn with the churner's or the non-churner's weights, row by row."""
    out = np.empty(len(churn), dtype=np.int64)
    for flag, weights in ((True, churner_w), (False, non_churner_w)):
        mask = churn == flag
        out[mask] = _choice(rng, weights, int(mask.sum()))
    return out


def _within_group_rank(group_sizes: np.ndarray) -> np.ndarray:
    """0, 1, ... restarting at every group of the given sizes (rows sorted by group)."""
    total = int(group_sizes.sum())
    starts = np.repeat(np.cumsum(group_sizes) - group_sizes, group_sizes)
    return np.arange(total, dtype=np.int64) - starts


_CLOCK = pa.array([f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60) for sec in range(60)])


def _epoch_text(epoch: np.ndarray, fmt: str) -> pa.Array:
    """Epoch seconds -> strings in ``fmt`` (C locale, so English month names).

    ``fmt`` is a date format, optionally followed by one separator character, ``%H:%M:%S`` and a
    literal suffix (e.g. ``%Y-%m-%dT%H:%M:%SZ``); the day part is
    formatted once per distinct day and the clock is looked up, which is ~10x faster than
    strftime on every value.
    """
    epoch = np.asarray(epoch, dtype=np.int64)
    if not len(epoch):
        return pa.array([], pa.string())
    date_fmt, clock, suffix = fmt.partition("%H:%M:%S")
    sep = ""
    if clock:
        date_fmt, sep = date_fmt[:-1], date_fmt[-1]
    day = epoch // DAY
    first = int(day.min())
    days = np.arange(first, int(day.max()) + 1) * DAY
    day_text = pc.strftime(pa.array(days.astype("datetime64[s]")), format=date_fmt)
    dates = day_text.take(pa.array(day - first))
    if not clock:
        return dates
    text = pc.binary_join_element_wise(dates, _CLOCK.take(pa.array(epoch - day * DAY)), sep)
    return pc.binary_join_element_wise(text, pa.scalar(suffix), "") if suffix else text


# --------------------------------------------------------------------------- population


@dataclass(frozen=True)
class Population:
    """The customers as columns (index = ordinal, the row order of customers.csv)."""

    ids: np.ndarray            # object array of str
    template: np.ndarray       # Telco row each customer copies
    tenure: np.ndarray         # int64
    monthly: np.ndarray        # float64
    total: np.ndarray          # float64, nan when blank
    churn: np.ndarray          # bool
    method: np.ndarray         # index into _METHODS
    start_epoch: np.ndarray    # when the customer joined (epoch seconds)

    def __len__(self) -> int:
        return len(self.ids)


def build_population(table: TelcoTable, n_customers: int, seed: int, as_of: date) -> Population:
    """The first ``n`` Telco rows, or all rows plus ``SYN-nnnnnn`` copies of rows drawn from the seed."""
    if n_customers < 1:
        raise ValueError(f"customers must be >= 1, got {n_customers}")
    n_rows = len(table.rows)
    rng = _rng(seed, "population")
    if n_customers <= n_rows:
        template = np.arange(n_customers)
    else:
        template = np.concatenate([np.arange(n_rows), rng.integers(0, n_rows, n_customers - n_rows)])
    h = table.header
    col = {name: h.index(name) for name in ("customerID", "tenure", "MonthlyCharges", "TotalCharges",
                                             "Churn", "PaymentMethod")}
    rows = table.rows
    try:
        tenure_t = np.array([int(r[col["tenure"]]) for r in rows], dtype=np.int64)
        monthly_t = np.array([float(r[col["MonthlyCharges"]]) for r in rows])
    except ValueError as exc:
        raise ValueError(f"customers CSV {table.name}: bad tenure/MonthlyCharges: {exc}") from exc
    total_t = np.array([float(r[col["TotalCharges"]]) if r[col["TotalCharges"]].strip() else np.nan
                        for r in rows])
    churn_raw = [r[col["Churn"]].strip() for r in rows]
    if any(v not in ("Yes", "No") for v in churn_raw):
        raise ValueError(f"customers CSV {table.name}: Churn must be Yes/No")
    churn_t = np.array([v == "Yes" for v in churn_raw])
    method_t = np.array([_METHODS.index(PAYMENT_METHOD_CODES.get(r[col["PaymentMethod"]], "other"))
                         for r in rows])
    ids = np.array([rows[i][col["customerID"]] for i in range(min(n_customers, n_rows))]
                   + [f"{SYNTHETIC_PREFIX}{i:06d}" for i in range(1, n_customers - n_rows + 1)], dtype=object)
    tenure = tenure_t[template]
    first_month = month_index(as_of) - tenure + 1
    first_day = np.array([_month_epoch(m) for m in range(int(first_month.min()), int(first_month.max()) + 1)])
    start = first_day[first_month - first_month.min()]
    as_of_epoch = to_epoch(day_start(as_of))
    new = tenure == 0
    start[new] = as_of_epoch - rng.integers(0, 14, int(new.sum())) * DAY
    return Population(ids=ids, template=template, tenure=tenure, monthly=monthly_t[template],
                      total=total_t[template], churn=churn_t[template], method=method_t[template],
                      start_epoch=start.astype(np.int64))


def _month_epoch(index: int) -> int:
    return to_epoch(day_start(month_start(index)))


def write_customers_csv(path: Path, table: TelcoTable, pop: Population) -> int:
    """customers.csv in the Telco layout: each customer's template row with its own id."""
    import pandas as pd

    frame = pd.DataFrame(table.rows, columns=table.header).iloc[pop.template]
    frame["customerID"] = pop.ids
    frame.to_csv(path, index=False, lineterminator="\n")
    return len(frame)


# --------------------------------------------------------------------------- billing


def _invoices(pop: Population, as_of: date, seed: int) -> dict[str, np.ndarray]:
    """Every invoice as columns, in invoice_id order (month, then customer ordinal)."""
    rng = _rng(seed, "billing")
    billed = np.flatnonzero(pop.tenure >= 1)
    counts = pop.tenure[billed]
    ci = np.repeat(billed, counts)
    k = _within_group_rank(counts)
    asof_idx = month_index(as_of)
    month = asof_idx - pop.tenure[ci] + 1 + k
    order = np.lexsort((ci, month))
    ci, k, month = ci[order], k[order], month[order]
    # Straight-line price ramp ending at MonthlyCharges, averaging TotalCharges / tenure (billing._base_amount).
    t = pop.tenure[ci].astype(float)
    m = pop.monthly[ci]
    total = pop.total[ci]
    avg = np.where(np.isnan(total) | (total == 0), m, total / np.maximum(t, 1))
    p0 = np.minimum(3.0 * m, np.maximum(0.3 * m, 2.0 * avg - m))
    base = np.where(t == 1, avg, p0 + (m - p0) * k / np.maximum(t - 1, 1))
    noise = np.clip(rng.normal(0.0, billing_mod.AMOUNT_NOISE_SD, len(ci)),
                    -billing_mod.AMOUNT_NOISE_CLIP, billing_mod.AMOUNT_NOISE_CLIP)
    amount = np.maximum(np.round(base * (1.0 + noise), 2), 0.01)
    months_present, month_sizes = np.unique(month, return_counts=True)
    position = _within_group_rank(month_sizes)
    month_epoch = np.array([_month_epoch(int(x)) for x in months_present])
    first = np.repeat(month_epoch, month_sizes)
    issued = first + billing_mod.INVOICE_RUN_HOUR * 3600 + position // billing_mod.INVOICES_PER_SECOND
    due = first + billing_mod.DUE_DAYS * DAY
    return {"ci": ci, "month_epoch": first, "amount": amount, "due": due, "issued": issued,
            "recent": pop.churn[ci] & (asof_idx - month < RECENT_MONTHS),
            "due_end": due + DAY - 1}


def _payments(pop: Population, inv: dict[str, np.ndarray], cutoff: int, seed: int) -> dict[str, np.ndarray]:
    """Payment rows (paid / late / failed, recoveries), before the cutoff, in payment_id order."""
    rng = _rng(seed, "billing", 1)
    n = len(inv["ci"])
    churn = pop.churn[inv["ci"]]
    recent = inv["recent"]
    p_failed = np.where(recent, CHURNER.p_failed_recent, _by_group(churn, CHURNER.p_failed, NON_CHURNER.p_failed))
    p_late = np.where(recent, CHURNER.p_late_recent, _by_group(churn, CHURNER.p_late, NON_CHURNER.p_late))
    u = rng.random(n)
    failed = u < p_failed
    late = ~failed & (u < p_failed + p_late)
    paid = ~failed & ~late
    late_delay = rng.integers(3600, 30 * DAY, n, endpoint=True)
    recovered = failed & (rng.random(n) < _by_group(churn, CHURNER.p_recovery, NON_CHURNER.p_recovery))
    method = pop.method[inv["ci"]]
    lo = np.select([method >= 2, method == 0], [3600, DAY], 3 * DAY)
    hi = np.select([method >= 2, method == 0], [3 * DAY, 10 * DAY], 13 * DAY)
    on_time = inv["issued"] + lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)
    attempt = inv["issued"] + rng.integers(3600, 12 * DAY, n, endpoint=True)
    late_at = inv["due_end"] + late_delay
    # One row per event: (invoice row, seq, status code 0 paid / 1 late / 2 failed, time, paid?)
    rows = [(np.flatnonzero(paid), 0, 0, on_time[paid]),
            (np.flatnonzero(late), 0, 1, late_at[late]),
            (np.flatnonzero(failed), 0, 2, attempt[failed]),
            (np.flatnonzero(recovered), 1, 1, late_at[recovered])]
    inv_row = np.concatenate([r[0] for r in rows])
    seq = np.concatenate([np.full(len(r[0]), r[1]) for r in rows])
    status = np.concatenate([np.full(len(r[0]), r[2]) for r in rows])
    at = np.concatenate([r[3] for r in rows])
    keep = at < cutoff
    inv_row, seq, status, at = inv_row[keep], seq[keep], status[keep], at[keep]
    order = np.lexsort((seq, inv_row, at))  # (updated_at, invoice_id, seq); invoice_id = row + 1
    return {"inv_row": inv_row[order], "status": status[order], "at": at[order]}


def write_billing_db(path: Path, pop: Population, as_of: date, seed: int, chunk: int = 500_000) -> dict[str, Any]:
    """``billing.db`` with the schema of :mod:`churnlake.demo.billing`, filled in bulk."""
    import sqlalchemy as sa

    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{path.resolve()}")
    try:
        billing_mod.create_billing_schema(engine)
    finally:
        engine.dispose()
    inv = _invoices(pop, as_of, seed)
    pay = _payments(pop, inv, to_epoch(cutoff_for(as_of)), seed)
    status_names = np.array(billing_mod.PAYMENT_STATUSES, dtype=object)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA journal_mode=OFF")
        n_inv = len(inv["ci"])
        for lo in range(0, n_inv, chunk):
            sl = slice(lo, min(lo + chunk, n_inv))
            ts = _epoch_text(inv["issued"][sl], "%Y-%m-%d %H:%M:%S").to_pylist()
            conn.executemany("INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?, ?)", zip(
                range(lo + 1, sl.stop + 1), pop.ids[inv["ci"][sl]].tolist(),
                _epoch_text(inv["month_epoch"][sl], "%Y-%m-%d").to_pylist(), inv["amount"][sl].tolist(),
                _epoch_text(inv["due"][sl], "%Y-%m-%d").to_pylist(), ts, ts))
        n_pay = len(pay["at"])
        for lo in range(0, n_pay, chunk):
            sl = slice(lo, min(lo + chunk, n_pay))
            rows = pay["inv_row"][sl]
            status = pay["status"][sl]
            ts = _epoch_text(pay["at"][sl], "%Y-%m-%d %H:%M:%S").to_pylist()
            paid_at = [None if s == 2 else t for s, t in zip(status.tolist(), ts)]
            conn.executemany("INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, ?, ?)", zip(
                range(lo + 1, sl.stop + 1), (rows + 1).tolist(), pop.ids[inv["ci"][rows]].tolist(), paid_at,
                inv["amount"][rows].tolist(), status_names[status].tolist(),
                np.array(_METHODS, dtype=object)[pop.method[inv["ci"][rows]]].tolist(), ts))
        conn.executemany("INSERT INTO demo_state VALUES (?, ?)", sorted({
            "generator": GENERATOR, "seed": str(seed), "origin_as_of": as_of.isoformat(),
            "as_of": as_of.isoformat(), "customers": str(len(pop)), "population": f"scale:{len(pop)}:{seed}",
        }.items()))
        conn.commit()
    finally:
        conn.close()
    by_status = {name: int((pay["status"] == i).sum()) for i, name in enumerate(billing_mod.PAYMENT_STATUSES)}
    return {"invoices": int(len(inv["ci"])), "payments": int(len(pay["at"])), "payments_by_status": by_status}


# --------------------------------------------------------------------------- tickets


def _tickets(pop: Population, as_of: date, seed: int) -> dict[str, np.ndarray]:
    """Every ticket as columns, sorted by (updated_at, ticket_id) like ``tickets.generate_tickets``."""
    rng = _rng(seed, "tickets")
    cutoff = to_epoch(cutoff_for(as_of))
    span = np.maximum(cutoff - pop.start_epoch, 0)
    rate = _by_group(pop.churn, CHURNER.tickets_per_year, NON_CHURNER.tickets_per_year)
    n_normal = np.where(span > 0, rng.poisson(rate * span / YEAR), 0)
    recent_start = np.maximum(pop.start_epoch, cutoff - tickets_mod.RECENT_DAYS * DAY)
    n_extra = np.where(pop.churn & (span > 0), rng.poisson(CHURNER.recent_extra_tickets, len(pop)), 0)
    ci = np.concatenate([np.repeat(np.arange(len(pop)), n_normal), np.repeat(np.arange(len(pop)), n_extra)])
    extra = np.concatenate([np.zeros(int(n_normal.sum()), bool), np.ones(int(n_extra.sum()), bool)])
    lo = np.where(extra, recent_start[ci], pop.start_epoch[ci])
    created = lo + (rng.random(len(ci)) * (cutoff - lo)).astype(np.int64)
    churn = pop.churn[ci]
    category = np.empty(len(ci), dtype=np.int64)
    category[extra] = _choice(rng, RECENT_EXTRA_CATEGORY_WEIGHTS, int(extra.sum()))
    category[~extra] = _group_choice(rng, churn[~extra], CHURNER.ticket_category_weights,
                                     NON_CHURNER.ticket_category_weights)
    priority = _choice(rng, tickets_mod.PRIORITY_WEIGHTS, len(ci))
    priority[(category == TICKET_CATEGORIES.index("cancellation")) & (priority == 0)] = 1
    channel = _choice(rng, tickets_mod.CHANNEL_WEIGHTS, len(ci))
    first_response = created + rng.integers(300, 8 * 3600, len(ci), endpoint=True)
    median = _by_group(churn, CHURNER.resolution_median_hours, NON_CHURNER.resolution_median_hours)
    resolved = first_response + (rng.lognormal(np.log(median), 1.0) * 3600).astype(np.int64)
    closed = resolved + tickets_mod.CLOSE_AFTER_HOURS * 3600
    rated = rng.random(len(ci)) < P_RATED
    rating = 1 + _group_choice(rng, churn, CHURNER.satisfaction_weights, NON_CHURNER.satisfaction_weights)
    status = np.select([closed < cutoff, resolved < cutoff, first_response < cutoff], [3, 2, 1], 0)
    updated = np.select([status == 3, status == 2, status == 1], [closed, resolved, first_response], created)
    satisfaction = np.where((status == 3) & rated, rating, 0)
    has_resolved = status >= 2
    ticket_id = np.empty(len(ci), dtype=np.int64)
    ticket_id[np.lexsort((ci, created))] = np.arange(1, len(ci) + 1)
    order = np.lexsort((ticket_id, updated))
    cols = dict(ticket_id=ticket_id, ci=ci, created=created, updated=updated, resolved=resolved,
                has_resolved=has_resolved, category=category, priority=priority, status=status,
                channel=channel, satisfaction=satisfaction)
    return {k: v[order] for k, v in cols.items()}


def write_tickets_jsonl(path: Path, pop: Population, as_of: date, seed: int) -> dict[str, Any]:
    """``tickets.jsonl`` in :data:`churnlake.demo.tickets.TICKET_FIELDS` order, one object per line."""
    t = _tickets(pop, as_of, seed)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    created = _epoch_text(t["created"], iso).to_pylist()
    updated = _epoch_text(t["updated"], iso).to_pylist()
    resolved = _epoch_text(t["resolved"], iso).to_pylist()
    ids = pop.ids[t["ci"]].tolist()
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for i, tid in enumerate(t["ticket_id"].tolist()):
            res = f'"{resolved[i]}"' if t["has_resolved"][i] else "null"
            sat = int(t["satisfaction"][i])
            out.write(f'{{"ticket_id":{tid},"customer_id":{json.dumps(ids[i])},"created_at":"{created[i]}",'
                      f'"updated_at":"{updated[i]}","resolved_at":{res},'
                      f'"category":"{TICKET_CATEGORIES[t["category"][i]]}",'
                      f'"priority":"{tickets_mod.PRIORITIES[t["priority"][i]]}",'
                      f'"status":"{tickets_mod.TICKET_STATUSES[t["status"][i]]}",'
                      f'"channel":"{tickets_mod.CHANNELS[t["channel"][i]]}",'
                      f'"satisfaction":{sat if sat else "null"}}}\n')
    status_counts = np.bincount(t["status"], minlength=4)
    return {"records": int(len(t["ticket_id"])),
            "by_status": {s: int(status_counts[i]) for i, s in enumerate(tickets_mod.TICKET_STATUSES)
                          if status_counts[i]}}


# --------------------------------------------------------------------------- access logs

# Line kinds of a session, in order: GET /login, [POST /login 401], POST /login 302, GET /dashboard,
# pages, [GET /logout].
_PATHS = ("/login", "/logout", *PORTAL_PAGES, "/healthz", "/robots.txt")
_P_LOGIN, _P_LOGOUT, _P_DASH = 0, 1, 2
_P_HEALTH, _P_ROBOTS = len(_PATHS) - 2, len(_PATHS) - 1


@dataclass
class _WebProfiles:
    rate_per_day: np.ndarray
    home_ip: pa.Array
    user_agent: np.ndarray


def _web_profiles(pop: Population, seed: int) -> _WebProfiles:
    rng = _rng(seed, "web")
    n = len(pop)
    sigma = logs_mod.ACTIVITY_SIGMA
    mult = rng.lognormal(-sigma ** 2 / 2, sigma, n)
    octets = [rng.integers(0, 256, n), rng.integers(0, 256, n), rng.integers(1, 255, n)]
    ip = _join_ints("10.", octets)
    ua = _choice(rng, logs_mod.USER_AGENT_WEIGHTS, n)
    rate = _by_group(pop.churn, CHURNER.sessions_per_week, NON_CHURNER.sessions_per_week) / 7.0 * mult
    return _WebProfiles(rate_per_day=rate, home_ip=ip, user_agent=ua)


def _join_ints(prefix: str, parts: list[np.ndarray]) -> pa.Array:
    """``prefix`` + parts joined with dots, e.g. ``10.`` + a.b.c."""
    strings = [pc.cast(pa.array(p), pa.string()) for p in parts]
    dotted = pc.binary_join_element_wise(*strings, ".")
    return pc.binary_join_element_wise(pa.scalar(prefix), dotted, "")


def _decline(days_before: int) -> float:
    return float(np.interp(days_before, [0, CHURNER.decline_days], [CHURNER.decline_floor, 1.0]))


@dataclass
class _Lines:
    """Log lines of a stretch of time as columns (not yet sorted)."""

    t: np.ndarray
    ip: pa.Array
    user: pa.Array
    method: np.ndarray   # 0 GET, 1 POST
    path: np.ndarray
    status: np.ndarray
    nbytes: np.ndarray   # -1 = "-"
    referer: pa.Array
    ua: np.ndarray       # index into USER_AGENTS, 8 = healthcheck, 9 = crawler

    def take(self, idx: np.ndarray) -> "_Lines":
        tk = pa.array(idx)
        return _Lines(self.t[idx], self.ip.take(tk), self.user.take(tk), self.method[idx], self.path[idx],
                      self.status[idx], self.nbytes[idx], self.referer.take(tk), self.ua[idx])

    @staticmethod
    def concat(parts: list["_Lines"]) -> "_Lines":
        return _Lines(np.concatenate([p.t for p in parts]),
                      pa.concat_arrays([p.ip for p in parts]), pa.concat_arrays([p.user for p in parts]),
                      *[np.concatenate([getattr(p, f) for p in parts]) for f in ("method", "path", "status", "nbytes")],
                      pa.concat_arrays([p.referer for p in parts]), np.concatenate([p.ua for p in parts]))


def _page_status(rng: np.random.Generator, path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(status, bytes) of portal pages, as ``access_logs._page_status``."""
    n = len(path)
    u = rng.random(n)
    base = np.array([logs_mod._PAGE_BYTES.get(p, 6000) for p in _PATHS])[path]
    status = np.select([u < 0.002, u < 0.007, u < 0.067], [500, 404, 304], 200)
    nbytes = np.select([status == 500, status == 404, status == 304],
                       [530 + rng.integers(0, 40, n), 1250 + rng.integers(0, 60, n), -1],
                       (base * (0.85 + 0.3 * rng.random(n))).astype(np.int64))
    return status, nbytes


def _day_lines(pop: Population, web: _WebProfiles, day_epoch: int, days_before: int, seed: int,
               day_ordinal: int) -> tuple[_Lines, dict[str, int]]:
    """Every request of the sessions and anonymous hits that start on one day."""
    rng = _rng(seed, "logs", day_ordinal)
    active = np.flatnonzero(pop.start_epoch < day_epoch + DAY)
    lam = web.rate_per_day[active] * np.where(pop.churn[active], _decline(days_before), 1.0)
    per_customer = rng.poisson(lam)
    ci = np.repeat(active, per_customer)
    hour = _choice(rng, logs_mod.HOUR_WEIGHTS, len(ci))
    start = day_epoch + hour * 3600 + rng.integers(0, 3600, len(ci))
    keep = start >= pop.start_epoch[ci]
    ci, start = ci[keep], start[keep]
    s = len(ci)
    failed = rng.random(s) < logs_mod.P_FAILED_LOGIN
    extra_pages = np.minimum(rng.geometric(1 - logs_mod.P_NEXT_PAGE, s) - 1, logs_mod.MAX_PAGES - 1)
    logout = rng.random(s) < logs_mod.P_LOGOUT
    n_lines = 3 + failed + extra_pages + logout
    sess = np.repeat(np.arange(s), n_lines)
    pos = _within_group_rank(n_lines)
    dash_pos = (2 + failed)[sess]
    is_logout = logout[sess] & (pos == n_lines[sess] - 1)
    is_page = (pos > dash_pos) & ~is_logout
    is_failed = failed[sess] & (pos == 1)
    is_post = (pos == dash_pos - 1) | is_failed
    n = len(sess)
    path = np.full(n, _P_LOGIN)
    path[pos == dash_pos] = _P_DASH
    path[is_logout] = _P_LOGOUT
    churn = pop.churn[ci][sess]
    path[is_page] = 2 + _group_choice(rng, churn[is_page], CHURNER.page_weights, NON_CHURNER.page_weights)
    status, nbytes = _page_status(rng, path)
    status[pos == 0], nbytes[pos == 0] = 200, logs_mod._PAGE_BYTES["/login"]
    status[is_post], nbytes[is_post] = 302, 154
    status[is_failed], nbytes[is_failed] = 401, 1310
    status[is_logout], nbytes[is_logout] = 302, 154
    # Seconds since the previous line of the session (access_logs._expand): the first POST 2-20 s
    # after GET /login, the POST after a failed one 3-15 s, the dashboard 1 s, pages 3-90 s, logout 3-60 s.
    gap = np.select([pos == 0, pos == 1, failed[sess] & (pos == 2), pos == dash_pos, is_logout],
                    [0, rng.integers(2, 21, n), rng.integers(3, 16, n), 1, rng.integers(3, 61, n)],
                    rng.integers(3, 91, n))
    elapsed = np.cumsum(gap)
    offset = elapsed - np.repeat(elapsed[np.cumsum(n_lines) - n_lines], n_lines)
    t = start[sess] + offset
    mobile = rng.random(s) < logs_mod.P_MOBILE_SESSION
    mobile_ip = _join_ints("172.", [16 + rng.integers(0, 16, s), rng.integers(0, 256, s), rng.integers(1, 255, s)])
    session_ip = pc.if_else(pa.array(mobile), mobile_ip, web.home_ip.take(pa.array(ci)))
    sess_arr = pa.array(sess)
    referer_first = np.where(rng.random(s) < 0.5, 1, 0)[sess]
    prev_path = np.concatenate([[0], path[:-1]])
    referer_codes = np.where(pos == 0, referer_first, 2 + prev_path)  # 0 "-", 1 homepage, 2+ origin+path
    referer_text = pa.array(["-", logs_mod.HOMEPAGE, *(logs_mod.PORTAL_ORIGIN + p for p in _PATHS)])
    ids = pa.array(pop.ids[ci].tolist() if s else [], type=pa.string())
    user = pc.if_else(pa.array(pos == 0), pa.scalar("-"), ids.take(sess_arr))
    customer = _Lines(t=t, ip=session_ip.take(sess_arr), user=user, method=np.where(is_post, 1, 0),
                      path=path, status=status, nbytes=nbytes, referer=referer_text.take(pa.array(referer_codes)),
                      ua=web.user_agent[ci][sess])
    # Anonymous hits: health checks and a crawler, Poisson per hour.
    health = rng.poisson(logs_mod.HEALTHCHECKS_PER_HOUR, 24)
    crawl = rng.poisson(logs_mod.CRAWLER_HITS_PER_HOUR, 24)
    th = day_epoch + np.repeat(np.arange(24), health) * 3600 + rng.integers(0, 3600, int(health.sum()))
    tc = day_epoch + np.repeat(np.arange(24), crawl) * 3600 + rng.integers(0, 3600, int(crawl.sum()))
    nh, nc = len(th), len(tc)
    crawler_ip = _join_ints("192.168.100.", [1 + rng.integers(0, 200, nc)])
    anon = _Lines(t=np.concatenate([th, tc]), ip=pa.concat_arrays([pa.array(["10.0.0.2"] * nh, pa.string()), crawler_ip]),
                  user=pa.array(["-"] * (nh + nc), pa.string()), method=np.zeros(nh + nc, np.int64),
                  path=np.concatenate([np.full(nh, _P_HEALTH), np.full(nc, _P_ROBOTS)]),
                  status=np.full(nh + nc, 200), nbytes=np.concatenate([np.full(nh, 2), np.full(nc, 68)]),
                  referer=pa.array(["-"] * (nh + nc), pa.string()),
                  ua=np.concatenate([np.full(nh, 8), np.full(nc, 9)]))
    stats = {"sessions": s, "churner_sessions": int(pop.churn[ci].sum())}
    return _Lines.concat([customer, anon]), stats


_AGENTS = pa.array([*logs_mod.USER_AGENTS, logs_mod.HEALTHCHECK_UA, logs_mod.CRAWLER_UA])


def _format(lines: _Lines) -> pa.Array:
    """Apache combined lines, each ending in a newline (the array's data buffer is the file text)."""
    ts = _epoch_text(lines.t, "%d/%b/%Y:%H:%M:%S")
    method = pa.array(["GET", "POST"]).take(pa.array(lines.method))
    path = pa.array(list(_PATHS)).take(pa.array(lines.path))
    status = pc.cast(pa.array(lines.status), pa.string())
    nbytes = pc.if_else(pa.array(lines.nbytes < 0), pa.scalar("-"), pc.cast(pa.array(lines.nbytes), pa.string()))
    return pc.binary_join_element_wise(
        lines.ip, " - ", lines.user, " [", ts, " +0000] \"", method, " ", path, " HTTP/1.1\" ", status, " ",
        nbytes, " \"", lines.referer, "\" \"", _AGENTS.take(pa.array(lines.ua)), "\"\n", "")


class _BrokenCustomers:
    """Just enough of a customer sequence for :func:`access_logs._broken_plan`."""

    @dataclass(frozen=True)
    class _C:
        customer_id: str

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> "_BrokenCustomers._C":
        return self._C(self.ids[i])


def write_access_logs(out: Path, pop: Population, as_of: date, days: int, seed: int,
                      broken_lines: int) -> dict[str, Any]:
    """Hourly files ``access_logs/access-YYYY-MM-DD-HH.log`` for the last ``days`` days (every hour a file)."""
    log_dir = out / logs_mod.LOG_DIR_NAME
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("access-*.log"):
        old.unlink()
    window_start, window_end = logs_mod.log_window(as_of, days)
    start_epoch, end_epoch = to_epoch(window_start), to_epoch(window_end)
    broken = logs_mod._broken_plan(seed, broken_lines, days * 24, window_start, _BrokenCustomers(pop.ids))
    web = _web_profiles(pop, seed)
    counts = {"files": 0, "lines": 0, "customer_lines": 0, "anonymous_lines": 0, "broken_lines": 0,
              "sessions": 0, "logins": 0, "dropped_after_cutoff": 0,
              "sessions_by_group": {"churner": 0, "non_churner": 0}}
    carry: _Lines | None = None
    for d in range(days):
        day_epoch = start_epoch + d * DAY
        day = (window_start + timedelta(days=d)).date()
        lines, stats = _day_lines(pop, web, day_epoch, (as_of - day).days, seed, day.toordinal())
        counts["sessions"] += stats["sessions"]
        counts["sessions_by_group"]["churner"] += stats["churner_sessions"]
        counts["sessions_by_group"]["non_churner"] += stats["sessions"] - stats["churner_sessions"]
        if carry is not None:
            lines = _Lines.concat([carry, lines])
        order = np.argsort(lines.t, kind="stable")
        lines = lines.take(order)
        split = int(np.searchsorted(lines.t, day_epoch + DAY))
        later = lines.take(np.arange(split, len(lines.t)))
        lines = lines.take(np.arange(split))
        if d == days - 1:
            counts["dropped_after_cutoff"] += len(later.t)
            carry = None
        else:
            carry = later
        text = _format(lines)
        anonymous = int(pc.sum(pc.equal(lines.user, "-")).as_py() or 0)
        counts["logins"] += int(((lines.method == 1) & (lines.status == 302)).sum())
        counts["customer_lines"] += len(lines.t) - anonymous
        counts["anonymous_lines"] += anonymous
        _write_hours(log_dir, text, lines.t, day_epoch, d, window_start, broken, counts)
    return counts


def _write_hours(log_dir: Path, text: pa.Array, t: np.ndarray, day_epoch: int, day_index: int,
                 window_start: datetime, broken: dict[int, list[tuple[int, str]]], counts: dict[str, Any]) -> None:
    """Write one day's sorted, newline-terminated lines into its 24 hour files."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=len(text) + 1, offset=text.offset * 4) \
        if len(text) else np.zeros(1, np.int32)
    data = memoryview(text.buffers()[2]) if len(text) else memoryview(b"")
    bounds = np.searchsorted(t, day_epoch + np.arange(25) * 3600)
    for h in range(24):
        hour_index = day_index * 24 + h
        name = logs_mod.log_file_name(window_start + timedelta(hours=hour_index))
        lo, hi = int(bounds[h]), int(bounds[h + 1])
        with open(log_dir / name, "wb") as fh:
            pending = list(broken.get(hour_index, ()))
            cursor = lo
            for pos, line in pending:
                cut = min(lo + pos, hi)
                fh.write(data[offsets[cursor]:offsets[cut]])
                fh.write(line.encode() + b"\n")
                cursor = cut
                counts["broken_lines"] += 1
            fh.write(data[offsets[cursor]:offsets[hi]])
        counts["files"] += 1
        counts["lines"] += hi - lo + len(pending)


# --------------------------------------------------------------------------- all


def generate_scale(customers_csv: str | Path, out_dir: str | Path, *, seed: int, as_of: date, customers: int,
                   days: int, broken_lines: int = DEFAULT_BROKEN_LINES, preset: str | None = None) -> dict[str, Any]:
    """Write every source artefact for ``customers`` customers and ``days`` days of logs; return the manifest."""
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    if broken_lines < 0:
        raise ValueError(f"broken_lines must be >= 0, got {broken_lines}")
    if broken_lines and not days:
        raise ValueError("broken_lines needs days >= 1 (there are no log files with days=0)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now
        logger.info("scale generator: %s done in %.1f s", name, timings[name])

    table = load_telco_csv(customers_csv)
    pop = build_population(table, customers, seed, as_of)
    rows = write_customers_csv(out / "customers.csv", table, pop)
    lap("customers")
    billing = write_billing_db(out / "billing.db", pop, as_of, seed)
    lap("billing")
    tickets = write_tickets_jsonl(out / "tickets.jsonl", pop, as_of, seed)
    lap("tickets")
    access = write_access_logs(out, pop, as_of, days, seed, broken_lines)
    lap("access_logs")
    start, end = logs_mod.log_window(as_of, days)
    manifest = {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "parameters": {"seed": seed, "as_of": as_of.isoformat(), "customers": len(pop), "days": days,
                       "broken_lines": broken_lines, "preset": preset,
                       "customers_csv": {"name": table.name, "sha256": table.sha256, "rows": len(table.rows)}},
        "artefacts": {
            "customers": {"path": "customers.csv", "rows": rows, "churners": int(pop.churn.sum()),
                          "synthetic": max(0, len(pop) - len(table.rows))},
            "billing_db": {"location": "billing.db", "tables": {"invoices": billing["invoices"],
                                                                "payments": billing["payments"]},
                           "payments_by_status": billing["payments_by_status"]},
            "tickets": {"path": "tickets.jsonl", **tickets},
            "access_logs": {"path": logs_mod.LOG_DIR_NAME, "file_pattern": "access-YYYY-MM-DD-HH.log",
                            "window_start": start.isoformat() + "Z", "window_end": end.isoformat() + "Z", **access},
        },
        "seconds": timings,
    }
    with open(out / "manifest.json", "w", encoding="utf-8", newline="\n") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    return manifest


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m churnlake.demo.scale",
                                description="Generate the demo source systems at scale (vectorised).")
    p.add_argument("--preset", choices=sorted(PRESETS), help="named scale: " + ", ".join(
        f"{k} = {c:,} customers x {d} days" for k, (c, d) in PRESETS.items()))
    p.add_argument("--customers", type=int, help="population size (overrides the preset)")
    p.add_argument("--days", type=int, help="days of hourly access logs (overrides the preset)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--customers-csv", default="data/telco_customer_churn.csv", help="Telco CSV (templates)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--as-of", required=True, help="last day of data, YYYY-MM-DD (UTC)")
    p.add_argument("--broken-lines", type=int, default=DEFAULT_BROKEN_LINES,
                   help=f"unparsable log lines to insert (default {DEFAULT_BROKEN_LINES})")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: prints the manifest's artefacts and timings as JSON."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    preset = PRESETS.get(args.preset or "", (None, None))
    customers = args.customers or preset[0]
    days = args.days if args.days is not None else preset[1]
    if customers is None or days is None:
        parser.error("give --preset, or --customers and --days")
    try:
        manifest = generate_scale(args.customers_csv, args.out, seed=args.seed, as_of=parse_as_of(args.as_of),
                                  customers=customers, days=days, broken_lines=args.broken_lines, preset=args.preset)
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps({"artefacts": manifest["artefacts"], "seconds": manifest["seconds"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
