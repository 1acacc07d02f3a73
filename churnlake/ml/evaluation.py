"""Test-set metrics (statistical and business) and the evaluation plots.

The business metric is defined in docs/problem_formulation.md: with a budget to contact the
top ``budget`` share of customers by score, the retained revenue is ``save_rate x 12 x
MonthlyCharges`` summed over the contacted customers who really churn; it is compared with
the expected value of a random contact list of the same size (``revenue_lift``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (accuracy_score, average_precision_score, confusion_matrix, f1_score,
                             precision_recall_curve, precision_score, recall_score, roc_auc_score, roc_curve)


def contact_size(n: int, budget: float) -> int:
    """How many of ``n`` scored customers the contact budget reaches: the top ``budget`` share,
    at least one (batch scoring flags the same count in Spark)."""
    # Exact decimal arithmetic: ceil(100 * 0.07) in floating point is 8, not 7.
    return max(1, math.ceil(n * Fraction(str(budget))))


def contact_list(proba: np.ndarray, budget: float) -> np.ndarray:
    """Indices of the top ``budget`` share by score (at least one; ties broken by position)."""
    k = contact_size(len(proba), budget)
    return np.argsort(-np.asarray(proba), kind="mergesort")[:k]


def business_metrics(y_true: np.ndarray, proba: np.ndarray, monthly_charges: np.ndarray | None, *,
                     budget: float, save_rate: float) -> dict[str, float]:
    """Retained revenue at the contact budget, its lift over a random list, top-budget churn lift."""
    y = np.asarray(y_true)
    top = contact_list(proba, budget)
    base_rate = y.mean() if len(y) else 0.0
    out = {"top_budget_churn_rate": float(y[top].mean()),
           "top_budget_lift": float(y[top].mean() / base_rate) if base_rate else float("nan")}
    if monthly_charges is not None:
        value = np.nan_to_num(np.asarray(monthly_charges, dtype=float)) * 12.0 * save_rate
        retained = float((value[top] * y[top]).sum())
        random_expected = float((value * y).sum() * len(top) / len(y))
        out.update(retained_revenue=retained, random_retained_revenue=random_expected,
                   revenue_lift=retained / random_expected if random_expected else float("nan"))
    return out


def evaluate(y_true: np.ndarray, proba: np.ndarray, *, threshold: float = 0.5,
             monthly_charges: np.ndarray | None = None, budget: float = 0.10,
             save_rate: float = 0.30) -> dict[str, float]:
    """Accuracy, precision, recall, F1 at ``threshold``; ROC-AUC, PR-AUC; the confusion matrix
    cells (tn, fp, fn, tp); and the business metrics."""
    y = np.asarray(y_true).astype(int)
    pred = (np.asarray(proba) >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, proba)),
        "pr_auc": float(average_precision_score(y, proba)),
        "tn": float(tn), "fp": float(fp), "fn": float(fn), "tp": float(tp),
        **business_metrics(y, proba, monthly_charges, budget=budget, save_rate=save_rate),
    }


def _figure(**kwargs):
    """A figure and its axes, drawn with the Agg renderer and not registered with pyplot: the
    training job plots from two threads at once, and pyplot's global figure state is not
    thread-safe."""
    from matplotlib.figure import Figure

    fig = Figure(dpi=100, **kwargs)
    return fig, fig.subplots()


def plot_curves(y_true: np.ndarray, probas: dict[str, np.ndarray], path_roc: Path, path_pr: Path) -> None:
    """ROC and precision-recall curves of one or more candidates on the same test set."""
    for kind, path in (("roc", path_roc), ("pr", path_pr)):
        fig, ax = _figure(figsize=(5.5, 4.5))
        for name, proba in probas.items():
            if kind == "roc":
                fpr, tpr, _ = roc_curve(y_true, proba)
                ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y_true, proba):.3f})")
            else:
                prec, rec, _ = precision_recall_curve(y_true, proba)
                ax.plot(rec, prec, label=f"{name} (AP {average_precision_score(y_true, proba):.3f})")
        if kind == "roc":
            ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
            ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
        else:
            ax.axhline(float(np.mean(y_true)), color="k", linestyle="--", linewidth=0.8)
            ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve")
        ax.legend(fontsize=7, loc="lower right" if kind == "roc" else "upper right")
        fig.tight_layout()
        fig.savefig(path)


def plot_confusion(metrics: dict[str, float], title: str, path: Path) -> None:
    cells = np.array([[metrics["tn"], metrics["fp"]], [metrics["fn"], metrics["tp"]]])
    fig, ax = _figure(figsize=(4, 3.6))
    ax.imshow(cells, cmap="Blues")
    for (i, j), v in np.ndenumerate(cells):
        ax.text(j, i, f"{int(v)}", ha="center", va="center",
                color="white" if v > cells.max() / 2 else "black", fontsize=12)
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["stays", "churns"], yticklabels=["stays", "churns"],
           xlabel="predicted", ylabel="actual", title=title)
    fig.tight_layout()
    fig.savefig(path)


def plot_importance(importances: pd.Series, title: str, path: Path, top: int = 20) -> None:
    head = importances.head(top)[::-1]
    fig, ax = _figure(figsize=(6, 0.25 * len(head) + 1.2))
    ax.barh([str(n)[:40] for n in head.index], head.to_numpy())
    ax.set(title=title, xlabel="importance")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
