"""Engines: plain Python that the Dagster assets call. Importable and testable without a Dagster run."""
