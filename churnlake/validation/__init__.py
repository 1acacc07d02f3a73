"""Data validation between bronze and silver (docs/validation.md)."""
