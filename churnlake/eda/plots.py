"""EDA plots: each function returns one matplotlib :class:`~matplotlib.figure.Figure`.

Figures are built with matplotlib's object API (``Figure``, never ``pyplot``), so nothing
depends on a global backend or on a display: a job on a headless driver renders them with
the Agg renderer (``Figure.savefig``), and a notebook shows the returned figure inline.
Each figure is one image with a panel per column.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from churnlake.eda.stats import LABEL, column_roles, label_as_float

STAYED, CHURNED = "#4c72b0", "#dd8452"  # colours of the two label groups, in every plot
MAX_BARS = 15  # categories shown per churn-rate panel (the largest ones)


def _panels(n: int, ncols: int, width: float, height: float) -> tuple[Figure, list]:
    """A figure with ``n`` panels on a grid ``ncols`` wide; unused panels are hidden."""
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = list(np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _empty(message: str) -> Figure:
    fig = Figure(figsize=(6, 1.5), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig


def _groups(df: pd.DataFrame, name: str, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Non-null values of ``name`` for customers who stayed and who churned."""
    y = label_as_float(df, label)
    values = pd.to_numeric(df[name], errors="raise").astype(float)
    keep = values.notna() & y.notna()
    return values[keep & (y == 0)].to_numpy(), values[keep & (y == 1)].to_numpy()


def plot_histograms(df: pd.DataFrame, columns: Sequence[str] | None = None, label: str = LABEL,
                    bins: int = 30) -> Figure:
    """Histogram of each numeric column, churned and stayed overlaid on the same bins.

    Bars are each group's share of its own customers, so the two shapes compare directly
    although churners are the minority.
    """
    columns = list(column_roles(df, label).numeric if columns is None else columns)
    if not columns:
        return _empty("no numeric columns")
    fig, axes = _panels(len(columns), 3, 4.2, 3.0)
    for ax, name in zip(axes, columns):
        stayed, churned = _groups(df, name, label)
        both = np.concatenate([stayed, churned])
        edges = np.histogram_bin_edges(both, bins=bins) if both.size else bins
        for values, colour, text in ((stayed, STAYED, "stayed"), (churned, CHURNED, "churned")):
            if values.size:
                ax.hist(values, bins=edges, weights=np.full(values.size, 1 / values.size),
                        alpha=0.55, color=colour, label=f"{text} (n={values.size})")
        ax.set_title(name)
        ax.set_ylabel("share of group")
        ax.legend(fontsize="small")
    fig.suptitle(f"Numeric columns by {label}")
    return fig


def plot_boxplots(df: pd.DataFrame, columns: Sequence[str] | None = None, label: str = LABEL) -> Figure:
    """Box plot of each numeric column for stayed vs churned (whiskers at 1.5 x IQR)."""
    columns = list(column_roles(df, label).numeric if columns is None else columns)
    if not columns:
        return _empty("no numeric columns")
    fig, axes = _panels(len(columns), 3, 3.6, 3.2)
    for ax, name in zip(axes, columns):
        stayed, churned = _groups(df, name, label)
        parts = ax.boxplot([stayed, churned], tick_labels=["stayed", "churned"], whis=1.5,
                           patch_artist=True, widths=0.6, medianprops={"color": "black"})
        for box, colour in zip(parts["boxes"], (STAYED, CHURNED)):
            box.set_facecolor(colour)
            box.set_alpha(0.6)
        ax.set_title(name)
    fig.suptitle(f"Numeric columns by {label} (whiskers: 1.5 x IQR; points beyond are IQR outliers)")
    return fig


def plot_churn_rates(rates: pd.DataFrame, overall: float | None = None, max_bars: int = MAX_BARS) -> Figure:
    """Churn rate per category, one panel per column, from :func:`churn_rate_by_category`.

    Each bar is annotated with its number of customers; a dashed line marks the overall
    churn rate. A panel shows at most ``max_bars`` categories (the largest ones).
    """
    missing = {"column", "category", "customers", "churn_rate"} - set(rates.columns)
    if missing:
        raise ValueError(f"rates lacks columns: {', '.join(sorted(missing))}")
    columns = list(dict.fromkeys(rates["column"]))
    if not columns:
        return _empty("no categorical columns")
    fig, axes = _panels(len(columns), 4, 3.6, 2.6)
    for ax, name in zip(axes, columns):
        part = rates[rates["column"] == name].nlargest(max_bars, "customers")
        part = part.sort_values("churn_rate")
        ypos = np.arange(len(part))
        ax.barh(ypos, part["churn_rate"], color=CHURNED, alpha=0.8)
        ax.set_yticks(ypos, [str(c) for c in part["category"]], fontsize="small")
        for y, (rate, n) in enumerate(zip(part["churn_rate"], part["customers"])):
            ax.text(rate, y, f" {rate:.0%} (n={n})", va="center", fontsize="x-small")
        if overall is not None and not math.isnan(overall):
            ax.axvline(overall, color="grey", linestyle="--", linewidth=1)
        ax.set_xlim(0, min(1.0, max(0.1, float(part["churn_rate"].max()) * 1.45)))
        ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:.0%}")
        ax.set_title(name, fontsize="medium")
    title = "Churn rate per category"
    if overall is not None and not math.isnan(overall):
        title += f" (dashed line: overall {overall:.1%})"
    fig.suptitle(title)
    return fig


def plot_correlations(corr: pd.DataFrame, method: str = "pearson") -> Figure:
    """Heatmap of a correlation matrix (from :func:`correlations`), each cell annotated.

    ``method`` only names the coefficient in the title.
    """
    if corr.empty:
        return _empty("no numeric columns")
    n = len(corr.columns)
    size = max(4.0, 1.1 * n + 2)
    fig = Figure(figsize=(size, size * 0.85), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(corr.to_numpy(dtype=float), cmap="coolwarm", vmin=-1, vmax=1)
    ax.set_xticks(range(n), [str(c) for c in corr.columns], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(c) for c in corr.index])
    for i in range(n):
        for j in range(n):
            value = corr.iat[i, j]
            text = "" if pd.isna(value) else f"{value:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize="small",
                    color="white" if not pd.isna(value) and abs(value) > 0.6 else "black")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title(f"{method.capitalize()} correlation of numeric columns and the label")
    return fig
