"""Deterministic train / held-out split by duplicate cluster.

Whole clusters (an example plus the near-duplicates it absorbed) go to one side, so a paraphrase of a held-out
item can never sit in training. A cluster is held out when a stable hash of its id falls below
``eval_fraction``: the decision depends on nothing but the id and the seed, so when a new data drop arrives,
every old cluster stays on the side it was on (a held-out item never moves into training later), and the
same input always gives byte-identical splits. ``min_eval`` and per-task coverage top the eval side up with
the clusters whose hashes come next, which is just as deterministic.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Mapping

import pandas as pd


def cluster_hash(cluster_id: str, seed: str) -> float:
    """A number in [0, 1) fixed by the cluster id and the seed."""
    digest = hashlib.sha256(f"{seed}\0{cluster_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def split_by_cluster(examples: pd.DataFrame, clusters: Mapping[str, str] | None = None, *,
                     eval_fraction: float = 0.1, min_eval: int = 8, seed: str = "privft-split-1",
                     stratify_by_task: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Return (train, eval, stats). ``clusters`` maps example id -> cluster id; an id not in it is its own cluster.

    Topping up (min_eval, per-task coverage) never takes eval past half of the rows, so a tiny dataset still
    trains on something.
    """
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction {eval_fraction}: must lie strictly between 0 and 1")
    if examples["id"].duplicated().any():
        dup = examples.loc[examples["id"].duplicated(), "id"].iloc[0]
        raise ValueError(f"split: example id {dup!r} appears more than once; deduplicate before splitting")
    clusters = dict(clusters or {})
    ids = examples["id"].astype(str).tolist()
    cluster_of = {i: str(clusters.get(i, i)) for i in ids}
    members: dict[str, list[str]] = defaultdict(list)
    for i in ids:
        members[cluster_of[i]].append(i)
    task_of_id = dict(zip(ids, examples["task"].astype(str))) if "task" in examples else {i: "" for i in ids}
    # A cluster's task is its members' most common task (ties: alphabetical), for stratification.
    cluster_task = {c: sorted(Counter(task_of_id[i] for i in m).most_common(),
                              key=lambda kv: (-kv[1], kv[0]))[0][0] for c, m in members.items()}
    order = sorted(members, key=lambda c: (cluster_hash(c, seed), c))  # the order clusters are held out in
    held = {c for c in order if cluster_hash(c, seed) < eval_fraction}

    cap = len(ids) // 2
    size = sum(len(members[c]) for c in held)

    def hold(c: str) -> None:
        nonlocal size
        held.add(c)
        size += len(members[c])

    if stratify_by_task:
        # Every task with enough clusters to expect one held out gets at least one, so per-task metrics exist.
        by_task: dict[str, list[str]] = defaultdict(list)
        for c in order:
            by_task[cluster_task[c]].append(c)
        for task, cs in sorted(by_task.items()):
            if len(cs) >= math.ceil(1 / eval_fraction) and not held.intersection(cs):
                if size + len(members[cs[0]]) <= cap:
                    hold(cs[0])
    for c in order:  # top up to min_eval rows with the next clusters in hash order
        if size >= min(min_eval, cap):
            break
        if c not in held and size + len(members[c]) <= cap:
            hold(c)

    is_eval = pd.Series([cluster_of[i] in held for i in ids], index=examples.index, dtype=bool)
    train = examples[~is_eval].sort_values("id").reset_index(drop=True)
    evals = examples[is_eval].sort_values("id").reset_index(drop=True)
    stats = {
        "rows": len(examples), "clusters": len(members), "train_rows": len(train), "eval_rows": len(evals),
        "eval_clusters": len(held), "eval_fraction": eval_fraction, "seed": seed,
        "train_by_task": {k: int(v) for k, v in sorted(Counter(train["task"]).items())} if "task" in train else {},
        "eval_by_task": {k: int(v) for k, v in sorted(Counter(evals["task"]).items())} if "task" in evals else {},
    }
    return train, evals, stats

