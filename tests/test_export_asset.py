"""model_export exports the version model_version last published, in every configured type; off when empty."""

from __future__ import annotations

import dagster as dg

from conftest import pipeline_settings
from resources.artifact_store import ArtifactStore
from resources.export.exporter import Exporter
from resources.publishing.publisher import Publisher
from tests.test_export_gguf import MODEL, publish_fake_version


def test_model_export_exports_the_published_version_and_reports_its_numbers(tiny_model_dir, tmp_path):
    from assets.export import model_export

    root = tmp_path / "artifacts"
    publish_fake_version(root / "registry", tiny_model_dir, version="v-0000000000aa")
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("model_version",
                                                                    metadata={"version": "v-0000000000aa"}))
        result = dg.materialize([model_export], instance=instance, resources={
            "store": ArtifactStore(root=str(root)), "publisher": Publisher(model_name=MODEL),
            "exporter": Exporter(formats=["f16", "q8_0"])})
    assert result.success
    meta = result.asset_materializations_for_node("model_export")[0].metadata
    assert meta["version"].value == "v-0000000000aa" and meta["formats"].value == "f16, q8_0"
    table = meta["verification"].value
    assert "| f16 |" in table and "| q8_0 |" in table and "3/3" in table
    for t in ("f16", "q8_0"):
        gguf = root / "exports" / MODEL / "v-0000000000aa" / t / f"{MODEL}-v-0000000000aa-{t}.gguf"
        assert meta[f"gguf_{t}"].value == str(gguf) and gguf.is_file()


def test_model_export_is_in_the_definitions_only_when_formats_are_configured(tmp_path):
    from pipelines.definitions import build_definitions

    key = dg.AssetKey("model_export")
    assert key in build_definitions(pipeline_settings(tmp_path)).resolve_asset_graph().get_all_asset_keys()
    off = build_definitions(pipeline_settings(tmp_path, exporter={"formats": []}))
    assert key not in off.resolve_asset_graph().get_all_asset_keys()
