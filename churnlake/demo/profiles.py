"""Behaviour profiles: the exact rates that make churners differ from non-churners.

All generators read their rates from :data:`CHURNER` and :data:`NON_CHURNER`
so the numbers documented in ``docs/demo_sources.md`` live in one place. A
customer is a churner when the Telco ``Churn`` column is ``Yes``; the churn is
taken to happen at the as-of date, so "recent" means the last weeks/months
before it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Ticket categories, in the order used by ``ticket_category_weights``.
TICKET_CATEGORIES = ("billing", "technical", "account", "cancellation", "general")
#: Portal pages visited after login, in the order used by ``page_weights``.
PORTAL_PAGES = ("/dashboard", "/usage", "/billing", "/billing/invoices", "/plans",
                "/support", "/support/tickets/new", "/account/settings", "/account/cancel")


@dataclass(frozen=True)
class BehaviourProfile:
    """Rates for one customer group. Times are in UTC, probabilities per event."""

    name: str
    #: Mean portal sessions (= successful logins) per week before any decline.
    sessions_per_week: float
    #: Length of the pre-churn decline in days (0 = no decline).
    decline_days: int
    #: Session-rate multiplier reached on the as-of day at the end of the decline.
    decline_floor: float
    #: Mean support tickets per year of tenure.
    tickets_per_year: float
    #: Extra tickets (Poisson mean) created in the last 90 days before the as-of date.
    recent_extra_tickets: float
    #: P(satisfaction = 1..5) for a closed ticket that got a rating.
    satisfaction_weights: tuple[float, float, float, float, float]
    #: Median ticket resolution time in hours (log-normal, sigma 1.0).
    resolution_median_hours: float
    #: P(payment late) / P(payment failed) per invoice, normal months.
    p_late: float
    p_failed: float
    #: Same for the last ``recent_months`` invoices before the as-of date.
    p_late_recent: float
    p_failed_recent: float
    #: P(a failed payment is later recovered by a late payment).
    p_recovery: float
    #: Relative weights of :data:`PORTAL_PAGES`.
    page_weights: tuple[float, ...]
    #: Relative weights of :data:`TICKET_CATEGORIES` (all tickets but the recent extras).
    ticket_category_weights: tuple[float, ...]


#: Number of most recent invoices (as-of month and the two before) that use the ``*_recent`` rates.
RECENT_MONTHS = 3
#: P(a closed ticket gets a satisfaction rating).
P_RATED = 0.6
#: Category weights of the churners' extra recent tickets.
RECENT_EXTRA_CATEGORY_WEIGHTS = (0.35, 0.15, 0.10, 0.35, 0.05)

NON_CHURNER = BehaviourProfile(
    name="non_churner",
    sessions_per_week=5.0,
    decline_days=0,
    decline_floor=1.0,
    tickets_per_year=0.5,
    recent_extra_tickets=0.0,
    satisfaction_weights=(0.03, 0.07, 0.15, 0.35, 0.40),
    resolution_median_hours=18.0,
    p_late=0.05,
    p_failed=0.02,
    p_late_recent=0.05,
    p_failed_recent=0.02,
    p_recovery=0.8,
    page_weights=(30, 20, 15, 10, 8, 6, 3, 7, 1),
    ticket_category_weights=(0.30, 0.40, 0.20, 0.02, 0.08),
)

CHURNER = BehaviourProfile(
    name="churner",
    sessions_per_week=2.5,
    decline_days=28,
    decline_floor=0.2,
    tickets_per_year=1.5,
    recent_extra_tickets=1.5,
    satisfaction_weights=(0.25, 0.25, 0.25, 0.15, 0.10),
    resolution_median_hours=36.0,
    p_late=0.12,
    p_failed=0.05,
    p_late_recent=0.25,
    p_failed_recent=0.12,
    p_recovery=0.5,
    page_weights=(20, 10, 20, 12, 10, 12, 6, 5, 5),
    ticket_category_weights=(0.30, 0.35, 0.15, 0.10, 0.10),
)


def profile_for(churn: bool) -> BehaviourProfile:
    """Return :data:`CHURNER` when ``churn`` is true, else :data:`NON_CHURNER`."""
    return CHURNER if churn else NON_CHURNER


def session_rate_multiplier(profile: BehaviourProfile, days_before_as_of: int) -> float:
    """Return the pre-churn decline multiplier for a day ``days_before_as_of`` days before as-of.

    Linear from 1.0 (``decline_days`` before) down to ``decline_floor`` on the as-of day.
    """
    if profile.decline_days <= 0 or days_before_as_of >= profile.decline_days:
        return 1.0
    days_before = max(0, days_before_as_of)
    frac = days_before / profile.decline_days
    return profile.decline_floor + (1.0 - profile.decline_floor) * frac
