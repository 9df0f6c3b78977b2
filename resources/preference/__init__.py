"""Preference pairs for DPO: from corrections and rating sheets, cleaned, deduplicated, split and decontaminated
like the SFT data (training lives in resources/training)."""
