"""Dagster Definitions, jobs, schedules, sensors and environment wiring."""
