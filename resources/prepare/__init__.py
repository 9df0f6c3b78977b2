"""Data preparation engines between the source readers and the training data (dedup lives in resources/dedup)."""
