"""Model card and manifest: every fact a reviewer or an erasure request needs is written down."""

import json

import pandas as pd

from resources.publishing.card import NOT_RECORDED, write_model_card
from resources.publishing.gates import gate_facts
from resources.publishing.record_set import write_record_set
from resources.publishing.registry import Registry


def training_table():
    return pd.DataFrame({
        "id": ["reviewed_interactions/d1/1", "expert_annotations/d2/4"],
        "origin_ids": [json.dumps(["reviewed_interactions/d1/1", "corrected_outputs/d1/9"]),
                       json.dumps(["expert_annotations/d2/4"])]})


HELD_OUT = {"data_version": "eval-hash-new", "settings": "s1"}


def card_info(records):
    return {
        "model_name": "nordlicht-support", "version": "v-0123456789ab", "code_version": "publish-1",
        "base_model": {"name": "builtin:tiny", "licence": "Apache-2.0", "trust_remote_code": False,
                       "data_version": "base-hash-1"},
        "upstream": {"training_datasets": "ds-hash-7", "qlora_adapter": "ad-hash-3", "base_model": "base-hash-1"},
        "sources": {"reviewed_interactions": 812, "expert_annotations": 57},
        "training": {"lora_r": 8, "learning_rate": 0.0002, "max_steps": 120},
        "evaluation": {"primary_metric": "rougeL", "higher_is_better": True, "chosen": "checkpoint-80",
                       "checkpoints": [{"checkpoint": "checkpoint-40", "metrics": {"rougeL": 0.311, "exact": 0.1}},
                                       {"checkpoint": "checkpoint-80", "metrics": {"rougeL": 0.352, "exact": 0.2}}],
                       "baselines": {"zero_shot": {"rougeL": 0.12}}, "held_out": HELD_OUT},
        "comparison": {"metric": "rougeL", "held_out": HELD_OUT,
                       "candidate": {"version": "v-0123456789ab", "value": 0.352}, "base_zero_shot": 0.12,
                       "incumbent": {"version": "v-aaaaaaaaaaaa", "value": 0.297, "held_out": HELD_OUT,
                                     "measured": "re-evaluated on this set",
                                     "recorded": {"metric": "rougeL", "value": 0.41,
                                                  "held_out": {"data_version": "eval-hash-old", "settings": "s1"}}}},
        "forgetting": {"flag": False, "detail": "general QA 0.41 vs base 0.42"},
        "leakage": {"count": 0},
        "merge": {"verified": True, "dtype": "float32", "max_abs_diff": 3.1e-6, "tolerance": 1e-3,
                  "loads_without_peft": True, "generations_match": True,
                  "generations": [{"prompt": "Where is my order?", "merged": "It | shipped", "equal": True}]},
        "limitations": ["Only German and English support tickets."],
        "training_records": str(records),
    }


def test_card_and_manifest_hold_the_facts(tmp_path):
    records = write_record_set(training_table(), tmp_path / "record_sets")
    assert records == write_record_set(training_table().iloc[::-1], tmp_path / "record_sets")  # content-addressed
    assert list(pd.read_parquet(records).columns) == ["id", "origin_ids"]

    card_path, manifest_path = write_model_card(tmp_path / "v", card_info(records))
    card = card_path.read_text()
    for fact in ["builtin:tiny", "Apache-2.0", "trust_remote_code: false", "ds-hash-7", "ad-hash-3", "base-hash-1",
                 "| reviewed_interactions | 812 |", "| expert_annotations | 57 |", '"learning_rate": 0.0002',
                 "**checkpoint-80 (chosen)**", "0.352", "0.311", "Primary metric: rougeL", "no regression",
                 "leakage: 0", "3.1e-06", "verified: true", "without peft, in a fresh process: true",
                 "It \\| shipped", "Intended use", "Only German and English", "`training_records.parquet` in this folder",
                 # this version and the promoted one on the same held-out set, and what was recorded before
                 "rougeL on held-out data version eval-hash-new", "| this version | v-0123456789ab | 0.352 |",
                 "| promoted when published | v-aaaaaaaaaaaa | 0.297 | re-evaluated on this set; recorded rougeL "
                 "0.41 on held-out data eval-hash-old |", "| base model zero-shot |  | 0.12 |"]:
        assert fact in card, fact

    manifest = json.loads(manifest_path.read_text())
    assert manifest["upstream"]["training_datasets"] == "ds-hash-7"
    assert manifest["sources"] == {"reviewed_interactions": 812, "expert_annotations": 57}
    # the record ids travel inside the version folder; the shared set's name still says which training set it was
    assert manifest["training_records"] == "training_records.parquet" and manifest["training_record_set"] == records.name
    assert (tmp_path / "v" / "training_records.parquet").read_bytes() == records.read_bytes()
    assert len(manifest["training_records_sha256"]) == 16
    assert manifest["base_model"]["trust_remote_code"] is False
    assert gate_facts(manifest) == {"version": "v-0123456789ab", "metric": "rougeL", "value": 0.352,
                                    "higher_is_better": True, "forgetting": False, "leakage": 0,
                                    "merge_verified": True, "baseline": 0.12, "held_out": HELD_OUT}
    assert manifest["comparison"]["incumbent"]["value"] == 0.297


def test_missing_facts_are_marked_not_recorded(tmp_path):
    card_path, manifest_path = write_model_card(tmp_path, {"model_name": "m"})
    card = card_path.read_text()
    assert f"licence: {NOT_RECORDED}" in card and f"Forgetting: {NOT_RECORDED}" in card
    assert "## Merge verification\n\nnot recorded" in card
    assert "## Against the promoted version\n\nnot recorded" in card
    assert json.loads(manifest_path.read_text())["limitations"]  # defaults are written, not omitted


def test_which_versions_contain_a_record(tmp_path):
    reg = Registry(tmp_path / "registry", "m")
    first = write_record_set(training_table(), tmp_path / "record_sets")
    second = write_record_set(training_table().iloc[1:], tmp_path / "record_sets")

    def build(records):
        def _build(folder):
            (folder / "adapter").mkdir()
            (folder / "merged").mkdir()
            write_model_card(folder, {"training_records": str(records)})
        return _build

    v1, v2 = reg.version_for({"d": 1}), reg.version_for({"d": 2})
    reg.publish(v1, build(first))
    reg.publish(v2, build(second))
    assert reg.versions_containing("corrected_outputs/d1/9") == [v1]  # absorbed duplicate counts too
    assert reg.versions_containing("expert_annotations/d2/4") == [v1, v2]
    assert reg.versions_containing("teacher_synthetic/d3/1") == []


def test_card_says_where_a_gguf_base_came_from_how_the_fine_tune_compares_with_prompting_and_what_checked_it(tmp_path):
    info = card_info(tmp_path / "records.parquet")
    info["base_model"]["origin"] = {"file": "SmolLM2-135M-Instruct.Q4_1.gguf", "sha256": "b179c95", "metadata": {
        "name": "SmolLM2", "organization": "HuggingFaceTB", "license": "apache-2.0"}}
    gain = {"n": 70, "baseline": 0.225, "tuned": 0.985, "diff": 0.76, "ci_low": 0.709, "ci_high": 0.808}
    info["significance"] = {"zero_shot": {"token_f1": gain}}
    info["forgetting"]["detail"] = {"kind": "smoke", "kind_note": "Smoke check, not a forgetting check: toy.",
                                    "summary": "checkpoint 0.305 vs base 0.312"}
    info["merge"].update(dtype="bfloat16", tolerance=None, statistics={
        "merged": {"kl_mean": 0.0021, "top1_agreement": 0.984}, "rounding_only": {"kl_mean": 0.0025,
                                                                                   "top1_agreement": 0.973},
        "adapter_effect_recovered": 0.997})
    card = write_model_card(tmp_path / "v", info)[0].read_text()
    assert "GGUF `SmolLM2-135M-Instruct.Q4_1.gguf` (SHA-256 b179c95): SmolLM2 by HuggingFaceTB, licence apache-2.0" in card
    assert "## Against prompting the base model" in card
    assert "unseen products" not in card  # no unseen-products set, no section
    info["significance_unseen"] = {"few_shot": {"token_f1": {**gain, "n": 103, "baseline": 0.737}}}
    unseen = write_model_card(tmp_path / "u", info)[0].read_text()
    assert "## Against prompting, on unseen products" in unseen and "| few-shot | token_f1 | 0.737 |" in unseen
    assert "| zero-shot | token_f1 | 0.225 | 0.985 | +0.7600 | [+0.7090, +0.8080] | 70 |" in card
    assert "no regression found (Smoke check, not a forgetting check: toy. checkpoint 0.305 vs base 0.312)" in card
    assert "mean KL 0.0021, top-1 agreement 0.984; bfloat16 rounding alone" in card and "carried: 0.997" in card
    assert "tolerance None" not in card


MMLU_DETAIL = {"kind": "forgetting", "benchmark": "../shared/benchmarks/mmlu", "n": 1140, "base_accuracy": 0.2570,
               "checkpoint_accuracy": 0.2474, "diff": -0.0096, "stderr": 0.0044, "tolerance": 0.02,
               "subjects": {f"s{i}": 20 for i in range(57)}, "flagged": False,
               "scoring": "lm-eval MMLU: 0-shot, log-likelihood of the answer letter"}


def test_card_front_matter_is_a_hugging_face_model_card(tmp_path):
    from huggingface_hub import ModelCard

    info = card_info(tmp_path / "records.parquet")
    info["base_model"].update(name="builtin:smollm2-135m-instruct", licence="apache-2.0 (HuggingFaceTB, from GGUF)")
    info["evaluation"]["checkpoints"][1]["metrics"].update(token_f1=0.967, exact_match=0.4)
    info["evaluation"]["baselines"] = {"zero_shot": {"token_f1": 0.220}, "few_shot": {"token_f1": 0.731}}
    info["forgetting"] = {"flag": False, "detail": MMLU_DETAIL}
    card = ModelCard.load(write_model_card(tmp_path / "v", info)[0])
    assert card.data.license == "apache-2.0" and card.data.library_name == "transformers"
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct" and "qlora" in card.data.tags
    results = {(r.dataset_type, r.metric_name): r.metric_value for r in card.data.eval_results}
    assert results[("privft-held-out", "token_f1 (fine-tuned)")] == 0.967
    assert results[("privft-held-out", "token_f1 (base model, few-shot prompting)")] == 0.731
    assert results[("mmlu", "accuracy (fine-tuned)")] == 0.2474 and results[("mmlu", "accuracy (base model)")] == 0.257
    assert "demo" not in card.data.tags and "Demo model" not in card.text


def test_card_says_plainly_what_a_reader_must_know(tmp_path):
    info = card_info(tmp_path / "records.parquet")
    info["forgetting"] = {"flag": False, "detail": MMLU_DETAIL}
    info["base_model"]["licence"] = "Custom research licence v2"
    card_path = write_model_card(tmp_path / "v", info)[0]
    text = card_path.read_text()
    # the random-weight demo base is named as such, at the top and in the tags
    assert "> **Demo model.**" in text.split("## Base model")[0]
    from huggingface_hub import ModelCard

    data = ModelCard.load(card_path).data
    assert "random-weights" in data.tags and data.license == "other" and data.license_name.startswith("custom")
    assert getattr(data, "base_model", None) is None  # builtin:tiny is nobody's hub model
    # prompting baselines sit next to the checkpoints
    assert "| model | rougeL | exact |" in text and "| **checkpoint-80 (chosen)** | 0.352 | 0.2 |" in text
    assert "| base model, zero-shot prompting | 0.12 | not recorded |" in text
    # forgetting is a sentence and a table, never a Python dict
    assert ("On 1140 general-knowledge questions (57 subjects), the fine-tuned model answers 24.7% correctly and the "
            "base model 25.7%, a difference of -1.0 points, within the allowed drop: no regression found.") in text
    assert "| ../shared/benchmarks/mmlu | 1140 | 57 | 0.257 | 0.2474 | -0.0096 ± 0.0044 (paired SE) | 0.02 |" in text
    assert "{'" not in text and "{\"" not in text.split("```")[0] + text.split("```")[-1]


def test_a_copied_version_folder_keeps_its_training_records(tmp_path):
    import shutil

    reg = Registry(tmp_path / "registry", "m")
    records = write_record_set(training_table(), tmp_path / "record_sets")

    def build(folder):
        (folder / "adapter").mkdir()
        (folder / "merged").mkdir()
        write_model_card(folder, {"training_records": str(records)})

    version = reg.version_for({"d": 1})
    reg.publish(version, build)
    moved = Registry(tmp_path / "elsewhere", "m")
    shutil.copytree(reg.dir, moved.dir)
    shutil.rmtree(tmp_path / "record_sets")  # the shared set is gone; the version's own copy answers
    assert moved.versions_containing("corrected_outputs/d1/9") == [version]
