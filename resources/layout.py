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

    def base_model_handle(self) -> Path:
        """The resolved base model (folder, version, trust; resources/model/handle.py), written by base_model."""
        return self.root / "base_model" / "handle.json"

    def adapter_run(self, run_key: str) -> Path:
        """checkpoint-<step>/ folders of one training configuration on one training set."""
        return self.root / "adapters" / run_key

    def checkpoint(self, key: str) -> Path:
        """The folder of checkpoint partition ``<run_key>-<step>``."""
        run_key, step = key.rsplit("-", 1)
        return self.adapter_run(run_key) / f"checkpoint-{step}"

    def checkpoint_keys(self, run_key: str) -> list[str]:
        """Partition keys of the checkpoints a run has written, oldest first."""
        folder = self.adapter_run(run_key)
        steps = sorted(int(p.name.split("-")[1]) for p in folder.glob("checkpoint-*") if p.is_dir())
        return [f"{run_key}-{step:06d}" for step in steps]

    def current_run(self) -> Path:
        """{"run_key", "checkpoints"} of the SFT run the evaluations compare."""
        return self.root / "adapters" / "latest.json"

    def current_preference_run(self) -> Path:
        """{"run_key", "checkpoints", "init_checkpoint"} of the DPO run, or {"checkpoints": [], "reason"}."""
        return self.root / "adapters" / "preference_latest.json"

    # --- evaluate ------------------------------------------------------------------------------------------
    def evaluation(self, checkpoint_key: str) -> Path:
        return self.root / "evaluations" / checkpoint_key

    def baselines(self) -> Path:
        return self.root / "evaluations" / "baselines"

    def evaluation_summary(self) -> Path:
        """summary.json: every checkpoint beside the baselines, and the best one (``best``, ``best_sft``)."""
        return self.root / "evaluations" / "summary.json"

    def preference_evaluation(self, run_key: str) -> Path:
        """Held-out preference pairs scored by every checkpoint of a DPO run (report.json)."""
        return self.root / "evaluations" / "preferences" / run_key

    def version_scores(self, model_name: str, version: str) -> Path:
        """Scores of a published version on held-out sets newer than the one it was published with: one JSON per
        (held-out data version, evaluator settings), so an incumbent is re-evaluated once per new held-out set."""
        return self.root / "evaluations" / "published_versions" / model_name / version

    def ratings(self) -> Path:
        return self.root / "ratings"

    # --- publish -------------------------------------------------------------------------------------------
    def registry_root(self) -> Path:
        """One folder per model name (resources/publishing/registry.py)."""
        return self.root / "registry"

    def registry(self, model_name: str) -> Path:
        return self.registry_root() / model_name
