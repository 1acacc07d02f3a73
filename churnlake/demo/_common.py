"""Small shared helpers for the demo generators: keyed RNGs, calendar maths, formats.

Every random decision in the demo data comes from a :class:`random.Random`
built by :func:`keyed_rng` from the user's seed plus a few key parts (the
artefact, the customer id, the month or day...). Seeding ``random.Random`` with
a ``str`` hashes it with SHA-512, which is stable across processes and Python
versions (unlike ``hash()``), so outputs never depend on ``PYTHONHASHSEED``,
on global random state or on the wall clock.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta
from typing import Sequence, TypeVar

T = TypeVar("T")

#: English month abbreviations (``strftime('%b')`` depends on the locale).
MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

EPOCH = datetime(1970, 1, 1)


def keyed_rng(seed: int, *parts: object) -> random.Random:
    """Return a private ``random.Random`` keyed by ``seed`` and ``parts``.

    The same seed and parts always give the same stream; different parts give
    independent streams, so e.g. changing ``--days`` never changes billing.
    """
    key = "|".join([str(seed), *(str(p) for p in parts)])
    return random.Random(key)


def poisson(rng: random.Random, lam: float) -> int:
    """Draw a Poisson(lam) variate from ``rng`` (Knuth for small lam, normal approx above 30)."""
    if lam <= 0.0:
        return 0
    if lam > 30.0:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def weighted_choice(rng: random.Random, items: Sequence[T], cum_weights: Sequence[float]) -> T:
    """Pick one of ``items`` with precomputed cumulative weights (one ``rng.random()`` draw)."""
    return rng.choices(items, cum_weights=cum_weights, k=1)[0]


def cumulative(weights: Sequence[float]) -> tuple[float, ...]:
    """Return the running sums of ``weights``."""
    out: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        out.append(total)
    return tuple(out)


def month_index(d: date) -> int:
    """Return a monotone month number (``year * 12 + month - 1``) for ``d``."""
    return d.year * 12 + d.month - 1


def month_start(index: int) -> date:
    """Return the first day of the month with :func:`month_index` ``index``."""
    return date(index // 12, index % 12 + 1, 1)


def day_start(d: date) -> datetime:
    """Return midnight (naive UTC) at the start of ``d``."""
    return datetime(d.year, d.month, d.day)


def cutoff_for(as_of: date) -> datetime:
    """Return the exclusive upper bound for event times: midnight after ``as_of`` (UTC)."""
    return day_start(as_of) + timedelta(days=1)


def to_epoch(ts: datetime) -> int:
    """Naive-UTC datetime to integer epoch seconds."""
    return int((ts - EPOCH).total_seconds())


def iso_z(ts: datetime | None) -> str | None:
    """Format a naive-UTC datetime as ``YYYY-MM-DDTHH:MM:SSZ`` (``None`` stays ``None``)."""
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_as_of(value: str) -> date:
    """Parse an ``YYYY-MM-DD`` as-of date, raising ``ValueError`` with a clear message."""
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"as-of date must be YYYY-MM-DD, got {value!r}") from exc
