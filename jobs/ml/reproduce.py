"""Rebuild a registered model's training set from its recorded inputs and check its content hash.

    ./spark-submit.sh jobs/ml/reproduce.py --model-version 3 [--model-name churn-model]

Reads the version's MLflow run: the Delta versions of gold.customer_features and
gold.churn_labels, the label and feature dates, the feature list and the training set's
SHA-256. Rebuilds the set through the feature store at exactly those versions and compares
(the hash is computed in Spark, ``training_set_hash`` = ``spark-xxhash64-sum-v1``; a version
recorded before that param existed is checked with its own, pandas, hash, which collects the
set).
Exit 0 when the hashes match; 1 with the reason when they do not or the versions are gone
(VACUUM after the retention period: tag releases you must be able to rebuild, docs/versioning.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time

from mlflow.tracking import MlflowClient

from churnlake.config import load_config
from churnlake.jobrun import log_failure, setup_logging
from churnlake.ml.settings import training_settings
from churnlake.ml.tracking import configure_mlflow
from churnlake.ml.training_set import HASH_METHOD, LEGACY_HASH_METHOD, build_training_set, legacy_sha256
from churnlake.spark import get_spark, stop

JOB = "ml_reproduce"
log = logging.getLogger(JOB)


def recorded_inputs(client: MlflowClient, name: str, version: str) -> dict[str, str]:
    """The training-set inputs logged with a registered model version."""
    mv = client.get_model_version(name, version)
    params = client.get_run(mv.run_id).data.params
    needed = ("features_delta_version", "labels_delta_version", "label_date", "feature_date", "features",
              "training_set_sha256")
    missing = [k for k in needed if k not in params]
    if missing:
        raise ValueError(f"{name} version {version} (run {mv.run_id}) did not record {', '.join(missing)}; "
                         "it was trained before training sets were recorded")
    return ({k: params[k] for k in needed}
            | {"run_id": mv.run_id, "training_set_hash": params.get("training_set_hash", LEGACY_HASH_METHOD)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-version", required=True)
    parser.add_argument("--model-name", default=None, help="default: mlflow.registered_model")
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    setup_logging(JOB, cfg.logs_dir)
    started = time.monotonic()
    name = args.model_name or cfg.registered_model
    spark = None
    try:
        configure_mlflow(cfg)
        inputs = recorded_inputs(MlflowClient(), name, args.model_version)
        spark = get_spark(JOB, cfg)
        ts = build_training_set(spark, cfg, training_settings(cfg), dt.date.fromisoformat(inputs["label_date"]),
                                features_version=int(inputs["features_delta_version"]),
                                labels_version=int(inputs["labels_delta_version"]),
                                features=inputs["features"].split(","),
                                feature_date=dt.date.fromisoformat(inputs["feature_date"]))
        method = inputs["training_set_hash"]
        if method == LEGACY_HASH_METHOD:
            log.info("%s version %s recorded the pandas hash of the collected set: rebuilding that one",
                     name, args.model_version)
            rebuilt = legacy_sha256(ts)
        elif method == HASH_METHOD:
            rebuilt = ts.sha256
        else:
            raise ValueError(f"{name} version {args.model_version} recorded training_set_hash={method!r}, "
                             f"which this code cannot compute (it knows {HASH_METHOD}, {LEGACY_HASH_METHOD})")
    except Exception as exc:  # noqa: BLE001 - the command boundary
        log_failure(exc, time.monotonic() - started)
        return 1
    finally:
        if spark is not None:
            stop(spark)
    same = rebuilt == inputs["training_set_sha256"]
    print(f"{name} version {args.model_version} (run {inputs['run_id']}): training set rebuilt from "
          f"gold.customer_features v{inputs['features_delta_version']} and gold.churn_labels "
          f"v{inputs['labels_delta_version']}, labels of {inputs['label_date']}, features as of "
          f"{inputs['feature_date']}: {ts.n_rows} rows")
    print(f"recorded sha256 {inputs['training_set_sha256']}\nrebuilt  sha256 {rebuilt} ({method})")
    print("REPRODUCED: identical content" if same else "MISMATCH: the rebuilt training set differs")
    log.info("reproduce %s v%s: %s", name, args.model_version, "identical" if same else "MISMATCH")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
