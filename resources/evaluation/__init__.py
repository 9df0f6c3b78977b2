"""Evaluation engine: per-checkpoint reports, prompting baselines, the forgetting check, human ratings."""
