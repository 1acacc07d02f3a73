"""Looking at the pipeline from outside: browser captures of its UIs and reports.

- :mod:`churnlake.monitoring.browser` -- headless Chromium: a page's DOM after its
  JavaScript ran, and PNG screenshots.
- :mod:`churnlake.monitoring.screenshots` -- the ``make screenshots`` command (Luigi
  visualiser, task history, MLflow UI, data-quality report, run dashboard).
"""
