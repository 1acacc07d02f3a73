"""The scikit-learn logistic-regression baseline: pipeline, split and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churnlake.transforms.gold import CATEGORICAL_FEATURES, NUMERIC_FEATURES

FEATURES = list(CATEGORICAL_FEATURES) + list(NUMERIC_FEATURES)
LABEL = "churned"


def build_pipeline(seed: int, C: float = 1.0) -> Pipeline:
    """One-hot categories, impute and scale numbers, balanced-class logistic regression."""
    pre = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
        # Averages and recencies are null for customers without events: median of the training rows.
        ("num", Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                          ("scale", StandardScaler())]), list(NUMERIC_FEATURES)),
    ])
    clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced", random_state=seed)
    return Pipeline([("preprocess", pre), ("model", clf)])


def split(data: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified train/test split with a fixed seed."""
    missing = [c for c in FEATURES + [LABEL] if c not in data.columns]
    if missing:
        raise ValueError(f"training data lacks columns: {', '.join(missing)}")
    if data[LABEL].nunique() < 2:
        raise ValueError("training data holds a single class; cannot train a classifier")
    train, test = train_test_split(data, test_size=test_size, random_state=seed, stratify=data[LABEL])
    return train, test


def evaluate(y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, precision, recall, F1 at ``threshold`` and ROC-AUC."""
    pred = (proba >= threshold).astype(int)
    return {
        "accuracy": float(accuracy_score(y_true, pred)),
        "precision": float(precision_score(y_true, pred, zero_division=0)),
        "recall": float(recall_score(y_true, pred, zero_division=0)),
        "f1": float(f1_score(y_true, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(y_true, proba)),
    }
