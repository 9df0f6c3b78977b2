"""Glue between the preparation engines: applying dedup decisions, building the train/held-out sets."""
