"""Exploratory data analysis of the customer table: statistics, plots and an HTML report.

- :mod:`churnlake.eda.stats`: pure pandas functions (summaries, churn rate per category,
  outliers, correlations) that pick columns by dtype;
- :mod:`churnlake.eda.plots`: matplotlib figures (histograms, box plots, churn-rate bars,
  correlation heatmap);
- :mod:`churnlake.eda.report`: ``write_report`` (PNGs, CSVs and one ``index.html``);
- :mod:`churnlake.eda.load`: read a Delta table into pandas at a recorded version.

Used by ``jobs/eda/customers.py`` and ``notebooks/eda.ipynb``; see ``docs/eda.md``.
"""

from churnlake.eda.plots import plot_boxplots, plot_churn_rates, plot_correlations, plot_histograms
from churnlake.eda.report import INDEX, PLOT_FILES, TABLE_FILES, render_figures, report_dir, write_report
from churnlake.eda.stats import (LABEL, ColumnRoles, churn_rate, churn_rate_by_category, column_roles,
                                 compute_tables, correlations, label_as_float, outlier_summary,
                                 summary_categorical, summary_numeric)

__all__ = [
    "INDEX", "LABEL", "PLOT_FILES", "TABLE_FILES", "ColumnRoles", "churn_rate", "churn_rate_by_category",
    "column_roles", "compute_tables", "correlations", "label_as_float", "outlier_summary",
    "plot_boxplots", "plot_churn_rates", "plot_correlations", "plot_histograms", "render_figures",
    "report_dir", "summary_categorical", "summary_numeric", "write_report",
]
