"""Seeded, stratified row selection in Spark: the train/test split and the scikit-learn sample.

Every row gets a uniform number from a 64-bit hash of its customer id, the seed and a salt
(:func:`hash_uniform`), so which side a customer falls on depends only on those three — not on
the partitioning, the row order or the engine. Within each class the rows below a per-class
threshold are selected; the thresholds come from one small aggregation (row counts per class
and per ``BUCKETS``-th of the unit interval, at most ``2 x BUCKETS`` rows to the driver), so
each class contributes its share up to one bucket's rows (about 1/4096 of the class): the split
and the sample stay stratified without sorting or collecting the rows (docs/modeling.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

KEY = "customer_id"
LABEL = "churned"
BUCKETS = 4096
SPLIT_SALT = "churnlake-train-test"
SAMPLE_SALT = "churnlake-sklearn-sample"
_MANTISSA = (1 << 53) - 1


def hash_uniform(key: Column, seed: int, salt: str) -> Column:
    """A number in [0, 1) from the 64-bit hash of (``salt``, ``seed``, ``key``): uniform over
    keys, the same for a key wherever and whenever it is computed."""
    bits = F.xxhash64(F.lit(salt), F.lit(int(seed)), key).bitwiseAND(F.lit(_MANTISSA))
    return bits.cast("double") / F.lit(float(_MANTISSA + 1))


def hash_bucket(key: Column, seed: int, salt: str, buckets: int = BUCKETS) -> Column:
    """The bucket (0 .. ``buckets`` - 1) of :func:`hash_uniform`: rows with ``bucket < k`` are
    exactly the rows with ``uniform < k / buckets``."""
    return F.floor(hash_uniform(key, seed, salt) * F.lit(buckets)).cast("int")


@dataclass(frozen=True)
class ClassCut:
    """Per class: rows in buckets below ``bucket`` are selected; ``selected`` of ``rows`` are."""

    bucket: int
    selected: int
    rows: int


def class_cuts(counts: dict[int, dict[int, int]], share: float, buckets: int = BUCKETS, *,
               at_most: bool = False) -> dict[int, ClassCut]:
    """For each class (``counts``: class -> bucket -> rows), the bucket boundary whose rows below
    come closest to ``share`` of the class (ties: the lower boundary); with ``at_most``, the
    highest boundary that does not select more than ``floor(share x rows)``."""
    if not 0 <= share <= 1:
        raise ValueError(f"share must be in [0, 1], got {share}")
    cuts = {}
    for label, per_bucket in counts.items():
        rows = sum(per_bucket.values())
        target = share * rows
        limit = math.floor(target + 1e-9)
        best, below = ClassCut(0, 0, rows), 0
        for b in range(buckets):
            below += per_bucket.get(b, 0)
            if at_most:
                if below > limit:
                    break
                best = ClassCut(b + 1, below, rows)
            elif abs(below - target) < abs(best.selected - target):
                best = ClassCut(b + 1, below, rows)
        cuts[label] = best
    return cuts


def bucket_counts(df: DataFrame, bucket: Column, label: str = LABEL) -> dict[int, dict[int, int]]:
    """Rows per (class, bucket): one aggregation, at most classes x buckets rows collected."""
    counts: dict[int, dict[int, int]] = {}
    for row in df.groupBy(F.col(label).alias("c"), bucket.alias("b")).count().collect():
        if row["c"] is None:
            raise ValueError(f"{label} is null for {row['count']} rows: cannot stratify")
        counts.setdefault(int(row["c"]), {})[int(row["b"])] = int(row["count"])
    return counts


def selected(cuts: dict[int, ClassCut], bucket: Column, label: str = LABEL) -> Column:
    """True for the rows below their class's cut (classes not in ``cuts``: False)."""
    cond = F.lit(False)
    for c, cut in sorted(cuts.items()):
        cond = F.when(F.col(label) == F.lit(c), bucket < F.lit(cut.bucket)).otherwise(cond)
    return cond


@dataclass(frozen=True)
class Split:
    """The train and test rows (Spark DataFrames) and how many of each class went where."""

    train: DataFrame
    test: DataFrame
    cuts: dict[int, ClassCut]

    @property
    def test_rows(self) -> int:
        return sum(c.selected for c in self.cuts.values())

    @property
    def train_rows(self) -> int:
        return sum(c.rows - c.selected for c in self.cuts.values())

    def class_rows(self, side: str) -> dict[int, int]:
        """Rows per class on ``side`` ('train' or 'test')."""
        return {c: (cut.selected if side == "test" else cut.rows - cut.selected) for c, cut in self.cuts.items()}


def stratified_split(df: DataFrame, test_size: float, seed: int, *, key: str = KEY, label: str = LABEL,
                     buckets: int = BUCKETS) -> Split:
    """Train/test rows: within each class, the rows whose seeded hash of ``key`` is lowest make
    up ``test_size`` of the class (to one bucket). Deterministic for a seed, independent of the
    partitioning; a customer is on exactly one side."""
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    bucket = hash_bucket(F.col(key), seed, SPLIT_SALT, buckets)
    cuts = class_cuts(bucket_counts(df, bucket, label), test_size, buckets)
    if len(cuts) < 2:
        raise ValueError("the training set holds a single class; cannot train a classifier")
    is_test = selected(cuts, bucket, label)
    return Split(df.where(~is_test), df.where(is_test), cuts)


@dataclass(frozen=True)
class Sample:
    """The rows a capped learner fits on: ``rows`` of ``of_rows`` (all when under the cap)."""

    frame: DataFrame
    rows: int
    of_rows: int
    max_rows: int | None

    @property
    def is_all(self) -> bool:
        return self.rows == self.of_rows


def stratified_sample(df: DataFrame, max_rows: int | None, seed: int, *, key: str = KEY, label: str = LABEL,
                      buckets: int = BUCKETS) -> Sample:
    """At most ``max_rows`` rows with the class shares of ``df`` (seeded hash of ``key``, a salt
    of its own so it is independent of the split); all of ``df`` when it is not larger than
    the cap or the cap is None."""
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"max_rows must be >= 1 or None, got {max_rows}")
    bucket = hash_bucket(F.col(key), seed, SAMPLE_SALT, buckets)
    counts = bucket_counts(df, bucket, label)
    total = sum(sum(b.values()) for b in counts.values())
    if max_rows is None or total <= max_rows:
        return Sample(df, total, total, max_rows)
    cuts = class_cuts(counts, max_rows / total, buckets, at_most=True)
    return Sample(df.where(selected(cuts, bucket, label)), sum(c.selected for c in cuts.values()), total, max_rows)
