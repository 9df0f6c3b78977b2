"""Provenance lookup: which training sets and model versions hold a record, directly or via a duplicate."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pandas as pd
import pytest

from resources.layout import Layout
from resources.provenance.cli import main as cli_main
from resources.provenance.lookup import lookup
from resources.publishing.record_set import write_record_set
from resources.publishing.registry import Registry
from resources.sources.catalog import SourceCatalog

JANE_EMAIL, JANE_PHONE, JANE_IBAN = "Jane.Doe@Example.de", "+49 30 7654321", "DE89 3704 0044 0532 0130 00"
ASK = "Extract the order details from the customer message as JSON with keys order_id, item, quantity, issue."
RI, CO = "reviewed_interactions/2026-12-01", "corrected_outputs/2026-12-02"


def _chat(text: str, answer: str, **extra) -> dict:
    return {"messages": [{"role": "user", "content": f"{ASK}\n\n{text}"}, {"role": "assistant", "content": answer}],
            "task": "extract_order", "verdict": "approved", "reviewer": "a.berg", "reviewed_at": "2026-12-01T10:00:00Z",
            **extra}


def make_world(tmp_path: Path, version: bool = True) -> dict:
    """Two small drops mentioning Jane (one a near-duplicate of the other), ingested, trained on, published."""
    samples = tmp_path / "samples"
    (samples / "reviewed_interactions").mkdir(parents=True)
    (samples / "corrected_outputs").mkdir(parents=True)
    jane = f"My Tromsø lamp (order NH-100200) arrived broken. Mail me at {JANE_EMAIL} or call {JANE_PHONE}."
    answer = '{"order_id": "NH-100200", "item": "Tromsø lamp", "quantity": 1, "issue": "damaged"}'
    rows = [_chat(jane, answer),
            _chat("My Malmö table (order NH-300400) is late.",
                  '{"order_id": "NH-300400", "item": "Malmö table", "quantity": 1, "issue": "late_delivery"}'),
            _chat("Where is my Visby rug (order NH-500600)?",
                  '{"order_id": "NH-500600", "item": "Visby rug", "quantity": 1, "issue": "late_delivery"}',
                  customer_id="CUST-77881")]
    (samples / "reviewed_interactions" / "2026-12-01.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    with open(samples / "corrected_outputs" / "2026-12-02.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "model_output", "corrected_output", "task", "corrected_at"])
        w.writerow([f"{ASK}\n\nMy Tromsø lamp (order NH-100200) arrived broken!! Refund to {JANE_IBAN}, "
                    f"mail {JANE_EMAIL.lower()}", "{}", answer, "extract_order", "2026-12-02T10:00:00Z"])
        w.writerow([f"{ASK}\n\nThe Oslo vase (order NH-700800) is missing.", "{}",
                    '{"order_id": "NH-700800", "item": "Oslo vase", "quantity": 1, "issue": "missing"}',
                    "extract_order", "2026-12-02T11:00:00Z"])
    root = tmp_path / "artifacts"
    catalog = SourceCatalog(sample_root=str(samples), incoming_root=str(tmp_path / "incoming"))
    layout = Layout(root)
    for source, drop in (("reviewed_interactions", "2026-12-01.jsonl"), ("corrected_outputs", "2026-12-02.csv")):
        summary = catalog.ingest_drop(source, drop, layout.source_drop(source, drop))
        assert summary.kept == summary.rows_in, summary
    ids = {"jane": f"{RI}.jsonl/1", "other": f"{RI}.jsonl/2", "cust": f"{RI}.jsonl/3",
           "jane_dup": f"{CO}.csv/2", "vase": f"{CO}.csv/5"}
    world = {"root": root, "catalog": catalog, "samples": samples, "ids": ids}
    if version:
        # deduplication merged Jane's corrected output into her interaction: the survivor lists both rows
        train = pd.DataFrame({"id": [ids["jane"], ids["other"], ids["vase"]],
                              "origin_ids": [json.dumps([ids["jane"], ids["jane_dup"]]),
                                             json.dumps([ids["other"]]), json.dumps([ids["vase"]])]})
        world["record_set"] = write_record_set(train, layout.record_sets())
        world["version"] = publish_version(root, world["record_set"], "v-first")
    return world


def publish_version(root: Path, record_set: Path, version: str, promote: bool = True) -> str:
    registry = Registry(root / "registry", "nordlicht-assistant")

    def build(folder: Path) -> None:
        (folder / "adapter").mkdir()
        (folder / "merged").mkdir()
        (folder / "MODEL_CARD.md").write_text("card")
        (folder / "manifest.json").write_text(json.dumps({"training_records": str(record_set)}))

    registry.publish(version, build)
    if promote:
        registry.promote(version, "test")
    return version


def test_record_found_directly_and_through_the_duplicate_it_absorbed(tmp_path):
    w = make_world(tmp_path)
    direct = lookup(w["root"], record=w["ids"]["jane"])
    assert [s["record_set"] for s in direct["training_sets"]] == [str(w["record_set"].resolve())]
    assert direct["training_sets"][0]["hits"] == [
        {"source_row_id": w["ids"]["jane"], "training_record": w["ids"]["jane"], "via": "direct"}]
    via_dup = lookup(w["root"], record=w["ids"]["jane_dup"])
    assert via_dup["training_sets"][0]["hits"] == [
        {"source_row_id": w["ids"]["jane_dup"], "training_record": w["ids"]["jane"], "via": "absorbed duplicate"}]
    [v] = via_dup["model_versions"]
    assert (v["model"], v["version"], v["promoted"]) == ("nordlicht-assistant", "v-first", True)
    untrained = lookup(w["root"], record=w["ids"]["cust"])
    assert untrained["training_sets"] == [] and untrained["model_versions"] == []


@pytest.mark.parametrize("spelling", [JANE_EMAIL.upper(), "0049 30 7654321", "030 7654321", JANE_IBAN.replace(" ", ""),
                                      "nh-100200"])
def test_subject_found_in_both_sources_under_any_spelling(tmp_path, spelling):
    w = make_world(tmp_path)
    answer = lookup(w["root"], subject=spelling, catalog=w["catalog"])
    rows = {r["source_row_id"] for r in answer["source_rows"]}
    # the IBAN is only in the corrected output, the phone only in the interaction; both reach the same model
    assert rows & {w["ids"]["jane"], w["ids"]["jane_dup"]} and not rows & {w["ids"]["other"], w["ids"]["vase"]}
    assert [v["version"] for v in answer["model_versions"]] == ["v-first"]
    assert {h["training_record"] for s in answer["training_sets"] for h in s["hits"]} == {w["ids"]["jane"]}
    assert spelling not in json.dumps(answer)


def test_customer_id_field_only_in_the_raw_record(tmp_path):
    w = make_world(tmp_path)
    assert lookup(w["root"], subject="CUST-77881")["source_rows"] == []  # messages never mention it
    answer = lookup(w["root"], subject="cust-77881", catalog=w["catalog"])
    assert [r["source_row_id"] for r in answer["source_rows"]] == [w["ids"]["cust"]]


def test_lookup_answers_in_under_a_second(tmp_path):
    w = make_world(tmp_path)
    lookup(w["root"], subject=JANE_EMAIL, catalog=w["catalog"])  # first call builds the indexes
    started = time.perf_counter()
    answer = lookup(w["root"], subject=JANE_EMAIL)
    assert time.perf_counter() - started < 1.0 and answer["seconds"] < 1.0
    assert answer["model_versions"]


def test_lookup_needs_exactly_one_question(tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        lookup(tmp_path, record="a/b/1", subject="x@example.de")


def test_cli_json_and_exit_codes(tmp_path, capsys):
    w = make_world(tmp_path)
    assert cli_main(["--subject", JANE_EMAIL, "--artifacts", str(w["root"]), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert {r["source_row_id"] for r in answer["source_rows"]} == {w["ids"]["jane"], w["ids"]["jane_dup"]}
    assert cli_main(["--record", w["ids"]["jane_dup"], "--artifacts", str(w["root"])]) == 0
    out = capsys.readouterr().out
    assert "absorbed duplicate" in out and "v-first" in out and "PROMOTED" in out
    assert cli_main(["--record", "teacher_synthetic/none/1", "--artifacts", str(w["root"])]) == 1
    assert cli_main(["--record", "x", "--artifacts", str(tmp_path / "missing")]) == 2


def test_version_with_missing_record_set_is_reported_not_silently_cleared(tmp_path):
    w = make_world(tmp_path)
    publish_version(w["root"], tmp_path / "gone.parquet", "v-lost", promote=False)
    answer = lookup(w["root"], record=w["ids"]["other"])
    assert [v["version"] for v in answer["unverifiable_versions"]] == ["v-lost"]
