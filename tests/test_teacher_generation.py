"""Optional teacher generation with the built-in tiny model as the teacher: a scored drop the source ingests."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from conftest import REPO, pipeline_settings
from pipelines.definitions import build_definitions

pytestmark = pytest.mark.slow


def test_teacher_generation_is_off_by_default_and_feeds_a_teacher_drop_when_configured(tmp_path):
    assert "teacher_generation" not in {k.path[-1] for k in build_definitions(pipeline_settings(tmp_path))
                                        .resolve_asset_graph().get_all_asset_keys()}
    settings = pipeline_settings(tmp_path, teacher={"model": "builtin:tiny", "max_new_tokens": 8,
                                                    "seed_prompts": str(REPO / "data/teacher/seed_prompts.jsonl")})
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        result = dg.materialize([defs.resolve_assets_def("teacher_generation")], instance=instance)
        assert result.success
        catalog = defs.resources["catalog"]
        drops = catalog.list_drops("teacher_synthetic")
        drop = next(k for k in drops if k.startswith("teacher-"))
        rows = [json.loads(line) for line in drops[drop].read_text().splitlines()]
        assert len(rows) == 8 and all(0.0 <= r["score"] <= 1.0 for r in rows)
        summary = catalog.ingest_drop("teacher_synthetic", drop, tmp_path / "ingested")
        assert summary.rows_in == 8 and summary.kept + sum(summary.filtered.values()) + sum(summary.rejected.values()) == 8
        assert summary.score_histogram
