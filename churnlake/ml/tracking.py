"""MLflow set-up in one place: tracking URI, registry and the experiment's artifact root."""

from __future__ import annotations

import mlflow
from mlflow.tracking import MlflowClient

from churnlake.config import Config

RUN_DATE_TAG = "churnlake.run_date"
JOB_TAG = "churnlake.job"


def configure_mlflow(cfg: Config) -> str:
    """Point MLflow at the configured backend and return the experiment id."""
    if cfg.mlflow_tracking_uri.startswith("sqlite:///"):
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(cfg.mlflow_tracking_uri)
    mlflow.set_registry_uri(cfg.mlflow_tracking_uri)
    client = MlflowClient()
    exp = client.get_experiment_by_name(cfg.mlflow_experiment)
    if exp is None:
        exp_id = client.create_experiment(cfg.mlflow_experiment, artifact_location=cfg.mlflow_artifact_uri)
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def finished_runs_for(cfg: Config, job: str, run_date: str) -> list:
    """Finished MLflow runs of ``job`` for ``run_date`` (used by Luigi targets)."""
    exp_id = configure_mlflow(cfg)
    return MlflowClient().search_runs(
        [exp_id],
        filter_string=(f"tags.`{JOB_TAG}` = '{job}' AND tags.`{RUN_DATE_TAG}` = '{run_date}' "
                       "AND attributes.status = 'FINISHED'"),
        max_results=5,
    )


#: What a logged scikit-learn model needs to load (skops) and predict, pinned to this environment's
#: versions. Given explicitly: MLflow's inference of them loads the model again in a subprocess
#: (≈ 6 s per candidate, measured) and picked up unrelated packages of this process (pytest, psutil).
MODEL_PACKAGES = ("mlflow", "numpy", "pandas", "scikit-learn", "scipy", "skops")


def model_requirements() -> list[str]:
    """``MODEL_PACKAGES`` as ``name==version`` lines of the installed versions."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_PACKAGES]
