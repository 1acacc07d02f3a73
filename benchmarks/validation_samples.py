"""GE with sample values for every check against the two-pass evaluation (by hand).

    .venv/bin/python benchmarks/validation_samples.py web_access_logs [--run-date 2026-11-27] [--repeat 2]

On a lakehouse with bronze data (``make demo`` first; ``CHURNLAKE__LAKEHOUSE__ROOT`` picks
another), in one in-process classic session: the table's prepared batch (derived and reference
columns, cached), then alternately (a) Great Expectations asked for 5 sample values of every
check in one pass, and (b) ``churnlake.validation.runner.run_checks`` (counts first, samples
only for checks with unexpected rows). Prints each run's seconds and checks that both give the
same counts. Results go to docs/validation.md / docs/benchmarks.md, never into tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from churnlake.config import load_config  # noqa: E402 - after the project root is importable
from churnlake.delta import read_table  # noqa: E402
from churnlake.spark import local_spark  # noqa: E402
from churnlake.tables import get_table  # noqa: E402
from churnlake.validation import runner, suites  # noqa: E402
from churnlake.validation.validate import reference_keys  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", help="bronze table without layer, e.g. web_access_logs")
    parser.add_argument("--run-date", type=dt.date.fromisoformat, default=dt.date(2026, 11, 27))
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    cfg = load_config()
    spark = local_spark("validation-samples-bench", cfg)
    table = get_table(f"bronze.{args.table}")
    suite = suites.load_suite(suites.suite_path(cfg.root_dir / "conf", table.name))
    df = runner.prepare(read_table(spark, table, cfg), suite, reference_keys(spark, suite, cfg, args.run_date)).cache()
    rows = df.count()
    import great_expectations  # noqa: F401 - imported before any timing
    checks = list(suite.checks)
    print(f"{table.name}: {rows:,} rows, {len(checks)} checks")
    for i in range(args.repeat):
        start = time.monotonic()
        one_pass = {r.expectation_config.meta["check_id"]: (r.result or {}).get("unexpected_count")
                    for r in runner._ge_results(df, checks, f"one_{i}", samples=runner.MAX_SAMPLES)}
        a = time.monotonic() - start
        start = time.monotonic()
        two_pass = {r.check.id: r.unexpected_count for r in runner.run_checks(df, checks, name=f"two_{i}")}
        b = time.monotonic() - start
        print(f"run {i + 1}: samples of every check in one pass {a:.2f} s; two passes {b:.2f} s")
        if one_pass != two_pass:
            print(f"counts differ: {one_pass} != {two_pass}")
            return 1
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
