"""Where each stage's artifacts live under the artifact root.

Assets declare lineage through Dagster and find each other's outputs through these paths, so nothing large
is ever pickled between steps. One function per artifact; change a location here and every stage follows.
"""

from __future__ import annotations

from pathlib import Path


class Layout:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    # --- sources -------------------------------------------------------------------------------------------
    def source_drop(self, source: str, drop: str) -> Path:
        """examples.parquet (canonical rows kept by the source rules) and ledger.parquet (every input row);
        corrected_outputs drops also model_outputs.parquet (the answers the corrections replaced)."""
        return self.root / "sources" / source / drop

    def source_drops(self, source: str) -> list[Path]:
        base = self.root / "sources" / source
        return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")) if base.is_dir() else []

    def tombstones(self) -> Path:
        return self.root / "erasure" / "tombstones.parquet"

    # --- prepare -------------------------------------------------------------------------------------------
    def normalised(self) -> Path:
        return self.root / "prepared" / "normalised"

    def deduplicated(self) -> Path:
        return self.root / "prepared" / "deduplicated"

    def minhash_index(self) -> Path:
        """Stored MinHash signatures of every example seen, so a new drop is hashed once."""
        return self.root / "prepared" / "minhash_index"

    def datasets(self) -> Path:
        """train.parquet, eval.parquet, ledger.parquet, stats.json."""
        return self.root / "prepared" / "datasets"

    def preferences(self) -> Path:
        """Preference pairs: train.parquet, eval.parquet (resources/preference/schema.py), ledger.parquet,
        stats.json."""
        return self.root / "prepared" / "preferences"

    def record_sets(self) -> Path:
        """Content-addressed Parquet files of training record ids (one per distinct training set)."""
        return self.root / "provenance" / "record_sets"

    # --- train ---------------------------------------------------------------------------------------------
    def base_model(self, slug: str) -> Path:
        return self.root / "base_model" / slug

    def adapter_run(self, run_key: str) -> Path:
        """checkpoint-<step>/ folders of one training configuration on one training set."""
        return self.root / "adapters" / run_key

    # --- evaluate ------------------------------------------------------------------------------------------
    def evaluation(self, checkpoint_key: str) -> Path:
        return self.root / "evaluations" / checkpoint_key

    def baselines(self) -> Path:
        return self.root / "evaluations" / "baselines"

    def version_scores(self, model_name: str, version: str) -> Path:
        """Scores of a published version on held-out sets newer than the one it was published with: one JSON per
        (held-out data version, evaluator settings), so an incumbent is re-evaluated once per new held-out set."""
        return self.root / "evaluations" / "published_versions" / model_name / version

    def ratings(self) -> Path:
        return self.root / "ratings"

    # --- publish -------------------------------------------------------------------------------------------
    def registry(self, model_name: str) -> Path:
        return self.root / "registry" / model_name
