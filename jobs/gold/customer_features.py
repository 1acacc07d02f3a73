"""Build ``gold.customer_features`` and ``gold.churn_labels`` as of the run date.

    ./spark-submit.sh jobs/gold/customer_features.py --run-date 2026-11-27

Features come from all four sources (CRM attributes; billing, support and portal activity
aggregated from the versioned silver tables), each using only information from before the
end of the run date, so any past date can be rebuilt (docs/features.md). CRM attributes are
read from the ``silver.customers`` version written for the latest run date up to this one
(Delta time travel). The same run also writes the *training snapshot*: features as of the run
date minus ``training.label_horizon_days``, the inputs that predict this run date's labels. Both tables are partitioned by ``as_of_date``; a run replaces its own
partition; columns carry the comments of ``schemas/gold/*.ddl``; both are registered in the
metastore (database ``gold``) for SQL users.
"""

from __future__ import annotations

import argparse
import datetime as dt

from churnlake.config import Config
from churnlake.delta import read_table, register_in_catalog, replace_rows, set_table_comment
from churnlake.jobrun import JobResult, commit_metadata, job_arg_parser, run_job
from churnlake.ml.settings import training_settings
from churnlake.schemas import conform, struct
from churnlake.spark import cached, get_spark, stop
from churnlake.storage import delta_commits, filestore_for
from churnlake.tables import (GOLD_CHURN_LABELS, GOLD_CUSTOMER_FEATURES, SILVER_CUSTOMERS, SILVER_INVOICES,
                              SILVER_PAYMENTS, SILVER_TICKETS, SILVER_WEB_EVENTS, Table)
from churnlake.transforms.gold import churn_labels, customer_features

JOB = "gold_customer_features"
TABLE_COMMENTS = {
    GOLD_CUSTOMER_FEATURES: "Churn-model features per customer as of a date, from CRM, billing, support and "
                            "portal logs; no information after the as-of date (docs/features.md)",
    GOLD_CHURN_LABELS: "Churn label per customer per as-of date, kept apart from the features",
}


def run_versions(table: Table, cfg: Config) -> list[tuple[str, int]]:
    """(run date, version) of every commit of ``table`` made by a dated job run (one log read)."""
    uri = table.uri(cfg)
    return [(c["userMetadata"]["run_date"], c["version"]) for c in delta_commits(uri, filestore_for(uri, cfg))
            if isinstance(c.get("userMetadata"), dict) and "run_date" in c["userMetadata"]]


def snapshot_version(versions: list[tuple[str, int]], table: Table, as_of: dt.date) -> int:
    """The latest of ``versions`` committed by a run for a date up to ``as_of``."""
    eligible = [v for day, v in versions if day <= as_of.isoformat()]
    if not eligible:
        raise ValueError(f"{table.name} has no version written for a run date up to {as_of}")
    return max(eligible)


def training_snapshot_version(versions: list[tuple[str, int]], feature_date: dt.date) -> tuple[int, bool]:
    """The silver.customers version for the training snapshot's CRM attributes, and whether it
    was carried back: before the first CRM snapshot there is no older record of a customer's
    attributes, so the earliest one is used (docs/features.md, "training snapshot")."""
    eligible = [v for day, v in versions if day <= feature_date.isoformat()]
    return (max(eligible), False) if eligible else (min(v for _, v in versions), True)


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    """Compute features and labels as of the run date, and the training snapshot's features as
    of the run date minus the label horizon; replace their partitions."""
    spark = get_spark(JOB, cfg, catalog=True)
    try:
        versions = run_versions(SILVER_CUSTOMERS, cfg)
        version = snapshot_version(versions, SILVER_CUSTOMERS, args.run_date)
        customers = cached(read_table(spark, SILVER_CUSTOMERS, cfg, version=version))
        feature_date = training_settings(cfg).feature_date(args.run_date)
        train_version, carried_back = training_snapshot_version(versions, feature_date)
        sources = dict(invoices=read_table(spark, SILVER_INVOICES, cfg),
                       payments=read_table(spark, SILVER_PAYMENTS, cfg),
                       tickets=read_table(spark, SILVER_TICKETS, cfg), events=read_table(spark, SILVER_WEB_EVENTS, cfg))
        features = customer_features(customers, args.run_date, **sources)
        if feature_date != args.run_date:
            train_customers = read_table(spark, SILVER_CUSTOMERS, cfg, version=train_version)
            features = features.unionByName(customer_features(train_customers, feature_date, **sources))
        features = cached(conform(features, struct(cfg, "gold", "customer_features"), "gold.customer_features"))
        labels = conform(churn_labels(customers, args.run_date), struct(cfg, "gold", "churn_labels"),
                         "gold.churn_labels")
        dates = sorted({args.run_date.isoformat(), feature_date.isoformat()})
        meta = commit_metadata(JOB, args.run_date, silver_customers_version=version,
                               training_feature_date=feature_date.isoformat(),
                               training_silver_customers_version=train_version,
                               training_crm_carried_back=carried_back)
        replace_rows(features, GOLD_CUSTOMER_FEATURES, cfg,
                     replace_where="as_of_date IN (" + ", ".join(f"'{d}'" for d in dates) + ")", metadata=meta)
        replace_rows(labels, GOLD_CHURN_LABELS, cfg, replace_where=f"as_of_date = '{args.run_date.isoformat()}'",
                     metadata=meta)
        for table, comment in TABLE_COMMENTS.items():
            register_in_catalog(spark, table, cfg)
            set_table_comment(spark, table, cfg, comment, metadata=meta)
        n_in, n_out = customers.count(), features.count()
        return JobResult(rows_in=n_in, rows_out=n_out,
                         details={"labels": labels.count(), "silver_customers_version": version,
                                  "training_feature_date": feature_date.isoformat(),
                                  "training_crm_carried_back": carried_back,
                                  "features": len(features.columns) - 2})
    finally:
        stop(spark)


if __name__ == "__main__":
    run_job(JOB, main, job_arg_parser(__doc__.splitlines()[0]))
