"""The model registry: register the best candidate, and the champion gate.

Every training run registers its best candidate as a new version of ``churn-model``. The
``champion`` alias moves to it only when it beats the current champion on the selection
metric, both measured on *this* run's test set (the champion is loaded and re-scored, so the
comparison is like for like). When the champion cannot be scored on those rows (its features
no longer exist, its files are gone), the champion is kept — a metric it logged on another
test set is not comparable — and the decision says why; an operator can then promote a
version explicitly:

    python -m churnlake.ml.registry promote 7 --reason "features v2 replaced v1; reviewed report"

The decision — promoted or not, and why — is recorded as tags on the candidate's run and model
version (an explicit promotion too, with who and why).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)
CHAMPION = "champion"
FLAVOR_TAG = "churnlake.flavor"
DECISION_TAG = "churnlake.gate.decision"


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    version: str
    champion_before: str | None
    challenger_score: float
    champion_score: float | None
    basis: str
    reason: str

    def tags(self) -> dict[str, str]:
        return {DECISION_TAG: "promoted" if self.promoted else "kept_champion",
                "churnlake.gate.reason": self.reason,
                "churnlake.gate.champion_before": self.champion_before or "none",
                "churnlake.gate.basis": self.basis}


def current_champion(client: MlflowClient, name: str):
    """The model version the ``champion`` alias points to, or None."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def gate(client: MlflowClient, name: str, version: str, metric: str, challenger_score: float,
         score_champion: Callable[[object], float]) -> GateDecision:
    """Move ``champion`` to ``version`` only if it beats the current champion on ``metric``."""
    champion = current_champion(client, name)
    version = str(version)
    if champion is None:
        client.set_registered_model_alias(name, CHAMPION, version)
        return GateDecision(True, version, None, challenger_score, None, "no champion yet",
                            f"first champion: version {version} ({metric} {challenger_score:.4f})")
    before = str(champion.version)
    try:
        champion_score, basis = float(score_champion(champion)), "re-scored on this run's test set"
    except Exception as exc:  # noqa: BLE001 - any failure to score the champion keeps it
        # A number logged on another test set is not comparable: no promotion without a like-for-
        # like comparison. The operator can promote explicitly (python -m churnlake.ml.registry promote).
        cause = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}"
        log.warning("champion version %s could not be scored on this run's test rows (%s): kept", before, cause)
        return GateDecision(False, version, before, challenger_score, None,
                            f"champion could not be re-scored on this run's test set ({cause})",
                            f"champion version {before} kept: it could not be scored on the rows the challenger "
                            f"was scored on ({cause}), so the two are not comparable; to promote version {version} "
                            f"anyway: python -m churnlake.ml.registry promote {version} --reason '…'")
    before = str(champion.version)
    if challenger_score > champion_score:
        client.set_registered_model_alias(name, CHAMPION, version)
        return GateDecision(True, version, before, challenger_score, champion_score, basis,
                            f"version {version} beats champion version {before} on {metric}: "
                            f"{challenger_score:.4f} > {champion_score:.4f}")
    return GateDecision(False, version, before, challenger_score, champion_score, basis,
                        f"champion version {before} kept: challenger version {version} {metric} "
                        f"{challenger_score:.4f} does not beat {champion_score:.4f}")


def register(model_uri: str, name: str, flavor: str, tags: dict[str, str]) -> str:
    """Register a model as a new version of ``name``; returns the version.

    ``model_uri`` is a logged model (``models:/m-…``, scikit-learn) or a run's artifact folder
    (``runs:/<run id>/model``, MLlib: the folder the MLlib writer produced, which is not an
    MLflow logged model, so the version is created from the folder's location)."""
    all_tags = {FLAVOR_TAG: flavor, **tags}
    if not model_uri.startswith("runs:/"):
        return str(mlflow.register_model(model_uri, name, tags=all_tags).version)
    run_id, _, path = model_uri.removeprefix("runs:/").partition("/")
    client = MlflowClient()
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    source = f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/{path}"
    return str(client.create_model_version(name, source, run_id=run_id, tags=all_tags).version)


def load_model(client: MlflowClient, name: str, version) -> tuple[str, object]:
    """(flavor, model) of a registered version: a scikit-learn Pipeline or an MLlib PipelineModel."""
    flavor = version.tags.get(FLAVOR_TAG) or client.get_run(version.run_id).data.tags.get(FLAVOR_TAG)
    uri = f"models:/{name}/{version.version}"
    if flavor == "sklearn":
        return flavor, mlflow.sklearn.load_model(uri)
    if flavor == "mllib":
        return flavor, load_mllib(client, version)
    raise ValueError(f"model {name} version {version.version} has no known flavor tag ({FLAVOR_TAG}={flavor!r})")


def load_mllib(client: MlflowClient, version):
    """An MLlib ``PipelineModel`` of a registered version, read with the MLlib reader (works in a
    classic session and as a Spark Connect client) from the model folder its run names
    (``churnlake.model_file``, on the lakehouse), else from the run's ``model/mllib_model``
    artifacts downloaded to a local folder."""
    from pyspark.ml import PipelineModel

    location = client.get_run(version.run_id).data.tags.get("churnlake.model_file")
    if location:
        return PipelineModel.load(location)
    local = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path="model/mllib_model")
    return PipelineModel.load(local)


OPERATOR_TAG = "churnlake.gate.operator"


def promote(client: MlflowClient, name: str, version: str, reason: str, who: str) -> GateDecision:
    """Point ``champion`` at ``version`` on an operator's decision, recorded on the version."""
    target = client.get_model_version(name, str(version))  # fails naming the version when it does not exist
    before = current_champion(client, name)
    before_v = str(before.version) if before is not None else None
    client.set_registered_model_alias(name, CHAMPION, str(target.version))
    decision = GateDecision(True, str(target.version), before_v, float("nan"), None, "operator decision",
                            f"promoted by {who}: {reason}")
    for key, value in {**decision.tags(), OPERATOR_TAG: who}.items():
        client.set_model_version_tag(name, str(target.version), key, value)
    return decision


def main(argv: list[str] | None = None) -> int:
    """``python -m churnlake.ml.registry promote VERSION --reason TEXT`` | ``champion``."""
    import argparse
    import getpass
    import socket
    import sys

    from churnlake.config import load_config

    parser = argparse.ArgumentParser(prog="python -m churnlake.ml.registry",
                                     description="The model registry's champion alias (docs/modeling.md)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("promote", help="make VERSION the champion, on an operator's decision")
    p.add_argument("version")
    p.add_argument("--reason", required=True, help="why (recorded on the version)")
    sub.add_parser("champion", help="print the current champion version")
    args = parser.parse_args(argv)
    cfg = load_config()
    client = MlflowClient(tracking_uri=cfg.mlflow_tracking_uri, registry_uri=cfg.mlflow_tracking_uri)
    if args.command == "champion":
        champion = current_champion(client, cfg.registered_model)
        print("none" if champion is None else f"{cfg.registered_model} version {champion.version}")
        return 0 if champion is not None else 3
    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        who = f"uid{os.getuid()}@{socket.gethostname()}"
    try:
        decision = promote(client, cfg.registered_model, args.version, args.reason, who)
    except MlflowException as exc:
        print(f"promote: {cfg.registered_model} has no version {args.version}: {exc.message}", file=sys.stderr)
        return 1
    print(f"{cfg.registered_model} version {decision.version} is the champion "
          f"(was {decision.champion_before or 'none'}): {decision.reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
