"""The access-log parser, one match per line against the one it replaced, side by side.

    .venv/bin/python benchmarks/access_log_parser.py [LOG_FOLDER] [--repeat 3] [--every 1]

Reads every ``*.log`` of LOG_FOLDER (default: the demo's data/demo/access_logs; make demo
generates it) with ``spark.read.text`` in a local session (local[2]), parses it with each
parser and forces every output column (a sum of hashes over all of them, so no column is
pruned), alternating the parsers ``--repeat`` times: the old one (an ``rlike`` and eleven
``regexp_extract``), the one-match parser with the pattern's older form of a quoted field (the
alternation ``(?:[^"\\]|\\.)*``) and with today's (the unrolled ``[^"\\]*(?:\\.[^"\\]*)*``).
Prints lines, seconds and lines/s per run; every parser must reject the same number of lines.
``--every N`` reads every N-th file only (the M and L logs are large). The old parser is the
oracle of tests/unit/test_access_log_parser.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from pyspark.sql import functions as F

    from churnlake.config import load_config
    from churnlake.spark import local_spark
    from churnlake.transforms.access_logs import parse_access_log
    from tests.unit.test_access_log_parser import REFERENCE_PATTERN, reference_parse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default=None)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--every", type=int, default=1, help="read every N-th file only")
    args = p.parse_args()
    cfg = load_config()
    folder = Path(args.folder) if args.folder else cfg.demo_dir / "access_logs"
    files = sorted(str(f) for f in folder.glob("*.log"))[::args.every]
    if not files:
        print(f"no *.log files in {folder} (run make demo first)", file=sys.stderr)
        return 2
    spark = local_spark("bench-access-log-parser", cfg, extra={"spark.master": "local[2]"})
    lines = spark.read.text(files).cache()
    n = lines.count()
    print(f"{n:,} lines in {len(files)} files from {folder}")
    for i in range(args.repeat):
        parsers = (("old (rlike + 11 regexp_extract)", reference_parse),
                   ("one match, alternation", lambda df: parse_access_log(df, pattern=REFERENCE_PATTERN)),
                   ("one match, unrolled (today)", parse_access_log))
        for name, parse in parsers:
            parsed = parse(lines)
            started = time.perf_counter()
            row = parsed.select(F.sum(F.hash(*parsed.columns)).alias("h"),
                                F.sum(F.col("_reject_reason").isNotNull().cast("int")).alias("rejected")).first()
            seconds = time.perf_counter() - started
            print(f"run {i + 1} {name:34s} {seconds:6.2f} s  {n / seconds:10,.0f} lines/s  rejected {row['rejected']}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
