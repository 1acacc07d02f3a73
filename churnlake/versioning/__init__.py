"""Dataset versioning on Delta time travel: retention policy, named tags, change logs.

* :mod:`churnlake.versioning.changes` — what changed between two versions of a table
  (rows added/removed as multisets, schema diff), and a table's version list.
* :mod:`churnlake.versioning.tags` — the tag registry (``meta.data_tags``): a tag names a
  Delta version of one or more tables and archives a copy of each, so it survives VACUUM.
* :mod:`churnlake.versioning.retention` — the retention policy (log and deleted-file
  retention as table properties) and VACUUM with it.

Command line: ``./spark-submit.sh jobs/versioning/versions.py --help`` (docs/versioning.md).
"""
