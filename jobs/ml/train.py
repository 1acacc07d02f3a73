"""Train the churn-model candidates from the feature store, track them in MLflow, gate the champion.

    ./spark-submit.sh jobs/ml/train.py --run-date 2026-11-27

The training set comes only through the feature store: the customers labelled on the run date,
with their features as of the run date minus ``training.label_horizon_days`` (point-in-time).
The set stays in Spark: one stratified split (seeded hash of the customer id); MLlib candidates
(logistic regression, random forest) fit on the whole training split, scikit-learn candidates
(logistic regression, random forest, gradient boosting) on a stratified sample of it capped at
``training.sklearn_max_rows`` (collected to the driver; so are the test rows' id, label,
probability and monthly charges for the metrics, nothing else). Every candidate is a
nested MLflow run with a cross-validated grid search, plots, signature, input example and the
exact inputs; the best by CV is scored on the test rows in Spark (only customer id, label,
probability and monthly charges come back for the metrics), registered as ``churn-model``,
and the ``champion`` alias moves only when it beats the current champion re-scored on the same
rows (docs/modeling.md). Writes versioned model files besides MLflow and the report
reports/models/<run date>/.
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

from churnlake.config import Config, code_version
from churnlake.features.registry import load_registry
from churnlake.jobrun import JobResult, job_arg_parser, run_job
from churnlake.ml import evaluation
from churnlake.ml.candidates import KEY, LABEL, Fitted, choose_by_cv, fit_all, fit_candidate
from churnlake.ml.registry import FLAVOR_TAG, gate, load_model, register
from churnlake.ml.report import write_report
from churnlake.ml.scoring import PROBABILITY, collect_sorted, model_input, score_frame, sklearn_predictor
from churnlake.ml.settings import TrainingSettings, training_settings
from churnlake.ml.splits import Sample, Split, stratified_sample, stratified_split
from churnlake.ml.tracking import JOB_TAG, RUN_DATE_TAG, configure_mlflow, model_requirements
from churnlake.ml.training_set import GROUP, TrainingSet, build_training_set, split_features
from churnlake.spark import get_spark, stop
from churnlake.storage import filestore_for

JOB = "ml_train"
log = logging.getLogger(JOB)


CHARGES = "monthly_charges"


def split(ts: TrainingSet, settings: TrainingSettings) -> Split:
    """Stratified train/test split with the fixed seed, in Spark (the same rows for every candidate)."""
    return stratified_split(ts.frame, settings.test_size, settings.seed)


def sklearn_sample(ts: TrainingSet, train, settings: TrainingSettings) -> tuple[pd.DataFrame, Sample]:
    """The rows scikit-learn candidates fit on, collected: a stratified sample of the training
    split capped at ``training.sklearn_max_rows`` (all of it when smaller), sorted by customer
    id so the seeded CV folds do not depend on the partitioning."""
    sample = stratified_sample(train, settings.sklearn_max_rows, settings.seed)
    frame = collect_sorted(model_input(sample.frame, ts.categorical, ts.numeric))
    frame[LABEL] = frame[LABEL].astype("int64")
    return frame, sample


def sampling_params(sample: Sample | None, settings: TrainingSettings) -> dict[str, str]:
    """MLflow params (and report inputs) that say how many rows scikit-learn fitted on."""
    cap = "none" if settings.sklearn_max_rows is None else str(settings.sklearn_max_rows)
    if sample is None:
        return {"sklearn_max_rows": cap, "sklearn_sample_rows": "none (no scikit-learn candidate)"}
    return {"sklearn_max_rows": cap, "sklearn_sample_rows": str(sample.rows)}


def sampling_note(sample: Sample | None, settings: TrainingSettings) -> str:
    """One sentence for the report: which rows each library fitted on."""
    cap = ("no cap" if settings.sklearn_max_rows is None
           else f"cap training.sklearn_max_rows = {settings.sklearn_max_rows:,}")
    if sample is None:
        return "All candidates are MLlib: they fitted on every training row in Spark."
    if sample.is_all:
        return (f"scikit-learn candidates fitted on all {sample.rows:,} training rows ({cap}); MLlib candidates "
                f"on the same {sample.of_rows:,} rows in Spark.")
    return (f"scikit-learn candidates fitted on a stratified sample of {sample.rows:,} of the {sample.of_rows:,} "
            f"training rows ({cap}); MLlib candidates on all {sample.of_rows:,} in Spark.")


def score_test_rows(flavor: str, model, test, categorical: list[str], numeric: list[str]) -> pd.DataFrame:
    """A model's churn probability for the test rows, computed in Spark; only what the metrics
    need comes back (customer_id, churned, the probability, monthly_charges when present)."""
    keep = [c for c in (KEY, LABEL, CHARGES) if c in test.columns]
    return collect_sorted(score_frame(flavor, model, test, categorical, numeric, keep=keep))


def metrics_for(settings: TrainingSettings, scores: pd.DataFrame) -> dict[str, float]:
    """Test metrics from :func:`score_test_rows` rows."""
    charges = scores[CHARGES].to_numpy() if CHARGES in scores.columns else None
    return evaluation.evaluate(scores[LABEL].to_numpy(), scores[PROBABILITY].to_numpy(), monthly_charges=charges,
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
# state), scikit-learn's tree node storage (forests) and the histogram gradient boosting's
# trees (TreePredictor: node arrays and bin thresholds, restored as plain state).
TRUSTED_TYPES = ("numpy.dtype", "sklearn.tree._tree.Tree",
                 "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor")


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


def log_candidate(fitted: Fitted, ts: TrainingSet, split_: Split, fit_rows: int, examples,
                  plot_dir: Path, model_uri: str, cfg: Config) -> str:
    """Inside the candidate's MLflow run: params (``fit_rows``: the rows it was fitted on), its CV
    score, importances, the model with signature and example (``examples``: a few training
    rows, a Spark DataFrame). No test-set number: only the chosen candidate is scored on the
    test rows (:func:`log_test_evaluation`). Returns the logged model's URI."""
    mlflow.log_params({**{f"hp_{k}": v for k, v in fitted.params.items()}, "library": fitted.library,
                       **ts.inputs(), "train_rows": split_.train_rows, "test_rows": split_.test_rows,
                       "fit_rows": fit_rows})
    mlflow.log_metrics({"cv_roc_auc": fitted.cv_roc_auc})
    evaluation.plot_importance(fitted.importances, f"{fitted.name}: top features",
                               plot_dir / f"{fitted.name}_importance.png")
    mlflow.log_artifact(str(plot_dir / f"{fitted.name}_importance.png"), artifact_path="plots")
    mlflow.log_text(fitted.importances.to_csv(header=["importance"]), "feature_importance.csv")
    example = collect_sorted(model_input(examples, ts.categorical, ts.numeric))[ts.features]
    if fitted.library == "sklearn":
        # The fitted pipeline is in this process: the example's probabilities come from the same
        # function the engine's Python workers run, here, instead of shipping the model there.
        proba = next(sklearn_predictor(fitted.model, ts.features, keep=[])(iter([example])))[PROBABILITY].to_numpy()
    else:
        proba = collect_sorted(score_frame(fitted.library, fitted.model, examples, ts.categorical,
                                           ts.numeric))[PROBABILITY].to_numpy()
    signature = infer_signature(example, proba)
    if fitted.library == "sklearn":
        info = mlflow.sklearn.log_model(fitted.model, name="model", signature=signature, input_example=example,
                                        pyfunc_predict_fn="predict_proba", pip_requirements=model_requirements(),
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


def log_test_evaluation(client: MlflowClient, fitted: Fitted, run_id: str, metrics: dict,
                        scores: pd.DataFrame, plot_dir: Path) -> None:
    """The chosen candidate's one look at the test rows: metrics and plots on its own run."""
    for key, value in metrics.items():
        client.log_metric(run_id, f"test_{key}", value)
    evaluation.plot_curves(scores[LABEL].to_numpy(), {fitted.name: scores[PROBABILITY].to_numpy()},
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
        parts = split(ts, settings)
        log.info("training set: %d rows (%d churners), %d features as of %s for labels of %s; sha256 %s; "
                 "split %d train / %d test", ts.n_rows, ts.n_churners, len(ts.features), ts.feature_date, run_date,
                 ts.sha256, parts.train_rows, parts.test_rows)
        sk_rows, sample = None, None
        if any(name.startswith("sk_") for name in settings.candidates):
            sk_rows, sample = sklearn_sample(ts, parts.train, settings)
            log.info("scikit-learn candidates fit on %d of %d training rows (training.sklearn_max_rows %s)",
                     sample.rows, sample.of_rows, settings.sklearn_max_rows)
        examples = parts.train.orderBy(KEY).limit(5)
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
                               "selection_metric": metric, "train_rows": parts.train_rows,
                               "test_rows": parts.test_rows, **sampling_params(sample, settings)})
            def fit_and_log(name: str) -> tuple[Fitted, dict]:
                """Fit one candidate and log it as a nested run of ``parent``: in a lane's thread,
                so the other lane fits meanwhile (MLflow's active run is per thread, hence the
                explicit parent)."""
                log.info("candidate %s: grid search with %d-fold CV", name, settings.cv_folds)
                fitted = fit_candidate(name, spark, sk_rows if name.startswith("sk_") else parts.train,
                                       ts.categorical, ts.numeric, seed=settings.seed, folds=settings.cv_folds)
                log.info("candidate %s: fitted, cv_roc_auc %.4f", name, fitted.cv_roc_auc)
                fit_rows = len(sk_rows) if name.startswith("sk_") else parts.train_rows
                with mlflow.start_run(run_name=f"{name}-{run_date}", experiment_id=exp_id, nested=True,
                                      parent_run_id=parent.info.run_id) as child:
                    model_uri = save_model_file(fitted, f"{settings.models_dir}/{cfg.registered_model}/"
                                                f"{run_date}/{child.info.run_id}/{name}", cfg)
                    mlflow.set_tags({"churnlake.parent_job": JOB, RUN_DATE_TAG: run_date.isoformat(),
                                     "churnlake.code_version": code_version() or "unknown"})
                    logged = log_candidate(fitted, ts, parts, fit_rows, examples, plot_dir, model_uri, cfg)
                log.info("candidate %s: logged as MLflow run %s", name, child.info.run_id)
                return fitted, {"name": name, "library": fitted.library, "params": fitted.params,
                                "cv_roc_auc": fitted.cv_roc_auc, "metrics": {}, "run_id": child.info.run_id,
                                "model_uri": logged, "fit_rows": fit_rows}

            # scikit-learn (this process) and MLlib (the engine) candidates fit side by side.
            for name, (fitted, result) in fit_all(list(settings.candidates), fit_and_log,
                                                  parallel=settings.parallel_fit,
                                                  mllib_lanes=settings.mllib_lanes, spark=spark).items():
                fitted_by_name[name] = fitted
                results.append(result)
            best = choose_by_cv(results)
            chosen = fitted_by_name[best["name"]]
            # The test rows' one use for the candidates: the chosen model's evaluation (in Spark).
            scores = score_test_rows(chosen.library, chosen.model, parts.test, ts.categorical, ts.numeric)
            best["metrics"] = metrics_for(settings, scores)
            log_test_evaluation(client, chosen, best["run_id"], best["metrics"], scores, plot_dir)
            log.info("chosen by CV: %s (cv_roc_auc %.4f); test %s", best["name"], best["cv_roc_auc"],
                     {k: round(v, 4) for k, v in best["metrics"].items() if k in ("roc_auc", "pr_auc", "f1", "recall")})
            version = register(best["model_uri"], cfg.registered_model, best["library"],
                               {"churnlake.training_set_sha256": ts.sha256, RUN_DATE_TAG: run_date.isoformat()})

            def score_champion(champion) -> float:
                flavor, model = load_model(client, cfg.registered_model, champion)
                params = client.get_run(champion.run_id).data.params
                features = params["features"].split(",") if "features" in params else ts.features
                cat, num = split_features(load_registry()[GROUP], features)
                return metrics_for(settings, score_test_rows(flavor, model, parts.test, cat, num))[metric]

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
                           "code_version": code_version() or "unknown", "selection_metric": metric,
                           "train_rows": parts.train_rows, "test_rows": parts.test_rows,
                           **sampling_params(sample, settings)},
                "fit_note": sampling_note(sample, settings),
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
        return JobResult(rows_in=ts.n_rows, rows_out=len(results),
                         details={"best": best["name"], f"test_{metric}": round(best["metrics"][metric], 4),
                                  "model_version": version, "promoted": decision.promoted,
                                  "report": str(paths["html"])})
    finally:
        stop(spark)


if __name__ == "__main__":
    run_job(JOB, main, job_arg_parser(__doc__.splitlines()[0]))
