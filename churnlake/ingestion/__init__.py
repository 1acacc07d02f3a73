"""Ingestion from the source systems into the bronze layer."""
