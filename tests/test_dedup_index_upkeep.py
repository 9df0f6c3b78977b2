"""The MinHash index follows the data: rebuilt for other settings, a re-delivered drop replaces its old rows."""

from __future__ import annotations

import json

import pandas as pd

from resources.dedup.resource import Deduplicator
from resources.dedup.index import MinHashIndex
from test_dedup_engine import A, B, OTHER, by_id, frame, text


def test_other_settings_rebuild_the_index_and_say_so(tmp_path):
    index = tmp_path / "idx"
    items = frame([("s/d/1", A, "s", ""), ("s/d/2", B, "s", ""), ("s/d/3", OTHER, "s", "")])
    first = Deduplicator().deduplicate(items, index_dir=index)
    assert Deduplicator().index_status(index) == "reused"
    for changed in (Deduplicator(num_perm=64), Deduplicator(threshold=0.9), Deduplicator(shingle_size=4)):
        status = changed.index_status(index)
        assert status.startswith("rebuilt: built with other settings (") and "->" in status
        again = changed.deduplicate(items, index_dir=index)  # no "delete the folder" error
        pd.testing.assert_frame_equal(again, changed.deduplicate(items))  # decided afresh, as without an index
        stored = json.loads((index / "settings.json").read_text())
        assert (stored["num_perm"], stored["threshold"], stored["shingle_size"]) == (
            changed.num_perm, changed.threshold, changed.shingle_size)
        assert changed.index_status(index) == "reused"
    assert Deduplicator().index_status(tmp_path / "nothing") == "new"
    assert by_id(first)["s/d/2"] == ("s/d/1", "near")


def test_redelivered_drop_replaces_its_old_rows(tmp_path):
    index = tmp_path / "idx"
    dedup = Deduplicator()
    old_drop = [("r/d1/1", A, "r", "2024-01-01"), ("r/d1/2", OTHER, "r", "2024-01-02")]
    history = [("r/d0/1", B, "r", "2023-01-01"),          # near A, older: A's row survives
               ("r/d0/2", OTHER.upper(), "r", "2025-01-01"),  # exact OTHER, newer: it survives
               ("r/d0/3", text(11), "r", "2023-01-01")]
    first = by_id(dedup.deduplicate(frame(old_drop + history), index_dir=index))
    assert first["r/d0/1"] == ("r/d1/1", "near") and first["r/d1/2"] == ("r/d0/2", "exact")

    # The corrected file: row 1 rewritten, row 2 gone, a row 3 added.
    corrected = [("r/d1/1", text(12), "r", "2024-01-01"), ("r/d1/3", text(13), "r", "2024-01-03")]
    result = by_id(dedup.deduplicate(frame(corrected + history), index_dir=index))
    assert result == {"r/d1/1": (None, None), "r/d1/3": (None, None),
                      "r/d0/1": (None, None),  # its survivor's text is gone, so it is no longer a duplicate
                      "r/d0/2": (None, None), "r/d0/3": (None, None)}
    stored = MinHashIndex.load(index)
    assert sorted(stored.ids) == sorted(i for i, *_ in corrected + history)  # r/d1/2 is out of the index
    # the next run reuses what was decided, and a copy of the new row 1 meets it
    again = by_id(dedup.deduplicate(frame([("r/d2/1", text(12).upper(), "r", "2025-02-01")]), index_dir=index))
    assert again == {"r/d2/1": ("r/d1/1", "exact")}
