"""churnlake: a PySpark + Delta Lake lakehouse for customer-churn machine learning."""

__version__ = "0.1.0"
