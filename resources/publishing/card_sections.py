"""Sections of the model card that report checks: against prompting, against the promoted version, forgetting,
merge verification; and the table and number formats every section shares."""

from __future__ import annotations

from typing import Any

NOT_RECORDED = "not recorded"


def significance_section(sig: dict[str, Any] | None, unseen: bool = False) -> list[str]:
    """Fine-tuned vs zero-/few-shot prompting of the base, with the 95 % interval of each gain; ``unseen``: on
    the held-out set of products no training example mentions (left out when there is none)."""
    if unseen and not sig:
        return []
    rows = [[name.replace("_", "-"), metric, fmt(b.get("baseline")), fmt(b.get("tuned")), f"{b['diff']:+.4f}",
             f"[{b['ci_low']:+.4f}, {b['ci_high']:+.4f}]", b.get("n")]
            for name, by_metric in (sig or {}).items() for metric, b in by_metric.items() if b.get("n")]
    title = "## Against prompting, on unseen products" if unseen else "## Against prompting the base model"
    return [title, "",
            "The chosen checkpoint and the base model prompted zero-shot and few-shot, on the same held-out items"
            + (" about products that no training example mentions" if unseen else "") + "; "
            "95 % interval of the gain from a paired bootstrap (10,000 resamples of the items):", "",
            *table(["base prompted", "metric", "base", "fine-tuned", "gain", "95 % CI", "items"], rows), ""]


def comparison_section(c: dict[str, Any] | None) -> list[str]:
    if not c:
        return ["## Against the promoted version", "", NOT_RECORDED, ""]
    held_out, metric = c.get("held_out") or {}, c.get("metric", NOT_RECORDED)
    rows = [["this version", (c.get("candidate") or {}).get("version", ""),
             fmt((c.get("candidate") or {}).get("value")), "as published"]]
    inc = c.get("incumbent")
    if inc:
        how = str(inc.get("measured", NOT_RECORDED))
        recorded = inc.get("recorded")
        if recorded:  # the number it was promoted with, on the set it was measured on then
            how += (f"; recorded {recorded.get('metric')} {fmt(recorded.get('value'))} on held-out data "
                    f"{(recorded.get('held_out') or {}).get('data_version', NOT_RECORDED)}")
        rows.append(["promoted when published", inc.get("version", ""), fmt(inc.get("value")), how])
    rows.append(["base model zero-shot", "", fmt(c.get("base_zero_shot")), "base_baselines"])
    return ["## Against the promoted version", "",
            f"{metric} on held-out data version {held_out.get('data_version', NOT_RECORDED)} "
            f"(evaluator settings {held_out.get('settings', NOT_RECORDED)})"
            + ("" if inc else "; nothing was promoted when this version was published") + ":", "",
            *table(["model", "version", metric, "measured"], rows), ""]


def forgetting_section(m: dict[str, Any]) -> list[str]:
    f, leak = m.get("forgetting") or {}, m.get("leakage") or {}
    detail = f.get("detail") if isinstance(f.get("detail"), dict) else {"summary": f.get("detail")}
    lines = ["## Forgetting and leakage", "", forgetting_sentence(f.get("flag"), detail), ""]
    if detail.get("checkpoint_accuracy") is not None:
        se = detail.get("stderr")
        lines += table(["benchmark", "items", "subjects", "base model", "fine-tuned", "difference", "allowed drop",
                        "scoring"],
                       [[detail.get("benchmark", NOT_RECORDED), detail.get("n", NOT_RECORDED),
                         len(detail.get("subjects") or {}) or NOT_RECORDED, fmt(detail.get("base_accuracy")),
                         fmt(detail.get("checkpoint_accuracy")),
                         f"{detail.get('diff', 0.0):+.4f}" + (f" ± {se:.4f} (paired SE)" if se is not None else ""),
                         fmt(detail.get("tolerance")), detail.get("scoring", NOT_RECORDED)]]) + [""]
    lines += [f"Eval/train leakage: {leak.get('count', NOT_RECORDED)} held-out example(s) found in the training set.",
              ""]
    return lines


def forgetting_sentence(flag: Any, detail: dict[str, Any]) -> str:
    if flag is None:
        return f"Forgetting: {NOT_RECORDED}."
    if detail.get("checkpoint_accuracy") is None:  # an older or hand-written record: its words, as they are
        said = " ".join(str(detail[k]) for k in ("kind_note", "summary") if detail.get(k))
        return "Forgetting: " + ("FLAGGED, general capability regressed" if flag else "no regression found") + \
            (f" ({said})." if said else ".")
    smoke = detail.get("kind") == "smoke"
    what = ("On the toy smoke benchmark (it shows the scoring runs, not whether general knowledge was kept)"
            if smoke else f"On {detail.get('n')} general-knowledge questions ({len(detail.get('subjects') or {})} "
            "subjects)")
    verdict = ("which is more than the allowed drop: FLAGGED, general capability regressed" if flag else
               "within the allowed drop: no regression found")
    return (f"{what}, the fine-tuned model answers {detail['checkpoint_accuracy']:.1%} correctly and the base model "
            f"{detail.get('base_accuracy', 0.0):.1%}, a difference of {100 * detail.get('diff', 0.0):+.1f} points, "
            f"{verdict}.")


def merge_section(merge: dict[str, Any] | None) -> list[str]:
    if not merge:
        return ["## Merge verification", "", NOT_RECORDED, ""]
    lines = ["## Merge verification", "",
             f"- verified: {str(merge.get('verified')).lower()} (merged in {merge.get('dtype')})",
             *merge_statistics(merge),
             f"- loads with plain transformers, without peft, in a fresh process: "
             f"{str(merge.get('loads_without_peft')).lower()}",
             f"- greedy generations equal base+adapter's: {str(merge.get('generations_match')).lower()}", ""]
    gens = merge.get("generations") or []
    if gens:
        lines += table(["prompt", "merged answer", "equal"],
                        [[g["prompt"], repr(g["merged"])[:80], str(g["equal"]).lower()] for g in gens]) + [""]
    return lines


def merge_statistics(merge: dict[str, Any]) -> list[str]:
    stats = merge.get("statistics") or {}
    m, r = stats.get("merged") or {}, stats.get("rounding_only") or {}
    lines = [f"- max |logit difference| merged vs base+adapter: {fmt(merge.get('max_abs_diff'))}"
             + (f" (float32 tolerance {merge['tolerance']:g} x logit scale)" if merge.get("tolerance") else "")
             + f"; the adapter itself moves them by {fmt(merge.get('adapter_effect'))}"]
    if m and r:
        lines.append(f"- per token, merged vs base+adapter: mean KL {fmt(m.get('kl_mean'))}, top-1 agreement "
                     f"{fmt(m.get('top1_agreement'))}; {merge.get('dtype')} rounding alone (unmerged adapter on a "
                     f"{merge.get('dtype')} base): {fmt(r.get('kl_mean'))}, {fmt(r.get('top1_agreement'))}; "
                     f"share of the adapter's effect carried: {fmt(stats.get('adapter_effect_recovered'))}")
    return lines


def table(header: list[str], rows) -> list[str]:
    rows = [list(r) for r in rows]
    if not rows:
        return [NOT_RECORDED]
    esc = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(esc(v) for v in r) + " |" for r in rows]]


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return NOT_RECORDED if v is None else str(v)
