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
- ``training_records``: path of the content-addressed Parquet file of training record ids (``record_set.py``)
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from resources.storage import atomic_file, content_hash, write_json

CARD_FILE, MANIFEST_FILE = "MODEL_CARD.md", "manifest.json"
MANIFEST_FORMAT = 1
NOT_RECORDED = "not recorded"
DEFAULT_INTENDED_USE = ("Drafting answers to customer-support questions (order status, returns, invoices, policy) "
                        "for review by a support agent, in the languages and tasks of the training data.")
DEFAULT_LIMITATIONS = [
    "Fine-tuned on a small, domain-specific data set: answers outside customer support are unreliable.",
    "Can state wrong order details, dates or policies with confidence; a person must review answers before they "
    "reach a customer.",
    "Not evaluated for safety-critical, legal or medical advice.",
]


def write_model_card(folder: Path | str, info: dict[str, Any]) -> tuple[Path, Path]:
    """Write MODEL_CARD.md and manifest.json into ``folder``; returns both paths."""
    folder = Path(folder)
    manifest = build_manifest(info)
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
        manifest["training_records_sha256"] = content_hash(path) if path.exists() else NOT_RECORDED
    return manifest


def read_manifest(folder: Path | str) -> dict[str, Any]:
    return json.loads((Path(folder) / MANIFEST_FILE).read_text(encoding="utf-8"))


def render_card(m: dict[str, Any]) -> str:
    base = m.get("base_model") or {}
    ev = m.get("evaluation") or {}
    lines = [f"# {m.get('model_name', 'model')} {m.get('version', '')}".rstrip(), "",
             f"Published {m['created_at']}; code version {m.get('code_version', NOT_RECORDED)}.", "",
             "## Base model", "",
             f"- name: {base.get('name', NOT_RECORDED)}" + (f" (revision {base['revision']})" if base.get("revision") else ""),
             f"- licence: {base.get('licence', NOT_RECORDED)}",
             f"- trust_remote_code: {str(base.get('trust_remote_code', NOT_RECORDED)).lower()}",
             f"- data version: {base.get('data_version', NOT_RECORDED)}", *_origin(base.get("origin")), "",
             "## Data", "", "Upstream assets and the data version each had when this model was built:", "",
             *_table(["asset", "data version"], sorted((m.get("upstream") or {}).items())), "",
             "Training rows per source:", "",
             *_table(["source", "rows"], sorted((m.get("sources") or {}).items())), "",
             f"Training record ids (id, origin_ids): `{m.get('training_records', NOT_RECORDED)}`", "",
             "## Training configuration", "", "```json",
             json.dumps(m.get("training") or {}, indent=2, sort_keys=True, default=str), "```", "",
             *_evaluation(ev), *_significance(m.get("significance")),
             *_significance(m.get("significance_unseen"), unseen=True), *_comparison(m.get("comparison")), *_forgetting(m), *_merge(m.get("merge")),
             "## Intended use", "", str(m["intended_use"]), "",
             "## Limitations", "", *[f"- {x}" for x in m["limitations"]], ""]
    flags = m.get("flags") or {}
    if flags:
        lines += ["## Flags", "", *[f"- {k}: {v}" for k, v in sorted(flags.items())], ""]
    return "\n".join(lines)


def _evaluation(ev: dict[str, Any]) -> list[str]:
    primary, chosen = ev.get("primary_metric", NOT_RECORDED), ev.get("chosen", NOT_RECORDED)
    checkpoints = ev.get("checkpoints") or []
    names = sorted({k for c in checkpoints for k in (c.get("metrics") or {})})
    label = lambda c: f"**{c} (chosen)**" if c == chosen else str(c)  # noqa: E731
    rows = [[label(c.get("checkpoint"))] + [_fmt((c.get("metrics") or {}).get(n)) for n in names]
            for c in checkpoints]
    return ["## Evaluation", "", f"Primary metric: {primary}"
            f" ({'higher' if ev.get('higher_is_better', True) else 'lower'} is better). Chosen checkpoint: {chosen}.",
            "", *_table(["checkpoint", *names], rows), ""]


def _origin(origin: dict[str, Any] | None) -> list[str]:
    if not origin:
        return []
    meta = origin.get("metadata") or {}
    return [f"- dequantised from GGUF `{origin.get('file')}` (SHA-256 {origin.get('sha256')}): "
            f"{meta.get('name', NOT_RECORDED)} by {meta.get('organization', NOT_RECORDED)}, "
            f"licence {meta.get('license', NOT_RECORDED)}"]


def _significance(sig: dict[str, Any] | None, unseen: bool = False) -> list[str]:
    """Fine-tuned vs zero-/few-shot prompting of the base, with the 95 % interval of each gain; ``unseen``: on
    the held-out set of products no training example mentions (left out when there is none)."""
    if unseen and not sig:
        return []
    rows = [[name.replace("_", "-"), metric, _fmt(b.get("baseline")), _fmt(b.get("tuned")), f"{b['diff']:+.4f}",
             f"[{b['ci_low']:+.4f}, {b['ci_high']:+.4f}]", b.get("n")]
            for name, by_metric in (sig or {}).items() for metric, b in by_metric.items() if b.get("n")]
    title = "## Against prompting, on unseen products" if unseen else "## Against prompting the base model"
    return [title, "",
            "The chosen checkpoint and the base model prompted zero-shot and few-shot, on the same held-out items"
            + (" about products that no training example mentions" if unseen else "") + "; "
            "95 % interval of the gain from a paired bootstrap (10,000 resamples of the items):", "",
            *_table(["base prompted", "metric", "base", "fine-tuned", "gain", "95 % CI", "items"], rows), ""]


def _comparison(c: dict[str, Any] | None) -> list[str]:
    if not c:
        return ["## Against the promoted version", "", NOT_RECORDED, ""]
    held_out, metric = c.get("held_out") or {}, c.get("metric", NOT_RECORDED)
    rows = [["this version", (c.get("candidate") or {}).get("version", ""),
             _fmt((c.get("candidate") or {}).get("value")), "as published"]]
    inc = c.get("incumbent")
    if inc:
        how = str(inc.get("measured", NOT_RECORDED))
        recorded = inc.get("recorded")
        if recorded:  # the number it was promoted with, on the set it was measured on then
            how += (f"; recorded {recorded.get('metric')} {_fmt(recorded.get('value'))} on held-out data "
                    f"{(recorded.get('held_out') or {}).get('data_version', NOT_RECORDED)}")
        rows.append(["promoted when published", inc.get("version", ""), _fmt(inc.get("value")), how])
    rows.append(["base model zero-shot", "", _fmt(c.get("base_zero_shot")), "base_baselines"])
    return ["## Against the promoted version", "",
            f"{metric} on held-out data version {held_out.get('data_version', NOT_RECORDED)} "
            f"(evaluator settings {held_out.get('settings', NOT_RECORDED)})"
            + ("" if inc else "; nothing was promoted when this version was published") + ":", "",
            *_table(["model", "version", metric, "measured"], rows), ""]


def _forgetting(m: dict[str, Any]) -> list[str]:
    f, leak = m.get("forgetting") or {}, m.get("leakage") or {}
    flag = f.get("flag")
    verdict = NOT_RECORDED if flag is None else ("FLAGGED: general capability regressed" if flag else "no regression")
    detail = f.get("detail")
    if isinstance(detail, dict):  # the forgetting check's result: say what kind of check it was, and its numbers
        detail = " ".join(str(detail[k]) for k in ("kind_note", "summary") if detail.get(k)) or None
    return ["## Forgetting and leakage", "", f"- forgetting: {verdict}" + (f" ({detail})" if detail else ""),
            f"- eval/train leakage: {leak.get('count', NOT_RECORDED)} example(s)"
            + (f" ({leak['detail']})" if leak.get("detail") else ""), ""]


def _merge(merge: dict[str, Any] | None) -> list[str]:
    if not merge:
        return ["## Merge verification", "", NOT_RECORDED, ""]
    lines = ["## Merge verification", "",
             f"- verified: {str(merge.get('verified')).lower()} (merged in {merge.get('dtype')})",
             *_merge_statistics(merge),
             f"- loads with plain transformers, without peft, in a fresh process: "
             f"{str(merge.get('loads_without_peft')).lower()}",
             f"- greedy generations equal base+adapter's: {str(merge.get('generations_match')).lower()}", ""]
    gens = merge.get("generations") or []
    if gens:
        lines += _table(["prompt", "merged answer", "equal"],
                        [[g["prompt"], repr(g["merged"])[:80], str(g["equal"]).lower()] for g in gens]) + [""]
    return lines


def _merge_statistics(merge: dict[str, Any]) -> list[str]:
    stats = merge.get("statistics") or {}
    m, r = stats.get("merged") or {}, stats.get("rounding_only") or {}
    lines = [f"- max |logit difference| merged vs base+adapter: {_fmt(merge.get('max_abs_diff'))}"
             + (f" (float32 tolerance {merge['tolerance']:g} x logit scale)" if merge.get("tolerance") else "")
             + f"; the adapter itself moves them by {_fmt(merge.get('adapter_effect'))}"]
    if m and r:
        lines.append(f"- per token, merged vs base+adapter: mean KL {_fmt(m.get('kl_mean'))}, top-1 agreement "
                     f"{_fmt(m.get('top1_agreement'))}; {merge.get('dtype')} rounding alone (unmerged adapter on a "
                     f"{merge.get('dtype')} base): {_fmt(r.get('kl_mean'))}, {_fmt(r.get('top1_agreement'))}; "
                     f"share of the adapter's effect carried: {_fmt(stats.get('adapter_effect_recovered'))}")
    return lines


def _table(header: list[str], rows) -> list[str]:
    rows = [list(r) for r in rows]
    if not rows:
        return [NOT_RECORDED]
    esc = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(esc(v) for v in r) + " |" for r in rows]]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return NOT_RECORDED if v is None else str(v)
