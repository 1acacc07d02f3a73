"""Train the churn-model candidates from the feature store, track them in MLflow, gate the champion.

    ./spark-submit.sh jobs/ml/train.py --run-date 2026-11-27

The training set comes only through the feature store: the customers labelled on the run date,
with their features as of the run date minus ``training.label_horizon_days`` (point-in-time).
One stratified split (fixed seed); every configured candidate (scikit-learn logistic
regression, random forest, gradient boosting; MLlib logistic regression, random forest) is a
nested MLflow run with a cross-validated grid search, test metrics, plots, signature, input
example and the exact inputs; the best one is registered as ``churn-model`` and the
``champion`` alias moves only when it beats the current champion (docs/modeling.md). Writes
versioned model files besides MLflow and the report reports/models/<run date>/.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import pickle
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.model_selection import train_test_split

from churnlake.config import Config, code_version
from churnlake.features.registry import load_registry
from churnlake.jobrun import JobResult, job_arg_parser, run_job
from churnlake.ml import evaluation
from churnlake.ml.candidates import KEY, LABEL, Fitted, choose_by_cv, fit_candidate, scorer_for
from churnlake.ml.registry import FLAVOR_TAG, gate, load_model, register
from churnlake.ml.report import write_report
from churnlake.ml.settings import TrainingSettings, training_settings
from churnlake.ml.tracking import JOB_TAG, RUN_DATE_TAG, configure_mlflow
from churnlake.ml.training_set import GROUP, TrainingSet, build_training_set, split_features
from churnlake.spark import get_spark, stop
from churnlake.storage import filestore_for

JOB = "ml_train"
log = logging.getLogger(JOB)


def split(ts: TrainingSet, settings: TrainingSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified train/test split with the fixed seed (the same rows for every candidate)."""
    if ts.frame[LABEL].nunique() < 2:
        raise ValueError("the training set holds a single class; cannot train a classifier")
    return train_test_split(ts.frame, test_size=settings.test_size, random_state=settings.seed,
                            stratify=ts.frame[LABEL])


def metrics_for(settings: TrainingSettings, test: pd.DataFrame, proba) -> dict[str, float]:
    charges = test["monthly_charges"].to_numpy() if "monthly_charges" in test.columns else None
    return evaluation.evaluate(test[LABEL].to_numpy(), proba, monthly_charges=charges,
                               budget=settings.contact_budget, save_rate=settings.save_rate)


def save_model_file(fitted: Fitted, uri: str, cfg: Config) -> str:
    """The versioned model besides MLflow: model.pkl (scikit-learn) or the MLlib model folder."""
    if fitted.library == "sklearn":
        buf = io.BytesIO()
        pickle.dump(fitted.model, buf, protocol=pickle.HIGHEST_PROTOCOL)
        target = f"{uri}/model.pkl"
        filestore_for(target, cfg).write_bytes(target, buf.getvalue())
        return target
    target = f"{uri}/mllib_model"
    fitted.model.write().overwrite().save(target)
    return target


def log_mllib_model(model_uri: str, signature, example: pd.DataFrame, cfg: Config) -> str:
    """Log an MLlib model folder as the run's ``model`` artifact (with its signature and input
    example beside it) and return the ``runs:/`` URI to register. A model folder on a remote
    file system (HDFS) stays there: the run then logs its location only."""
    from urllib.parse import urlparse

    run_id = mlflow.active_run().info.run_id
    mlflow.log_text(example.to_json(orient="records", indent=1), "input_example.json")
    mlflow.log_dict(signature.to_dict(), "model/signature.json")
    mlflow.log_text(model_uri + "\n", "model/model_location.txt")
    parsed = urlparse(model_uri)
    if parsed.scheme in ("", "file"):
        mlflow.log_artifacts(parsed.path, artifact_path="model/mllib_model")
    return f"runs:/{run_id}/model"


# Types our candidates' skops files hold beyond skops' defaults, reviewed: numpy dtypes (imputer
# state) and scikit-learn's tree node storage (forests, gradient boosting).
TRUSTED_TYPES = ("numpy.dtype", "sklearn.tree._tree.Tree")


def own_types(model) -> list[str]:
    """The extra types this model's skops file needs, all from TRUSTED_TYPES; anything else is an
    error (a new estimator must be reviewed before its files are trusted)."""
    import skops.io

    needed = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    unknown = sorted(set(needed) - set(TRUSTED_TYPES))
    if unknown:
        raise ValueError(f"model holds types not reviewed for skops loading: {', '.join(unknown)} "
                         "(add them to TRUSTED_TYPES in jobs/ml/train.py after review)")
    return sorted(set(needed) | {"numpy.dtype"})


def log_candidate(fitted: Fitted, ts: TrainingSet, train: pd.DataFrame, test: pd.DataFrame,
                  plot_dir: Path, model_uri: str, spark, cfg: Config) -> str:
    """Inside the candidate's MLflow run: params, its CV score, importances, the model with
    signature and example (from training rows). No test-set number: only the chosen candidate
    is scored on the test rows (:func:`log_test_evaluation`). Returns the logged model's URI."""
    mlflow.log_params({**{f"hp_{k}": v for k, v in fitted.params.items()}, "library": fitted.library,
                       **ts.inputs(), "train_rows": len(train), "test_rows": len(test)})
    mlflow.log_metrics({"cv_roc_auc": fitted.cv_roc_auc})
    evaluation.plot_importance(fitted.importances, f"{fitted.name}: top features",
                               plot_dir / f"{fitted.name}_importance.png")
    mlflow.log_artifact(str(plot_dir / f"{fitted.name}_importance.png"), artifact_path="plots")
    mlflow.log_text(fitted.importances.to_csv(header=["importance"]), "feature_importance.csv")
    example = train[ts.features].head(5)
    proba = scorer_for(fitted.library, fitted.model, spark, ts.categorical, ts.numeric)(
        train.head(5)[[KEY, *ts.features]])
    signature = infer_signature(example, proba)
    if fitted.library == "sklearn":
        info = mlflow.sklearn.log_model(fitted.model, name="model", signature=signature, input_example=example,
                                        pyfunc_predict_fn="predict_proba",
                                        skops_trusted_types=own_types(fitted.model))
        mlflow.set_tags({FLAVOR_TAG: fitted.library, "churnlake.candidate": fitted.name,
                         "churnlake.model_file": model_uri})
        return info.model_uri
    # MLlib: the model folder written by the MLlib writer (save_model_file, on the lakehouse, so
    # the engine reads it wherever it runs) is the model; MLflow's Spark flavor needs the JVM
    # gateway and fails as a Spark Connect client (docs/modeling.md).
    mlflow.set_tags({FLAVOR_TAG: fitted.library, "churnlake.candidate": fitted.name,
                     "churnlake.model_file": model_uri})
    return log_mllib_model(model_uri, signature, example, cfg)


def log_test_evaluation(client: MlflowClient, fitted: Fitted, run_id: str, metrics: dict, proba,
                        test: pd.DataFrame, plot_dir: Path) -> None:
    """The chosen candidate's one look at the test rows: metrics and plots on its own run."""
    for key, value in metrics.items():
        client.log_metric(run_id, f"test_{key}", value)
    evaluation.plot_curves(test[LABEL].to_numpy(), {fitted.name: proba},
                           plot_dir / f"{fitted.name}_roc.png", plot_dir / f"{fitted.name}_pr.png")
    evaluation.plot_confusion(metrics, f"{fitted.name} (threshold 0.5)", plot_dir / f"{fitted.name}_confusion.png")
    for kind in ("roc", "pr", "confusion"):
        client.log_artifact(run_id, str(plot_dir / f"{fitted.name}_{kind}.png"), artifact_path="plots")


def main(args: argparse.Namespace, cfg: Config) -> JobResult:
    settings = training_settings(cfg)
    run_date = args.run_date
    spark = get_spark(JOB, cfg)
    try:
        ts = build_training_set(spark, cfg, settings, run_date)
        train, test = split(ts, settings)
        log.info("training set: %d rows (%d churners), %d features as of %s for labels of %s; sha256 %s",
                 len(ts.frame), int(ts.frame[LABEL].sum()), len(ts.features), ts.feature_date, run_date, ts.sha256)
        exp_id = configure_mlflow(cfg)
        client = MlflowClient()
        results, fitted_by_name = [], {}
        plot_dir = Path(tempfile.mkdtemp(prefix="churnlake-train-"))
        metric = settings.selection_metric
        with mlflow.start_run(run_name=f"train-{run_date}", experiment_id=exp_id) as parent:
            mlflow.set_tags({JOB_TAG: JOB, RUN_DATE_TAG: run_date.isoformat(),
                             "churnlake.code_version": code_version() or "unknown"})
            mlflow.log_params({**ts.inputs(), "candidates": ",".join(settings.candidates), "seed": settings.seed,
                               "test_size": settings.test_size, "cv_folds": settings.cv_folds,
                               "label_horizon_days": settings.label_horizon_days,
                               "selection_metric": metric})
            for name in settings.candidates:
                log.info("candidate %s: grid search with %d-fold CV", name, settings.cv_folds)
                fitted = fit_candidate(name, spark, train, ts.categorical, ts.numeric,
                                       seed=settings.seed, folds=settings.cv_folds)
                with mlflow.start_run(run_name=f"{name}-{run_date}", nested=True) as child:
                    model_uri = save_model_file(fitted, f"{settings.models_dir}/{cfg.registered_model}/"
                                                f"{run_date}/{child.info.run_id}/{name}", cfg)
                    mlflow.set_tags({"churnlake.parent_job": JOB, RUN_DATE_TAG: run_date.isoformat(),
                                     "churnlake.code_version": code_version() or "unknown"})
                    logged = log_candidate(fitted, ts, train, test, plot_dir, model_uri, spark, cfg)
                log.info("candidate %s: cv_roc_auc %.4f", name, fitted.cv_roc_auc)
                fitted_by_name[name] = fitted
                results.append({"name": name, "library": fitted.library, "params": fitted.params,
                                "cv_roc_auc": fitted.cv_roc_auc, "metrics": {}, "run_id": child.info.run_id,
                                "model_uri": logged})
            best = choose_by_cv(results)
            chosen = fitted_by_name[best["name"]]
            # The test rows' one use for the candidates: the chosen model's evaluation.
            test_proba = scorer_for(chosen.library, chosen.model, spark, ts.categorical, ts.numeric)(
                test[[KEY, *ts.features]])
            best["metrics"] = metrics_for(settings, test, test_proba)
            log_test_evaluation(client, chosen, best["run_id"], best["metrics"], test_proba, test, plot_dir)
            log.info("chosen by CV: %s (cv_roc_auc %.4f); test %s", best["name"], best["cv_roc_auc"],
                     {k: round(v, 4) for k, v in best["metrics"].items() if k in ("roc_auc", "pr_auc", "f1", "recall")})
            version = register(best["model_uri"], cfg.registered_model, best["library"],
                               {"churnlake.training_set_sha256": ts.sha256, RUN_DATE_TAG: run_date.isoformat()})

            def score_champion(champion) -> float:
                flavor, model = load_model(client, cfg.registered_model, champion)
                params = client.get_run(champion.run_id).data.params
                features = params["features"].split(",") if "features" in params else ts.features
                cat, num = split_features(load_registry()[GROUP], features)
                proba = scorer_for(flavor, model, spark, cat, num)(test[[KEY, *features]])
                return metrics_for(settings, test, proba)[metric]

            decision = gate(client, cfg.registered_model, version, metric, best["metrics"][metric], score_champion)
            for key, value in decision.tags().items():
                client.set_tag(best["run_id"], key, value)
                client.set_model_version_tag(cfg.registered_model, version, key, value)
            client.set_model_version_tag(cfg.registered_model, version, "churnlake.candidate", best["name"])
            mlflow.set_tags({"churnlake.best_candidate": best["name"], "churnlake.registered_version": version,
                             **decision.tags()})
            mlflow.log_metrics({"best_cv_roc_auc": best["cv_roc_auc"],
                                **{f"best_test_{k}": v for k, v in best["metrics"].items()}})
            if decision.champion_score is not None:
                mlflow.log_metric(f"champion_test_{metric}", decision.champion_score)
            summary = {
                "title": f"churn-model training {run_date}",
                "inputs": {**ts.inputs(), "mlflow_parent_run": parent.info.run_id,
                           "code_version": code_version() or "unknown", "selection_metric": metric},
                "candidates": results, "best": best["name"], "selection": "cv_roc_auc",
                "champion_score": decision.champion_score, "champion_before": decision.champion_before,
                "gate": f"{best['name']} registered as {cfg.registered_model} version {version}. {decision.reason} "
                        f"(basis: {decision.basis}).",
                "plots": {f"ROC curve ({best['name']}, test set)": f"{best['name']}_roc.png",
                          f"Precision-recall curve ({best['name']}, test set)": f"{best['name']}_pr.png",
                          f"Confusion matrix ({best['name']}, test set)": f"{best['name']}_confusion.png",
                          f"Feature importance ({best['name']})": f"{best['name']}_importance.png"},
            }
            paths = write_report(summary, cfg.reports_dir / "models" / run_date.isoformat(), plot_dir)
            for path in paths.values():
                mlflow.log_artifact(str(path), artifact_path="report")
            mlflow.log_text(json.dumps(results, default=str, indent=1), "candidates.json")
        log.info("best %s (%s %.4f) registered as version %s; %s", best["name"], metric,
                 best["metrics"][metric], version, decision.reason)
        return JobResult(rows_in=len(ts.frame), rows_out=len(results),
                         details={"best": best["name"], f"test_{metric}": round(best["metrics"][metric], 4),
                                  "model_version": version, "promoted": decision.promoted,
                                  "report": str(paths["html"])})
    finally:
        stop(spark)


if __name__ == "__main__":
    run_job(JOB, main, job_arg_parser(__doc__.splitlines()[0]))
