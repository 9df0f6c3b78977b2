"""Synthetic training data from a stronger teacher model (optional; off unless a teacher is configured)."""
