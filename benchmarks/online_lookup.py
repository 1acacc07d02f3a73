"""Online-store lookup latency (run by hand; results go in docs/benchmarks.md, never in tests).

    .venv/bin/python benchmarks/online_lookup.py [CUSTOMERS] [LOOKUPS] [URL]

Materialises CUSTOMERS rows of the customer_churn group (synthetic values, the real schema)
into a temporary SQLite store (or URL), then times LOOKUPS single-customer lookups through
OnlineStore.get with random ids, and 1,000 lookups of 100 customers with get_many.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from churnlake.features.online import OnlineStore, materialize
from churnlake.features.registry import load_registry


def main() -> None:
    customers = int(sys.argv[1]) if len(sys.argv) > 1 else 7043
    lookups = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    tmp = Path(tempfile.mkdtemp())
    url = sys.argv[3] if len(sys.argv) > 3 else f"sqlite:///{tmp / 'online.db'}"
    group = load_registry()["customer_churn"]
    rng = random.Random(42)
    values = {"string": lambda: rng.choice(["Yes", "No", "DSL"]), "int": lambda: rng.randint(0, 72),
              "bigint": lambda: rng.randint(0, 20), "double": lambda: rng.random() * 100}
    ids = [f"{i:04d}-BENCH" for i in range(customers)]
    rows = ({"customer_id": cid, "as_of_date": dt.date(2026, 11, 27),
             **{f.name: values[f.dtype]() for f in group.features}} for cid in ids)
    t0 = time.perf_counter()
    materialize(sa.create_engine(url), group, rows, as_of_date=dt.date(2026, 11, 27), delta_version=0)
    print(f"materialise {customers} rows: {time.perf_counter() - t0:.2f} s")
    store = OnlineStore(url)
    for cid in rng.sample(ids, min(200, customers)):  # warm-up
        store.get(cid)
    single = []
    for _ in range(lookups):
        cid = rng.choice(ids)
        t = time.perf_counter()
        store.get(cid)
        single.append((time.perf_counter() - t) * 1000)
    many = []
    for _ in range(1000):
        batch = rng.sample(ids, min(100, customers))
        t = time.perf_counter()
        store.get_many(batch)
        many.append((time.perf_counter() - t) * 1000)
    store.close()
    q = statistics.quantiles(single, n=100)
    qm = statistics.quantiles(many, n=100)
    print(f"single lookup ({lookups}): p50 {q[49]:.3f} ms, p99 {q[98]:.3f} ms, max {max(single):.3f} ms")
    print(f"100 customers per call (1000): p50 {qm[49]:.3f} ms, p99 {qm[98]:.3f} ms")


if __name__ == "__main__":
    main()
