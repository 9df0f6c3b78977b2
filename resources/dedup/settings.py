"""Settings of the dedup engine (engine.py), plain Python: the CLI builds them from its flags, the pipeline from
the ``dedup`` section of privft.yaml (the Deduplicator resource's fields are these)."""

from __future__ import annotations

from dataclasses import dataclass, field

from resources.dedup.shingles import CHAR_FALLBACK_WORDS


@dataclass
class DedupSettings:
    """How exact and near duplicates are found; ``check`` names every value the engine cannot work with."""

    threshold: float = 0.8
    num_perm: int = 128
    shingle_size: int = 3
    seed: int = 1
    source_priority: list[str] = field(default_factory=lambda: [
        "corrected_outputs", "expert_annotations", "reviewed_interactions", "teacher_synthetic"])
    # Texts with fewer words are shingled by characters (see shingles.py for why).
    char_fallback_words: int = CHAR_FALLBACK_WORDS
    # LSH band layout favours recall; verification restores precision (see bands.py).
    false_negative_weight: float = 0.95
    # Threads hashing a large batch; 0 = one per core.
    workers: int = 0

    def check(self) -> list[str]:
        """Every setting the engine cannot work with, as sentences naming the setting; [] when none."""
        problems = []
        if not 0.0 < self.threshold <= 1.0:
            problems.append(f"threshold is {self.threshold}: it must be in (0, 1]")
        if self.num_perm < 2:
            problems.append(f"num_perm is {self.num_perm}: it must be at least 2")
        if self.shingle_size < 1:
            problems.append(f"shingle_size is {self.shingle_size}: it must be at least 1")
        if not 0.0 < self.false_negative_weight < 1.0:
            problems.append(f"false_negative_weight is {self.false_negative_weight}: it must lie strictly "
                            "between 0 and 1")
        for name in ("char_fallback_words", "workers"):
            if getattr(self, name) < 0:
                problems.append(f"{name} is {getattr(self, name)}: it must not be negative")
        return problems
