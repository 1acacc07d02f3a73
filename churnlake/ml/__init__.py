"""Model training and tracking helpers (scikit-learn, MLflow)."""
