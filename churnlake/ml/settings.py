"""Training settings (``training`` in conf/pipeline.yaml), read and checked in one place."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from churnlake.config import Config

KNOWN_CANDIDATES = ("sk_logreg", "sk_random_forest", "sk_gradient_boosting", "mllib_logreg",
                    "mllib_random_forest")
DEFAULT_SKLEARN_MAX_ROWS = 200_000
#: MLlib candidates fitted on the engine at once (docs/modeling.md, "Side by side").
DEFAULT_MLLIB_LANES = 2
METRICS = ("roc_auc", "pr_auc", "f1", "recall", "precision", "accuracy", "retained_revenue")


@dataclass(frozen=True)
class TrainingSettings:
    label_horizon_days: int
    exclude_feature_tags: tuple[str, ...]
    candidates: tuple[str, ...]
    cv_folds: int
    selection_metric: str
    contact_budget: float
    save_rate: float
    models_dir: str
    seed: int
    test_size: float
    # scikit-learn candidates fit on a stratified sample of at most this many training rows
    # (None: all of them); MLlib candidates always fit on all training rows.
    sklearn_max_rows: int | None = DEFAULT_SKLEARN_MAX_ROWS
    # scikit-learn candidates (this process) fit while MLlib candidates fit on the engine.
    parallel_fit: bool = True
    # MLlib candidates fitted on the engine at once (when parallel_fit).
    mllib_lanes: int = DEFAULT_MLLIB_LANES

    def feature_date(self, label_date: dt.date) -> dt.date:
        """The as-of date of the features that predict the label of ``label_date``."""
        return label_date - dt.timedelta(days=self.label_horizon_days)


def training_settings(cfg: Config) -> TrainingSettings:
    """The configured settings; a clear error naming the bad key."""
    raw = cfg.raw.get("training") or {}
    try:
        horizon = int(raw.get("label_horizon_days", 30))
        folds = int(raw.get("cv_folds", 3))
        budget = float(raw.get("contact_budget", 0.10))
        save_rate = float(raw.get("save_rate", 0.30))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"training settings: a numeric value is malformed: {exc}") from None
    sklearn_max_rows = sklearn_cap(raw.get("sklearn_max_rows", DEFAULT_SKLEARN_MAX_ROWS))
    parallel_fit = raw.get("parallel_fit", True)
    if not isinstance(parallel_fit, bool):
        raise ValueError(f"training.parallel_fit must be true or false, got {parallel_fit!r}")
    mllib_lanes = raw.get("mllib_lanes", DEFAULT_MLLIB_LANES)
    if isinstance(mllib_lanes, bool) or not isinstance(mllib_lanes, int) or mllib_lanes < 1:
        raise ValueError(f"training.mllib_lanes must be a whole number >= 1, got {mllib_lanes!r}")
    candidates = tuple(raw.get("candidates") or KNOWN_CANDIDATES)
    unknown = [c for c in candidates if c not in KNOWN_CANDIDATES]
    if unknown:
        raise ValueError(f"training.candidates: unknown {', '.join(unknown)}; known: {', '.join(KNOWN_CANDIDATES)}")
    metric = str(raw.get("selection_metric", "roc_auc"))
    if metric not in METRICS:
        raise ValueError(f"training.selection_metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if horizon < 0 or folds < 2 or not 0 < budget <= 1 or not 0 <= save_rate <= 1:
        raise ValueError("training: label_horizon_days >= 0, cv_folds >= 2, contact_budget in (0, 1], "
                         "save_rate in [0, 1]")
    return TrainingSettings(
        label_horizon_days=horizon, exclude_feature_tags=tuple(raw.get("exclude_feature_tags") or ()),
        candidates=candidates, cv_folds=folds, selection_metric=metric, contact_budget=budget,
        save_rate=save_rate, models_dir=str(raw.get("models_dir") or f"{cfg.lakehouse_root}/models"),
        seed=cfg.seed, test_size=cfg.test_size, sklearn_max_rows=sklearn_max_rows,
        parallel_fit=parallel_fit, mllib_lanes=mllib_lanes)


def sklearn_cap(value) -> int | None:
    """``training.sklearn_max_rows``: a positive whole number, or null for no cap."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "null", "none")):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"training.sklearn_max_rows must be a positive integer or null, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"training.sklearn_max_rows must be a positive integer or null, got {value!r}") from None
    if number != int(number) or number < 1:
        raise ValueError(f"training.sklearn_max_rows must be a positive integer or null, got {value!r}")
    return int(number)
