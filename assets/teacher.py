"""Optional: synthetic examples from a stronger teacher model, written as a new teacher-data drop."""

from pathlib import Path

import dagster as dg

from assets import GPU, group_asset
from resources.artifact_store import ArtifactStore
from resources.model.base_model import BaseModel
from resources.sources.catalog import SourceCatalog
from resources.teacher.generate import TeacherConfig, drop_name, generate_drop, read_seed_prompts


@group_asset("sources")(kinds={"pytorch", "jsonl"}, tags=GPU)
def teacher_generation(context: dg.AssetExecutionContext, store: ArtifactStore, teacher: TeacherConfig,
                       catalog: SourceCatalog) -> dg.MaterializeResult:
    """Teacher model answers seed prompts; scored rows land as a teacher_synthetic drop (sensor ingests it)."""
    model = BaseModel(name=teacher.model, trust_remote_code=teacher.trust_remote_code,
                      allow_download=teacher.allow_download)
    teacher_dir = model.materialise(store.path("teacher", model.slug())) if not Path(teacher.model).is_dir() \
        else Path(teacher.model)
    drop = Path(catalog.incoming_root) / "teacher_synthetic" / drop_name(teacher.model, teacher.seed_prompts)
    result = generate_drop(teacher_dir, read_seed_prompts(teacher.seed_prompts), drop,
                           max_new_tokens=teacher.max_new_tokens, trust_remote_code=teacher.trust_remote_code)
    drop.with_name(drop.name + ".done").write_text("")  # complete: the drop sensor may take it at once
    scores = sorted(result["scores"])
    return dg.MaterializeResult(metadata={
        "rows": dg.MetadataValue.int(result["rows"]), "teacher": teacher.model,
        "median_score": dg.MetadataValue.float(float(scores[len(scores) // 2]) if scores else 0.0),
        "drop": dg.MetadataValue.path(str(drop))})
