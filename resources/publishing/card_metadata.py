"""The model card's YAML front matter, in the Hugging Face model-card format.

Hub tooling (``huggingface_hub.ModelCard``, the hub's model pages, leaderboards) reads ``license``,
``base_model``, ``library_name``, ``tags`` and ``model-index`` from it, so a version folder can be uploaded or
shared inside an organisation as it is, and its held-out and forgetting results travel with it in a form
machines read. Licence names follow the hub's identifiers; a licence it does not know becomes ``other`` with
the original text as ``license_name``, as the hub asks.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# licence identifiers the hub knows, as they appear at the start of a licence text (longest first)
HUB_LICENSES = ("apache-2.0", "mit", "bsd-3-clause", "bsd-2-clause", "cc-by-nc-sa-4.0", "cc-by-nc-4.0",
                "cc-by-sa-4.0", "cc-by-4.0", "cc0-1.0", "gpl-3.0", "lgpl-3.0", "agpl-3.0", "llama3.3", "llama3.2",
                "llama3.1", "llama3", "llama2", "gemma", "openrail++", "openrail", "bigscience-openrail-m")
# the hub repository a built-in base was converted from (resources/model/gguf.py: BUILTIN_GGUF)
BUILTIN_HUB_IDS = {"builtin:smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct"}
DEMO_BASES = ("builtin:tiny",)
REPORTED_METRICS = ("token_f1", "exact_match", "rougeL")


def front_matter(m: dict[str, Any]) -> str:
    return "---\n" + yaml.safe_dump(card_data(m), sort_keys=False, allow_unicode=True) + "---\n"


def card_data(m: dict[str, Any]) -> dict[str, Any]:
    base = m.get("base_model") or {}
    data: dict[str, Any] = {**license_fields(str(base.get("licence") or ""))}
    hub_id = base_hub_id(str(base.get("name") or ""))
    if hub_id:
        data["base_model"] = hub_id
    data["library_name"] = "transformers"
    data["pipeline_tag"] = "text-generation"
    data["tags"] = ["privft", "qlora", "lora", "peft", "fine-tuned"] + \
        (["demo", "random-weights"] if is_demo_base(base) else [])
    results = _held_out_results(m) + _forgetting_results(m)
    if results:
        data["model-index"] = [{"name": str(m.get("model_name") or "model"), "results": results}]
    return data


def is_demo_base(base: dict[str, Any]) -> bool:
    return str(base.get("name") or "") in DEMO_BASES


def license_fields(text: str) -> dict[str, str]:
    lowered = text.strip().lower()
    for name in HUB_LICENSES:
        if re.match(re.escape(name) + r"(\b|$)", lowered):
            return {"license": name}
    slug = re.sub(r"[^a-z0-9.-]+", "-", lowered).strip("-")[:64] or "unknown"
    return {"license": "other", "license_name": slug}


def base_hub_id(name: str) -> str | None:
    """The base's hub id: a built-in's origin, or the configured name when it has the hub's ``org/name`` shape."""
    if name in BUILTIN_HUB_IDS:
        return BUILTIN_HUB_IDS[name]
    if re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", name) and not name.startswith((".", "/")):
        return name
    return None


def _held_out_results(m: dict[str, Any]) -> list[dict[str, Any]]:
    ev = m.get("evaluation") or {}
    chosen = next((c for c in ev.get("checkpoints") or [] if c.get("checkpoint") == ev.get("chosen")), None)
    if not chosen:
        return []
    held_out = (ev.get("held_out") or {}).get("data_version", "unknown")
    metrics = chosen.get("metrics") or {}
    baselines = ev.get("baselines") or {}
    rows = []
    for name in REPORTED_METRICS:
        if isinstance(metrics.get(name), (int, float)):
            rows.append({"type": name, "value": round(float(metrics[name]), 4), "name": f"{name} (fine-tuned)"})
        for kind in ("zero_shot", "few_shot"):
            value = (baselines.get(kind) or {}).get(name)
            if isinstance(value, (int, float)):
                rows.append({"type": name, "value": round(float(value), 4),
                             "name": f"{name} (base model, {kind.replace('_', '-')} prompting)"})
    if not rows:
        return []
    return [{"task": {"type": "text-generation", "name": "Answers on held-out examples"},
             "dataset": {"type": "privft-held-out", "name": f"held-out set {held_out}", "split": "eval"},
             "metrics": rows}]


def _forgetting_results(m: dict[str, Any]) -> list[dict[str, Any]]:
    detail = (m.get("forgetting") or {}).get("detail") or {}
    if not isinstance(detail, dict) or detail.get("checkpoint_accuracy") is None:
        return []
    kind = "MMLU sample" if detail.get("kind") == "forgetting" else "smoke benchmark (not a forgetting check)"
    return [{"task": {"type": "multiple-choice", "name": "Forgetting check against the base model"},
             "dataset": {"type": "mmlu" if detail.get("kind") == "forgetting" else "privft-smoke",
                         "name": f"{kind}, {detail.get('n')} items", "split": "test"},
             "metrics": [{"type": "accuracy", "value": round(float(detail["checkpoint_accuracy"]), 4),
                          "name": "accuracy (fine-tuned)"},
                         {"type": "accuracy", "value": round(float(detail["base_accuracy"]), 4),
                          "name": "accuracy (base model)"}]}]
