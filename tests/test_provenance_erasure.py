"""Erasure requests: resolve subjects, tombstone rows, flag models, log, and the Dagster sensor/job/report."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pytest

from assets.provenance import erasure_report
from assets.sources import source_assets
from pipelines.provenance import erasure_requests, provenance_lookup_job
from resources.layout import Layout
from resources.provenance.erasure import apply_request
from resources.provenance.erasure_log import entries
from resources.provenance.inbox import ErasureInbox
from resources.provenance.lookup import lookup
from resources.provenance.request_file import RequestError, read_request
from resources.provenance.tombstones import load_tombstones
from resources.publishing.registry import Registry, RegistryError
from resources.artifact_store import ArtifactStore
from test_provenance_lookup import JANE_EMAIL, JANE_PHONE, make_world


def _request(folder, name="ER-1.json", **body):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps({"request_id": "ER-1", "requested_by": "dpo@nordlicht.example", **body}))
    return path


def test_subject_request_tombstones_both_rows_flags_the_version_and_logs(tmp_path):
    w = make_world(tmp_path)
    path = _request(tmp_path / "inbox", subjects=[JANE_PHONE])  # the phone is in one row only ...
    result = apply_request(w["root"], path, catalog=w["catalog"])
    jane = {w["ids"]["jane"], w["ids"]["jane_dup"]}
    # ... its near-duplicate (merged into it by dedup) goes too
    assert set(result["rows"]) == jane and result["expanded_duplicates"] == [w["ids"]["jane_dup"]]
    assert load_tombstones(w["root"]) == jane
    assert pd.read_parquet(Layout(w["root"]).tombstones())["request_id"].tolist() == ["ER-1", "ER-1"]
    assert result["affected_versions"] == [{"model": "nordlicht-assistant", "version": "v-first", "promoted": True}]
    assert result["affected_drops"] == ["corrected_outputs/2026-12-02.csv", "reviewed_interactions/2026-12-01.jsonl"]
    registry = Registry(w["root"] / "registry", "nordlicht-assistant")
    assert registry.flags("v-first")["contains_erased_data"]["detail"] == {"requests": ["ER-1"]}
    with pytest.raises(RegistryError, match="contains_erased_data"):
        registry.promote("v-first", "again")
    [logged] = entries(w["root"])
    assert logged["requested_by"] == "dpo@nordlicht.example" and "7654321" not in json.dumps(logged)
    # applying the same file again changes nothing and logs nothing
    assert apply_request(w["root"], path)["already_applied"] is True
    assert len(entries(w["root"])) == 1


def test_reingest_filters_erased_rows_and_lookup_still_finds_them_by_subject(tmp_path):
    w = make_world(tmp_path)
    apply_request(w["root"], _request(tmp_path / "inbox", subjects=[JANE_EMAIL]), catalog=w["catalog"])
    layout = Layout(w["root"])
    for source, drop in (("reviewed_interactions", "2026-12-01.jsonl"), ("corrected_outputs", "2026-12-02.csv")):
        w["catalog"].ingest_drop(source, drop, layout.source_drop(source, drop), tombstones=load_tombstones(w["root"]))
    ledger = pd.concat([pd.read_parquet(d / "ledger.parquet") for s in ("reviewed_interactions", "corrected_outputs")
                        for d in layout.source_drops(s)])
    erased = ledger[ledger["reason"].str.startswith("erased")]
    assert set(erased["id"]) == {w["ids"]["jane"], w["ids"]["jane_dup"]} and set(erased["state"]) == {"filtered"}
    answer = lookup(w["root"], subject=JANE_EMAIL)  # no catalog: the rows are gone from the ingested drops
    assert {r["source_row_id"] for r in answer["source_rows"]} == {w["ids"]["jane"], w["ids"]["jane_dup"]}
    assert answer["model_versions"][0]["flags"] == ["contains_erased_data"]


def test_csv_request_with_ids_only_and_no_duplicate_expansion(tmp_path):
    w = make_world(tmp_path)
    path = tmp_path / "ER-2.csv"
    path.write_text(f"request_id,requested_by,id,subject\nER-2,legal,{w['ids']['other']},\n,,{w['ids']['vase']},\n")
    result = apply_request(w["root"], path, expand_duplicates=False)
    assert result["request_id"] == "ER-2" and set(result["rows"]) == {w["ids"]["other"], w["ids"]["vase"]}
    assert [v["version"] for v in result["affected_versions"]] == ["v-first"]


@pytest.mark.parametrize("body, message", [
    ({"requested_by": "", "ids": ["reviewed_interactions/x/1"]}, "no requested_by"),
    ({"ids": ["not-a-row"]}, "not source row ids"),
    ({}, "nothing to erase"),
])
def test_bad_requests_name_the_file_and_the_fix(tmp_path, body, message):
    path = _request(tmp_path, "bad.json", **body)
    with pytest.raises(RequestError, match=message) as info:
        read_request(path)
    assert "bad.json" in str(info.value)


def test_sensor_applies_each_file_once_and_reingests_the_affected_drops(tmp_path):
    w = make_world(tmp_path)
    inbox = tmp_path / "inbox"
    _request(inbox, subjects=[JANE_EMAIL])
    (inbox / "broken.json").write_text("{")
    resources = {"erasure": ErasureInbox(folder=str(inbox)), "store": ArtifactStore(root=str(w["root"])),
                 "catalog": w["catalog"]}
    defs = dg.Definitions(assets=[*source_assets, erasure_report], sensors=[erasure_requests], resources=resources)
    sensor = defs.get_sensor_def("erasure_requests")
    with dg.instance_for_test() as instance:
        # a context manager: the artifact store has setup/teardown (it syncs shared storage when configured)
        with dg.build_sensor_context(instance=instance, resources=resources, definitions=defs) as ctx:
            result = sensor(ctx)
        targets = sorted((r.asset_selection[0].to_user_string(), r.partition_key) for r in result.run_requests
                         if r.partition_key)
        assert targets == [("corrected_outputs", "2026-12-02.csv"), ("reviewed_interactions", "2026-12-01.jsonl")]
        assert any(r.asset_selection == [erasure_report.key] for r in result.run_requests)
        assert set(json.loads(result.cursor)) == {"ER-1.json", "broken.json"}
        with dg.build_sensor_context(instance=instance, resources=resources, definitions=defs,
                                     cursor=result.cursor) as ctx:
            again = sensor(ctx)
        assert not again.run_requests and len(entries(w["root"])) == 1


def test_lookup_job_and_erasure_report_metadata(tmp_path):
    w = make_world(tmp_path)
    store = ArtifactStore(root=str(w["root"]))
    with dg.instance_for_test() as instance:
        run = provenance_lookup_job.execute_in_process(
            run_config={"ops": {"provenance_lookup": {"config": {"record": w["ids"]["jane_dup"]}}}},
            resources={"store": store, "catalog": w["catalog"]}, instance=instance)
        [meta] = [e.step_output_data.metadata for e in run.all_node_events if e.is_successful_output]
        assert meta["model_versions"].value == 1 and "absorbed duplicate" in meta["hits"].value
        apply_request(w["root"], _request(tmp_path / "inbox", subjects=[JANE_EMAIL]))
        result = dg.materialize([erasure_report], resources={"store": store}, instance=instance)
        [mat] = result.asset_materializations_for_node("erasure_report")
        assert mat.metadata["promoted_contains_erased_data"].value is True
        report = mat.metadata["report"].value
        assert report.startswith("## ⚠ PROMOTED VERSION CONTAINS ERASED DATA") and "v-first" in report


def test_erased_rows_leave_the_dedup_index_so_a_later_copy_is_kept(tmp_path):
    from resources.dedup.resource import Deduplicator
    from resources.dedup.index import MinHashIndex

    w = make_world(tmp_path, version=False)
    index = Layout(w["root"]).minhash_index()
    jane_text = "My Tromsø lamp (order NH-100200) arrived broken, please refund me. " * 12
    dedup = Deduplicator()
    items = pd.DataFrame({"id": [w["ids"]["jane"], w["ids"]["other"]], "text": [jane_text, "Where is my Malmö table?"],
                          "source": "reviewed_interactions", "created_at": ""})
    dedup.deduplicate(items, index_dir=index)
    result = apply_request(w["root"], _request(tmp_path / "inbox", ids=[w["ids"]["jane"]]), expand_duplicates=False)
    assert result["removed_from_dedup_index"] == 1
    assert w["ids"]["jane"] not in MinHashIndex.load(index) and w["ids"]["other"] in MinHashIndex.load(index)
    # the customer writes the same text again, in a later drop: it is kept, not merged into the erased row
    later = "reviewed_interactions/2027-01-05.jsonl/1"
    decisions = dedup.deduplicate(pd.DataFrame({"id": [later], "text": [jane_text.upper()],
                                                "source": "reviewed_interactions", "created_at": ""}), index_dir=index)
    assert decisions["duplicate_of"].tolist() == [None]
    from resources.datasets.duplicates import apply_duplicates
    from resources.schema import EXAMPLE_COLUMNS, LEDGER_COLUMNS

    example = pd.DataFrame([{c: "" for c in EXAMPLE_COLUMNS} | {"id": later, "origin_ids": json.dumps([later])}])
    kept, *_ = apply_duplicates(example, decisions, pd.DataFrame(columns=list(LEDGER_COLUMNS)))
    assert json.loads(kept["origin_ids"].item()) == [later]  # its provenance names no erased row
