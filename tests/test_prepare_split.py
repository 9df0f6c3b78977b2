"""Train / held-out split by duplicate cluster: deterministic, stable across drops, clusters never straddle."""

import pandas as pd
import pytest

from resources.prepare.split import split_by_cluster
from resources.schema import EXAMPLE_COLUMNS, make_example


def _table(n, tasks=("extract_order", "summarise", "policy_qa"), drop="d1"):
    rows = [make_example(source="teacher_synthetic", drop=drop, row=i, task=tasks[i % len(tasks)],
                         messages=[{"role": "user", "content": f"question {i}"},
                                   {"role": "assistant", "content": f"answer {i}"}]) for i in range(1, n + 1)]
    return pd.DataFrame(rows, columns=list(EXAMPLE_COLUMNS))


def test_split_is_deterministic_and_order_independent():
    table = _table(300)
    train1, eval1, stats1 = split_by_cluster(table)
    train2, eval2, stats2 = split_by_cluster(table.sample(frac=1.0, random_state=7))
    pd.testing.assert_frame_equal(train1, train2)
    pd.testing.assert_frame_equal(eval1, eval2)
    assert stats1 == stats2
    assert set(train1["id"]).isdisjoint(eval1["id"]) and len(train1) + len(eval1) == 300
    assert 15 <= len(eval1) <= 45  # about 10 %
    other_seed = split_by_cluster(table, seed="another")[1]
    assert set(other_seed["id"]) != set(eval1["id"])


def test_whole_clusters_move_together():
    table = _table(240)
    ids = list(table["id"])
    clusters = {i: ids[(k // 4) * 4] for k, i in enumerate(ids)}  # clusters of 4 near-duplicates
    train, evals, stats = split_by_cluster(table, clusters, eval_fraction=0.25)
    side = {i: "eval" for i in evals["id"]} | {i: "train" for i in train["id"]}
    for rep in set(clusters.values()):
        assert len({side[i] for i, c in clusters.items() if c == rep}) == 1, rep
    assert stats["clusters"] == 60 and len(evals) % 4 == 0 and len(evals) > 0


def test_old_clusters_keep_their_side_when_new_data_arrives():
    old = _table(200)
    new = pd.concat([old, _table(200, drop="d2")], ignore_index=True)
    _, eval_old, _ = split_by_cluster(old, min_eval=0, stratify_by_task=False)
    train_new, eval_new, _ = split_by_cluster(new, min_eval=0, stratify_by_task=False)
    assert set(eval_old["id"]) <= set(eval_new["id"])
    assert set(eval_old["id"]).isdisjoint(train_new["id"])


def test_min_eval_and_task_coverage_on_small_data():
    table = _table(40, tasks=("a", "b", "c", "d"))
    train, evals, stats = split_by_cluster(table, eval_fraction=0.1, min_eval=8)
    assert len(evals) >= 8 and len(train) >= 20
    assert set(stats["eval_by_task"]) == {"a", "b", "c", "d"}  # ten clusters per task: each gets one


def test_tiny_data_still_trains():
    train, evals, _ = split_by_cluster(_table(6), min_eval=8)
    assert len(evals) <= 3 and len(train) >= 3


def test_duplicate_ids_are_refused():
    table = _table(5)
    with pytest.raises(ValueError, match="teacher_synthetic/d1/1"):
        split_by_cluster(pd.concat([table, table.iloc[:1]]))
