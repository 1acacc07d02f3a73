"""Every job and library module must run as a Spark Connect client of the engine.

Spark Connect sessions have no JVM gateway: ``spark.sparkContext``, ``_jvm``, ``_jsc``, ``_jdf``,
``_jsparkSession``, RDDs, the ``DeltaTable`` Python API (``delta.tables``; its Connect server
is not available here) and MLflow's Spark flavor (``mlflow.spark``, which reaches for the JVM's
Hadoop file system) all fail there. This static check reads the code's tokens (strings and
comments aside) so that a new use fails the suite at once, not in a run against the engine.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest

from churnlake.config import PROJECT_ROOT

#: Names whose use means "needs the JVM gateway / a classic session".
FORBIDDEN_NAMES = {
    "_jvm": "the JVM gateway",
    "_jsc": "the JavaSparkContext",
    "_jdf": "the JVM DataFrame",
    "_jsparkSession": "the JVM SparkSession",
    "sparkContext": "the SparkContext (use spark.conf / SQL settings)",
    "SparkContext": "the SparkContext",
    "DeltaTable": "the DeltaTable Python API (use Delta SQL: DESCRIBE HISTORY, DELETE, MERGE INTO ...)",
    "rdd": "RDDs (use DataFrame operations)",
    # Python UDFs run in the engine's Python workers, which do not get the project's code
    # (per-session code artifacts are unreliable on a long-running engine: docs/architecture.md).
    "udf": "a Python UDF (express it with built-in functions)",
    "pandas_udf": "a pandas UDF (express it with built-in functions)",
    "mapInPandas": "a pandas UDF", "applyInPandas": "a pandas UDF", "mapInArrow": "an Arrow UDF",
}
#: The one reviewed exception per (module, name): why it is safe on the engine.
ALLOWED = {
    ("churnlake/ml/scoring.py", "mapInPandas"):
        "scores with a self-contained closure over the fitted scikit-learn model (numpy, pandas and "
        "scikit-learn on the workers, no churnlake import; tests/unit/test_training_scale.py proves it)",
}
#: Dotted module paths whose import or use is JVM-only.
FORBIDDEN_DOTTED = {
    ("delta", "tables"): "delta.tables (the DeltaTable API)",
    ("mlflow", "spark"): "MLflow's Spark flavor (save MLlib models with the MLlib writer)",
}
#: Code that legitimately runs in its own classic JVM session or never touches Spark.
CHECKED_DIRS = ("jobs", "churnlake", "luigi_tasks")


def jvm_only_uses(source: str) -> list[tuple[int, str]]:
    """(line, what) for every JVM-only API the code's tokens name (strings/comments ignored)."""
    found: list[tuple[int, str]] = []
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
              if t.type in (tokenize.NAME, tokenize.OP)]
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.NAME:
            continue
        if tok.string in FORBIDDEN_NAMES:
            # ``rdd`` only as an attribute (``df.rdd``), not as a local variable name.
            if tok.string == "rdd" and not (i and tokens[i - 1].string == "."):
                continue
            found.append((tok.start[0], f"{tok.string}: {FORBIDDEN_NAMES[tok.string]}"))
        if i + 2 < len(tokens) and tokens[i + 1].string == ".":
            pair = (tok.string, tokens[i + 2].string)
            if pair in FORBIDDEN_DOTTED:
                found.append((tok.start[0], FORBIDDEN_DOTTED[pair]))
    return found


def uncached_caches(source: str) -> list[int]:
    """Lines that call ``.cache()`` / ``.persist(...)`` directly: the engine's cache outlives
    the job's session, so caching must go through churnlake.spark.cached (released by stop)."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
              if t.type in (tokenize.NAME, tokenize.OP)]
    return [tokens[i].start[0] for i in range(1, len(tokens) - 1)
            if tokens[i].string in ("cache", "persist") and tokens[i - 1].string == "."
            and tokens[i + 1].string == "("]


def _modules() -> list[Path]:
    return sorted(p for d in CHECKED_DIRS for p in (PROJECT_ROOT / d).rglob("*.py"))


def test_the_checker_finds_what_it_must():
    sample = ("from delta.tables import DeltaTable\n"
              "n = spark.sparkContext.defaultParallelism\n"
              "print(df._jdf.showString(5, 40, False))\n"
              "rows = df.rdd.map(len)\n"
              "mlflow.spark.log_model(m, artifact_path='model')\n"
              "# DeltaTable in a comment is fine\n"
              "doc = 'and sparkContext in a string too'\n"
              "rdd = 3\n")
    lines = [line for line, _ in jvm_only_uses(sample)]
    assert lines == [1, 1, 2, 3, 4, 5]
    assert uncached_caches("a = df.cache()\nb = cached(df)\nc = df.persist(level)\ncache = 1\n") == [1, 3]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_no_jvm_only_api(path: Path):
    rel = str(path.relative_to(PROJECT_ROOT))
    uses = [(n, what) for n, what in jvm_only_uses(path.read_text(encoding="utf-8"))
            if (rel, what.split(":", 1)[0]) not in ALLOWED]
    assert not uses, (f"{path.relative_to(PROJECT_ROOT)} uses JVM-only APIs that fail on the engine "
                      "(Spark Connect): " + "; ".join(f"line {n}: {what}" for n, what in uses))


@pytest.mark.parametrize("path", [p for p in _modules() if p != PROJECT_ROOT / "churnlake" / "spark.py"],
                         ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_caching_goes_through_the_session_factory(path: Path):
    lines = uncached_caches(path.read_text(encoding="utf-8"))
    assert not lines, (f"{path.relative_to(PROJECT_ROOT)} caches directly on line(s) {lines}: use "
                       "churnlake.spark.cached(df) so that churnlake.spark.stop releases it on the engine")


def test_every_allowed_exception_is_still_used():
    """An exception that no longer matches its module is stale and must go (or be re-reviewed)."""
    for (rel, name) in ALLOWED:
        uses = jvm_only_uses((PROJECT_ROOT / rel).read_text(encoding="utf-8"))
        assert any(what.split(":", 1)[0] == name for _, what in uses), f"{rel} no longer uses {name}"
