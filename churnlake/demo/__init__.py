"""Demo source systems for churnlake (pure Python, no Spark).

The package derives three realistic, deterministic source systems from the IBM
Telco churn CSV so that the lakehouse ingestion jobs have something real to
read:

* a transactional **billing database** (``invoices``, ``payments``) reached
  through SQLAlchemy (SQLite by default, PostgreSQL via ``--db-url``),
  see :mod:`churnlake.demo.billing`;
* a **support-ticket history** served by a small HTTP API with injectable
  faults, see :mod:`churnlake.demo.tickets` and
  :mod:`churnlake.demo.ticket_api`;
* **hourly web access logs** in Apache combined log format with the customer
  id in the ``authuser`` field, see :mod:`churnlake.demo.access_logs`.

:mod:`churnlake.demo.generate` is the command line entry point that writes
all of them. ``docs/demo_sources.md`` documents schemas, formats and the
behavioural differences between churners and non-churners.
"""

from __future__ import annotations

__all__ = ["GENERATOR_VERSION"]

#: Bumped whenever the generated data changes for identical inputs.
GENERATOR_VERSION = "1"
