"""EDA statistics: small pure functions on a pandas DataFrame of customers.

Columns are picked by dtype, so columns added to ``silver.customers`` later are analysed
without code changes:

- ignored: names starting with ``_`` (lineage), the id columns (``customer_id``) and
  anything that is neither numeric, boolean nor text (timestamps, dates);
- numeric: integer and float columns (booleans excluded);
- categorical: boolean, text (``object``/``string``) and ``category`` columns;
- the label: ``churn`` (booleans, or 0/1), never a feature; rows whose label is missing
  are left out of the churn rates and correlations.

Every function returns a new DataFrame with one row per column (or per category), the
layout that is written to the report's CSV files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

log = logging.getLogger(__name__)

LABEL = "churn"
ID_COLUMNS: tuple[str, ...] = ("customer_id",)
MISSING = "(missing)"  # how a null category is shown in the churn-rate table
MAX_CATEGORIES = 30  # a text column with more distinct values is not a category (e.g. free text)


@dataclass(frozen=True)
class ColumnRoles:
    """Which columns of a frame are numeric features, categorical features and the label."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    label: str | None  # None when the frame has no label column
    ignored: tuple[str, ...]


def column_roles(df: pd.DataFrame, label: str = LABEL,
                 ignore: Iterable[str] = ID_COLUMNS) -> ColumnRoles:
    """Split the columns of ``df`` into numeric and categorical features by dtype."""
    skip = set(ignore) | {label}
    numeric, categorical, ignored = [], [], []
    for name in df.columns:
        dtype = df[name].dtype
        if str(name).startswith("_") or name in skip:
            if name != label:
                ignored.append(name)
        elif ptypes.is_bool_dtype(dtype):
            categorical.append(name)
        elif ptypes.is_numeric_dtype(dtype):
            numeric.append(name)
        elif (ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype)
              or isinstance(dtype, pd.CategoricalDtype)):
            categorical.append(name)
        else:
            ignored.append(name)
    return ColumnRoles(tuple(numeric), tuple(categorical), label if label in df.columns else None,
                       tuple(ignored))


def label_as_float(df: pd.DataFrame, label: str = LABEL) -> pd.Series:
    """The label as 1.0 (churned), 0.0 (stayed) or NaN (unknown).

    Accepts booleans or the numbers 0 and 1 (nullable); raises ``ValueError`` otherwise.
    """
    if label not in df.columns:
        raise ValueError(f"label column {label!r} is not in the frame "
                         f"(columns: {', '.join(map(str, df.columns))})")
    values = df[label]
    bad = sorted({repr(v) for v in values.dropna() if not _is_zero_or_one(v)})
    if bad:
        raise ValueError(f"label column {label!r} must hold booleans or 0/1, found {', '.join(bad[:5])}")
    return values.astype(object).map(lambda v: np.nan if pd.isna(v) else float(v)).astype(float)


def _is_zero_or_one(value: object) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return True
    return isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1)


def summary_numeric(df: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Count, nulls, mean, std (sample), min, quartiles (linear interpolation) and max per column."""
    columns = list(column_roles(df).numeric if columns is None else columns)
    rows = []
    for name in columns:
        values = pd.to_numeric(df[name], errors="raise").astype(float)
        present = values.dropna()
        rows.append({
            "column": name,
            "count": int(present.size),
            "nulls": int(values.isna().sum()),
            "null_share": float(values.isna().mean()) if len(values) else 0.0,
            "mean": present.mean(),
            "std": present.std(),
            "min": present.min(),
            "q1": present.quantile(0.25),
            "median": present.quantile(0.5),
            "q3": present.quantile(0.75),
            "max": present.max(),
        })
    return pd.DataFrame(rows, columns=["column", "count", "nulls", "null_share", "mean", "std",
                                       "min", "q1", "median", "q3", "max"])


def summary_categorical(df: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Count, nulls, distinct values and the most frequent value (with its share) per column.

    By default the categorical features and the label. Ties for the top value are broken
    by the value's text, so the result does not depend on row order.
    """
    if columns is None:
        roles = column_roles(df)
        columns = [*roles.categorical, *([roles.label] if roles.label else [])]
    rows = []
    for name in columns:
        values = df[name]
        present = values.dropna()
        counts = present.astype(str).value_counts()
        top, top_count = None, 0
        if not counts.empty:
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            top, top_count = ranked[0]
        rows.append({
            "column": name,
            "count": int(present.size),
            "nulls": int(values.isna().sum()),
            "null_share": float(values.isna().mean()) if len(values) else 0.0,
            "distinct": int(counts.size),
            "top": top,
            "top_count": int(top_count),
            "top_share": top_count / present.size if present.size else np.nan,
        })
    return pd.DataFrame(rows, columns=["column", "count", "nulls", "null_share", "distinct",
                                       "top", "top_count", "top_share"])


def churn_rate(df: pd.DataFrame, label: str = LABEL) -> float:
    """Share of churned customers among those whose label is known (NaN when none is)."""
    return float(label_as_float(df, label).mean())


def churn_rate_by_category(df: pd.DataFrame, columns: Sequence[str] | None = None,
                           label: str = LABEL, max_categories: int = MAX_CATEGORIES) -> pd.DataFrame:
    """Customers, churned customers and churn rate for every value of every categorical column.

    A null value is its own category, ``(missing)``. ``share`` is the category's share of
    the customers with a known label. Within a column, categories are ordered by churn
    rate, highest first. A column with more than ``max_categories`` distinct values is left
    out (and logged): it is an identifier or free text, not a category.
    """
    columns = list(column_roles(df, label).categorical if columns is None else columns)
    y = label_as_float(df, label)
    known = y.notna()
    frames = []
    for name in columns:
        values = df.loc[known, name]
        if values.nunique(dropna=True) > max_categories:
            log.warning("column %s has %d distinct values (> %d): no churn rate per category",
                        name, values.nunique(dropna=True), max_categories)
            continue
        category = values.map(lambda v: MISSING if pd.isna(v) else str(v))
        grouped = y[known].groupby(category).agg(["size", "sum"])
        out = pd.DataFrame({
            "column": name,
            "category": grouped.index.astype(str),
            "customers": grouped["size"].astype(int).to_numpy(),
            "churned": grouped["sum"].astype(int).to_numpy(),
        })
        out["churn_rate"] = out["churned"] / out["customers"]
        out["share"] = out["customers"] / int(known.sum())
        frames.append(out.sort_values(["churn_rate", "category"], ascending=[False, True]))
    if not frames:
        return pd.DataFrame(columns=["column", "category", "customers", "churned", "churn_rate", "share"])
    return pd.concat(frames, ignore_index=True)


def outlier_summary(df: pd.DataFrame, columns: Sequence[str] | None = None,
                    k: float = 1.5, z: float = 3.0) -> pd.DataFrame:
    """Outliers per numeric column by the IQR rule and by the z-score rule.

    IQR rule: a value below ``q1 - k*IQR`` or above ``q3 + k*IQR`` (Tukey's fences, quartiles
    by linear interpolation). z-score rule: ``|x - mean| / std > z`` with the sample
    standard deviation; a constant column has no z-score outliers. Shares are of the
    non-null values.
    """
    if k <= 0 or z <= 0:
        raise ValueError(f"k and z must be positive, got k={k}, z={z}")
    columns = list(column_roles(df).numeric if columns is None else columns)
    rows = []
    for name in columns:
        values = pd.to_numeric(df[name], errors="raise").astype(float).dropna()
        q1, q3 = (values.quantile(0.25), values.quantile(0.75)) if values.size else (np.nan, np.nan)
        iqr = q3 - q1
        lower, upper = q1 - k * iqr, q3 + k * iqr
        below, above = int((values < lower).sum()), int((values > upper).sum())
        std = values.std()
        if values.size > 1 and std > 0:
            z_out = int(((values - values.mean()).abs() / std > z).sum())
        else:
            z_out = 0
        n = int(values.size)
        rows.append({
            "column": name, "count": n, "q1": q1, "q3": q3, "iqr": iqr,
            "lower_fence": lower, "upper_fence": upper, "below": below, "above": above,
            "iqr_outliers": below + above, "iqr_outlier_share": (below + above) / n if n else 0.0,
            "zscore_outliers": z_out, "zscore_outlier_share": z_out / n if n else 0.0,
        })
    return pd.DataFrame(rows, columns=["column", "count", "q1", "q3", "iqr", "lower_fence", "upper_fence",
                                       "below", "above", "iqr_outliers", "iqr_outlier_share",
                                       "zscore_outliers", "zscore_outlier_share"])


def correlations(df: pd.DataFrame, columns: Sequence[str] | None = None, label: str = LABEL,
                 method: str = "pearson") -> pd.DataFrame:
    """Correlation matrix of the numeric columns and the label (as 0/1), pairwise complete.

    ``method`` is passed to :meth:`pandas.DataFrame.corr` (pearson, spearman, kendall).
    """
    columns = list(column_roles(df, label).numeric if columns is None else columns)
    frame = pd.DataFrame({name: pd.to_numeric(df[name], errors="raise").astype(float) for name in columns})
    frame[label] = label_as_float(df, label)
    return frame.corr(method=method)


def compute_tables(df: pd.DataFrame, label: str = LABEL) -> dict[str, pd.DataFrame]:
    """Every EDA table, keyed by the name of its CSV file in the report."""
    label_as_float(df, label)  # fail early, naming the problem, when the label is unusable
    roles = column_roles(df, label)
    return {
        "summary_numeric.csv": summary_numeric(df, roles.numeric),
        "summary_categorical.csv": summary_categorical(df, [*roles.categorical, label]),
        "churn_rate_by_category.csv": churn_rate_by_category(df, roles.categorical, label),
        "outliers.csv": outlier_summary(df, roles.numeric),
        "correlations.csv": correlations(df, roles.numeric, label),
    }
