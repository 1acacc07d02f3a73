"""The names of the gold customer features, in their column order (no Spark import).

churnlake.transforms.gold computes them; benchmarks/gold_reference.py recomputes them in
DuckDB and pandas worker processes that must not load pyspark, so the names live here.
"""

from __future__ import annotations

CATEGORICAL_FEATURES = ("gender", "multiple_lines", "internet_service", "online_security",
                        "online_backup", "device_protection", "tech_support", "streaming_tv",
                        "streaming_movies", "contract", "payment_method")
CRM_NUMERIC_FEATURES = ("senior_citizen", "partner", "dependents", "phone_service",
                        "paperless_billing", "tenure_months", "monthly_charges", "total_charges",
                        "avg_monthly_spend", "num_addon_services")
BILLING_FEATURES = ("total_spend", "avg_invoice_amount", "spend_last_3m", "spend_prev_3m", "spend_trend",
                    "payments_late", "payments_failed", "late_or_failed_6m", "late_or_failed_share",
                    "days_since_last_payment")
TICKET_FEATURES = ("tickets_total", "tickets_90d", "open_tickets", "cancellation_tickets_90d",
                   "avg_resolution_hours", "avg_satisfaction", "days_since_last_ticket")
WEB_FEATURES = ("events_28d", "sessions_28d", "sessions_per_week", "active_days_28d", "activity_frequency",
                "cancel_page_views_28d", "days_since_last_activity")
DERIVED_FEATURES = ("tenure_days",)
NUMERIC_FEATURES = CRM_NUMERIC_FEATURES + BILLING_FEATURES + TICKET_FEATURES + WEB_FEATURES + DERIVED_FEATURES
# Counts are 0 for a customer without events; averages and recencies stay null (unknown).
ZERO_WHEN_ABSENT = ("total_spend", "spend_last_3m", "spend_prev_3m", "payments_late", "payments_failed",
                    "late_or_failed_6m", "tickets_total", "tickets_90d", "open_tickets",
                    "cancellation_tickets_90d", "events_28d", "sessions_28d", "sessions_per_week",
                    "active_days_28d", "activity_frequency", "cancel_page_views_28d")
SESSION_GAP_MINUTES = 30
ADDON_SERVICES = ("online_security", "online_backup", "device_protection", "tech_support",
                  "streaming_tv", "streaming_movies")
