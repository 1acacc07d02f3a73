"""Demo support-ticket history (the data behind the ticket API).

Each customer opens tickets at a Poisson rate over their tenure (churners more
often, plus extra tickets in the last 90 days). A ticket is ``open`` until a
first agent response, ``pending`` until resolved, ``resolved`` at resolution
and ``closed`` 72 hours later, when a satisfaction rating (1-5) may be given.
Everything after the end of the as-of day is not yet known, so late tickets are
still open/pending with ``resolved_at = null``.

Ticket ids are assigned in ``created_at`` order; the JSONL file is ordered by
``(updated_at, ticket_id)``, the order the API pages in. Timestamps are UTC
strings ``YYYY-MM-DDTHH:MM:SSZ``.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterator, Sequence

from churnlake.demo._common import (cumulative, cutoff_for, iso_z, keyed_rng, poisson,
                                    weighted_choice)
from churnlake.demo.customers import Customer, customer_start
from churnlake.demo.profiles import (P_RATED, RECENT_EXTRA_CATEGORY_WEIGHTS, TICKET_CATEGORIES,
                                     profile_for)

logger = logging.getLogger(__name__)

#: Field order of a ticket record (JSONL and API).
TICKET_FIELDS = ("ticket_id", "customer_id", "created_at", "updated_at", "resolved_at",
                 "category", "priority", "status", "channel", "satisfaction")
TICKET_STATUSES = ("open", "pending", "resolved", "closed")
CHANNELS = ("phone", "email", "chat", "web")
CHANNEL_WEIGHTS = (0.35, 0.25, 0.30, 0.10)
_CHANNEL_CUM = cumulative(CHANNEL_WEIGHTS)
PRIORITIES = ("low", "medium", "high", "urgent")
PRIORITY_WEIGHTS = (0.35, 0.40, 0.20, 0.05)
_PRIORITY_CUM = cumulative(PRIORITY_WEIGHTS)
_RATINGS = (1, 2, 3, 4, 5)
#: Hours from resolution to automatic closing.
CLOSE_AFTER_HOURS = 72
RECENT_DAYS = 90


def _one_ticket(rng: Any, c: Customer, created: datetime, cutoff: datetime,
                category_cum: Sequence[float]) -> dict[str, Any]:
    prof = profile_for(c.churn)
    category = weighted_choice(rng, TICKET_CATEGORIES, category_cum)
    priority = weighted_choice(rng, PRIORITIES, _PRIORITY_CUM)
    if category == "cancellation" and priority == "low":
        priority = "medium"
    channel = weighted_choice(rng, CHANNELS, _CHANNEL_CUM)
    first_response = created + timedelta(seconds=rng.randint(300, 8 * 3600))
    hours = rng.lognormvariate(math.log(prof.resolution_median_hours), 1.0)
    resolved = first_response + timedelta(seconds=int(hours * 3600))
    closed = resolved + timedelta(hours=CLOSE_AFTER_HOURS)
    rated = rng.random() < P_RATED
    rating = weighted_choice(rng, _RATINGS, cumulative(prof.satisfaction_weights))
    resolved_at: datetime | None = None
    satisfaction: int | None = None
    if closed < cutoff:
        status, updated, resolved_at = "closed", closed, resolved
        satisfaction = rating if rated else None
    elif resolved < cutoff:
        status, updated, resolved_at = "resolved", resolved, resolved
    elif first_response < cutoff:
        status, updated = "pending", first_response
    else:
        status, updated = "open", created
    return {
        "ticket_id": 0, "customer_id": c.customer_id, "created_at": created,
        "updated_at": updated, "resolved_at": resolved_at, "category": category,
        "priority": priority, "status": status, "channel": channel,
        "satisfaction": satisfaction,
    }


def _customer_tickets(c: Customer, as_of: date, seed: int, cutoff: datetime) -> list[dict[str, Any]]:
    prof = profile_for(c.churn)
    rng = keyed_rng(seed, "tickets", c.customer_id)
    start = customer_start(c, as_of, seed)
    span = int((cutoff - start).total_seconds())
    if span <= 0:
        return []
    out = []
    n = poisson(rng, prof.tickets_per_year * span / (365.25 * 86400))
    normal_cum = cumulative(prof.ticket_category_weights)
    for _ in range(n):
        created = start + timedelta(seconds=rng.randrange(span))
        out.append(_one_ticket(rng, c, created, cutoff, normal_cum))
    if prof.recent_extra_tickets > 0:
        recent_start = max(start, cutoff - timedelta(days=RECENT_DAYS))
        recent_span = int((cutoff - recent_start).total_seconds())
        extra_cum = cumulative(RECENT_EXTRA_CATEGORY_WEIGHTS)
        for _ in range(poisson(rng, prof.recent_extra_tickets)):
            created = recent_start + timedelta(seconds=rng.randrange(recent_span))
            out.append(_one_ticket(rng, c, created, cutoff, extra_cum))
    return out


def generate_tickets(customers: Sequence[Customer], as_of: date, seed: int) -> list[dict[str, Any]]:
    """Return every ticket as a dict (datetimes as naive UTC ``datetime``).

    Ids are 1..n in ``(created_at, customer ordinal)`` order; the list is sorted
    by ``(updated_at, ticket_id)``. Memory: about 1 KiB per ticket.
    """
    cutoff = cutoff_for(as_of)
    keyed: list[tuple[datetime, int, int, dict[str, Any]]] = []
    for c in customers:
        for i, t in enumerate(_customer_tickets(c, as_of, seed, cutoff)):
            keyed.append((t["created_at"], c.ordinal, i, t))
    keyed.sort(key=lambda k: k[:3])
    tickets = []
    for ticket_id, (_, _, _, t) in enumerate(keyed, start=1):
        t["ticket_id"] = ticket_id
        tickets.append(t)
    tickets.sort(key=lambda t: (t["updated_at"], t["ticket_id"]))
    logger.info("tickets: %d for %d customers", len(tickets), len(customers))
    return tickets


def ticket_to_json(t: dict[str, Any]) -> dict[str, Any]:
    """Ticket dict with ISO-``Z`` timestamp strings, fields in :data:`TICKET_FIELDS` order."""
    out = {}
    for k in TICKET_FIELDS:
        v = t[k]
        out[k] = iso_z(v) if isinstance(v, datetime) else v
    return out


def write_tickets_jsonl(path: str | Path, tickets: Sequence[dict[str, Any]]) -> int:
    """Write ``tickets`` one JSON object per line (LF, UTF-8). Returns the line count."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for t in tickets:
            fh.write(json.dumps(ticket_to_json(t), separators=(",", ":")) + "\n")
    return len(tickets)


def read_tickets_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the ticket objects of a ``tickets.jsonl`` file (timestamps stay strings)."""
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: invalid JSON: {exc}") from exc
