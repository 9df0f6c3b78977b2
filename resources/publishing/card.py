"""The model card (MODEL_CARD.md, for people) and manifest.json (the same facts, for machines).

``info`` is a plain dict; every key is optional, and a fact that was not supplied is written as "not recorded"
rather than left out, so a reader can tell a missing fact from a passing one. Keys:

- ``model_name``, ``version``, ``code_version``
- ``base_model``: ``{name, revision, licence, trust_remote_code, data_version, origin}`` (origin: a GGUF's
  file name, SHA-256 and metadata, ``gguf.py``)
- ``upstream``: ``{asset name: data version}`` for every upstream asset the version was built from
- ``sources``: ``{source: training rows}``
- ``training``: the training configuration (dict)
- ``evaluation``: ``{primary_metric, higher_is_better, checkpoints: [{checkpoint, metrics: {...}}], chosen,
  primary_value, baselines: {zero_shot: {...}, few_shot: {...}}, held_out: {data_version, settings}}``
- ``significance``, ``significance_unseen``: the chosen checkpoint vs prompting the base model, paired bootstrap
  per metric (``evaluation/bootstrap.py``), on the held-out set and on the unseen-products set
- ``comparison``: ``gates.comparison``: this version, the version promoted when it was published and the base
  model zero-shot, all on the same held-out set
- ``forgetting``: ``{flag: bool, detail}`` (general-capability regression against the base)
- ``leakage``: ``{count: int, detail}`` (eval examples found in the training set)
- ``merge``: ``MergeResult.as_dict()``
- ``intended_use`` (str), ``limitations`` (list of str)
- ``training_records``: path of the content-addressed Parquet file of training record ids (``record_set.py``);
  the version gets a copy, ``training_records.parquet``, and the manifest names that copy

The card starts with YAML front matter in the Hugging Face model-card format (``card_metadata.py``).
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from pathlib import Path
from typing import Any

from resources.publishing.card_metadata import front_matter, is_demo_base
from resources.publishing.card_sections import (NOT_RECORDED, comparison_section, fmt, forgetting_section,
                                                merge_section, significance_section, table)
from resources.storage import atomic_file, content_hash, write_json

CARD_FILE, MANIFEST_FILE, RECORDS_FILE = "MODEL_CARD.md", "manifest.json", "training_records.parquet"
MANIFEST_FORMAT = 1
# the card's metric columns, in reading order (the manifest keeps every metric)
DISPLAY_METRICS = ("token_f1", "exact_match", "rouge1", "rouge2", "rougeL", "json_parse_rate", "json_field_f1",
                   "loss", "perplexity", "n")
DEFAULT_INTENDED_USE = ("Drafting answers to customer-support questions (order status, returns, invoices, policy) "
                        "for review by a support agent, in the languages and tasks of the training data.")
DEFAULT_LIMITATIONS = [
    "Fine-tuned on a small, domain-specific data set: answers outside customer support are unreliable.",
    "Can state wrong order details, dates or policies with confidence; a person must review answers before they "
    "reach a customer.",
    "Not evaluated for safety-critical, legal or medical advice.",
]


def write_model_card(folder: Path | str, info: dict[str, Any]) -> tuple[Path, Path]:
    """Write MODEL_CARD.md and manifest.json into ``folder`` and copy the training record ids beside them (a
    version folder copied elsewhere keeps the record of what it was trained on); returns the card and manifest."""
    folder = Path(folder)
    manifest = build_manifest(info)
    records = info.get("training_records")
    if records and Path(records).is_file():
        with atomic_file(folder / RECORDS_FILE) as tmp:
            shutil.copyfile(records, tmp)
        manifest["training_records"] = RECORDS_FILE
    write_json(folder / MANIFEST_FILE, manifest)
    with atomic_file(folder / CARD_FILE) as tmp:
        tmp.write_text(render_card(manifest), encoding="utf-8")
    return folder / CARD_FILE, folder / MANIFEST_FILE


def build_manifest(info: dict[str, Any]) -> dict[str, Any]:
    manifest = {"format": MANIFEST_FORMAT, "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(
        timespec="seconds"), **info}
    manifest.setdefault("intended_use", DEFAULT_INTENDED_USE)
    manifest.setdefault("limitations", list(DEFAULT_LIMITATIONS))
    records = info.get("training_records")
    if records:
        path = Path(records)
        manifest["training_records"] = str(path)
        # the shared record set's name is a hash of its contents: equal names, equal training records
        manifest["training_record_set"] = path.name
        manifest["training_records_sha256"] = content_hash(path) if path.exists() else NOT_RECORDED
    return manifest


def read_manifest(folder: Path | str) -> dict[str, Any]:
    return json.loads((Path(folder) / MANIFEST_FILE).read_text(encoding="utf-8"))


def render_card(m: dict[str, Any]) -> str:
    base = m.get("base_model") or {}
    ev = m.get("evaluation") or {}
    demo = ["> **Demo model.** The base model is the embedded random-weight tiny model, built so the pipeline runs "
            "without a download. Its answers are not meaningful; point `base.name` at a real model for a real one.",
            ""] if is_demo_base(base) else []
    lines = [front_matter(m), f"# {m.get('model_name', 'model')} {m.get('version', '')}".rstrip(), "", *demo,
             f"Published {m['created_at']}; code version {m.get('code_version', NOT_RECORDED)}.", "",
             "## Base model", "",
             f"- name: {base.get('name', NOT_RECORDED)}" + (f" (revision {base['revision']})" if base.get("revision") else ""),
             f"- licence: {base.get('licence', NOT_RECORDED)}",
             f"- trust_remote_code: {str(base.get('trust_remote_code', NOT_RECORDED)).lower()}",
             f"- data version: {base.get('data_version', NOT_RECORDED)}", *_origin(base.get("origin")), "",
             "## Data", "", "Upstream assets and the data version each had when this model was built:", "",
             *table(["asset", "data version"], sorted((m.get("upstream") or {}).items())), "",
             "Training rows per source:", "",
             *table(["source", "rows"], sorted((m.get("sources") or {}).items())), "",
             f"Training record ids (id, origin_ids): `{m.get('training_records', NOT_RECORDED)}` in this folder "
             f"(SHA-256 {m.get('training_records_sha256', NOT_RECORDED)})", "",
             "## Training configuration", "", "```json",
             json.dumps(m.get("training") or {}, indent=2, sort_keys=True, default=str), "```", "",
             *_evaluation(ev), *significance_section(m.get("significance")),
             *significance_section(m.get("significance_unseen"), unseen=True), *comparison_section(m.get("comparison")),
             *forgetting_section(m), *merge_section(m.get("merge")),
             "## Intended use", "", str(m["intended_use"]), "",
             "## Limitations", "", *[f"- {x}" for x in m["limitations"]], ""]
    flags = m.get("flags") or {}
    if flags:
        lines += ["## Flags", "", *[f"- {k}: {v}" for k, v in sorted(flags.items())], ""]
    return "\n".join(lines)


def _evaluation(ev: dict[str, Any]) -> list[str]:
    """Every checkpoint's held-out metrics, with the base model prompted zero- and few-shot in the same table."""
    primary, chosen = ev.get("primary_metric", NOT_RECORDED), ev.get("chosen", NOT_RECORDED)
    checkpoints = ev.get("checkpoints") or []
    present = {k for c in checkpoints for k in (c.get("metrics") or {})}
    names = [n for n in DISPLAY_METRICS if n in present] + sorted(present - set(DISPLAY_METRICS))
    label = lambda c: f"**{c} (chosen)**" if c == chosen else str(c)  # noqa: E731
    rows = [[label(c.get("checkpoint"))] + [fmt((c.get("metrics") or {}).get(n)) for n in names]
            for c in checkpoints]
    for kind, metrics in sorted((ev.get("baselines") or {}).items(), reverse=True):
        rows.append([f"base model, {kind.replace('_', '-')} prompting"] + [fmt(metrics.get(n)) for n in names])
    return ["## Evaluation", "", f"Primary metric: {primary}"
            f" ({'higher' if ev.get('higher_is_better', True) else 'lower'} is better). Chosen checkpoint: {chosen}. "
            "Held-out examples, greedy answers; the base model's rows are the prompting baselines.",
            "", *table(["model", *names], rows), ""]


def _origin(origin: dict[str, Any] | None) -> list[str]:
    if not origin:
        return []
    meta = origin.get("metadata") or {}
    return [f"- dequantised from GGUF `{origin.get('file')}` (SHA-256 {origin.get('sha256')}): "
            f"{meta.get('name', NOT_RECORDED)} by {meta.get('organization', NOT_RECORDED)}, "
            f"licence {meta.get('license', NOT_RECORDED)}"]
