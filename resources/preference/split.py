"""Train / held-out split of preference pairs: SFT's cluster rule, and never a prompt SFT holds out.

Pairs are grouped before splitting, so a group lands on one side as a whole: pairs asking the same prompt
(case and whitespace folded), and pairs whose rows belong to one SFT duplicate cluster. A group is named by
its SFT cluster where it has one, so ``split_by_cluster`` with SFT's seed and fraction puts it on the side SFT
put that cluster on. On top of that rule comes the one that keeps the two stages from leaking into each other:
a group holding a prompt of the SFT held-out sets (or a row of a held-out SFT cluster) goes to the preference
held-out set, whatever its hash says, since DPO on a held-out prompt would teach the answer SFT is scored on.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from resources.dedup.clusters import UnionFind
from resources.prepare.split import split_by_cluster
from resources.preference.schema import fold, prompt_of, prompt_text
from resources.schema import prompt_messages


def held_out_prompts(held_out: pd.DataFrame) -> set[str]:
    """Folded prompt texts of SFT held-out examples."""
    return {fold(prompt_text(prompt_messages(ex))) for ex in held_out.to_dict("records")}


def split_pairs(pairs: pd.DataFrame, held_out: pd.DataFrame, sft_clusters: Mapping[str, str], *,
                eval_fraction: float, min_eval: int, seed: str, stratify_by_task: bool
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(train, eval, stats). ``pairs`` needs ``id``, ``task``, ``prompt`` and ``members``: [SFT example id ("" if
    none), folded prompt] of every input pair it stands for (itself and the duplicates it absorbed);
    ``held_out``: every SFT held-out example (eval and unseen); ``sft_clusters``: SFT example id -> its
    duplicate cluster (``deduplicated/clusters.parquet``)."""
    pairs = pairs.reset_index(drop=True)
    members = [[(str(sft_clusters.get(s, "")) if s else "", p) for s, p in m] for m in pairs["members"]]
    uf = UnionFind(len(pairs))
    first: dict[str, int] = {}
    for i, keys in enumerate(members):
        for cluster, prompt in keys:
            uf.union(i, first.setdefault(f"p\0{prompt}", i))
            if cluster:
                uf.union(i, first.setdefault(f"c\0{cluster}", i))
    groups = uf.groups()
    held_prompts = held_out_prompts(held_out)
    held_clusters = {str(sft_clusters.get(i, i)) for i in held_out["id"].astype(str)}
    name, forced = {}, set()
    for root, group in groups.items():
        keys = [k for m in group for k in members[m]]
        sft = sorted(c for c, _ in keys if c)
        name[root] = sft[0] if sft else min(pairs.at[m, "id"] for m in group)
        if any(p in held_prompts or c in held_clusters for c, p in keys):
            forced.add(root)
    cluster_of = {pairs.at[i, "id"]: name[uf.find(i)] for i in range(len(pairs))}
    train, evals, stats = split_by_cluster(pairs, cluster_of, eval_fraction=eval_fraction, min_eval=min_eval,
                                           seed=seed, stratify_by_task=stratify_by_task)
    forced_ids = {pairs.at[m, "id"] for root in forced for m in groups[root]}
    move = train["id"].isin(forced_ids)
    if move.any():
        evals = pd.concat([evals, train[move]]).sort_values("id").reset_index(drop=True)
        train = train[~move].reset_index(drop=True)
    in_train = [i for i, p in zip(train["id"], train["prompt"]) if fold(prompt_text(prompt_of({"prompt": p})))
                in held_prompts]
    stats.update({"train_rows": len(train), "eval_rows": len(evals), "forced_to_eval": int(move.sum()),
                  "held_out_groups": len(forced), "sft_held_out_prompts_in_train": sorted(in_train),
                  "train_by_task": _by_task(train), "eval_by_task": _by_task(evals)})
    return train, evals, stats


def _by_task(frame: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(frame["task"].value_counts().items())}
