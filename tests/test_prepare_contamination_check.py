"""The blocking asset check on training_datasets reports contaminated items and fails on anything left over."""

import json

import pandas as pd

from assets.checks import no_contamination
from resources.artifact_store import ArtifactStore
from resources.dedup.resource import Deduplicator
from resources.layout import Layout
from resources.prepare.decontaminate import decontaminate
from resources.schema import EXAMPLE_COLUMNS, make_example

ITEM = ("college_biology_test/12", "Which of the following organelles is the site of the Krebs cycle in eukaryotic "
        "cells?\nMitochondrial matrix\nCytosol\nInner mitochondrial membrane\nNucleus")


def _ex(row, user, drop="d1"):
    return make_example(source="teacher_synthetic", drop=drop, row=row, task="policy_qa",
                        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": "Noted."}])


def _stats(tmp_path, stats) -> ArtifactStore:
    store = ArtifactStore(root=str(tmp_path))
    folder = Layout(store.path()).datasets()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stats.json").write_text(json.dumps(stats))
    return store


def _check(store):
    return no_contamination(store=store)


def test_check_passes_and_names_the_removed_rows(tmp_path):
    train = pd.DataFrame([_ex(1, "Tell me about shipping to Austria, please."),
                          _ex(2, "Homework help:\n" + ITEM[1] + "\nI think it is the cytosol?")],
                         columns=list(EXAMPLE_COLUMNS))
    held = pd.DataFrame([_ex(1, "How long does a refund take?", drop="held")], columns=list(EXAMPLE_COLUMNS))
    _, _, _, dec = decontaminate(train, held, [ITEM], Deduplicator().near_pairs)
    result = _check(_stats(tmp_path, {"decontamination": dec, "contamination_remaining": dec["remaining"]}))
    assert result.passed
    table = result.metadata["contaminated_items"].value
    assert ITEM[0] in table and "teacher_synthetic/d1/2" in table
    assert result.metadata["removed_contaminating_benchmark"].value == 1


def test_check_fails_when_contamination_remains_or_was_never_checked(tmp_path):
    left = [["teacher_synthetic/d1/2", "benchmark", ITEM[0]]]
    failed = _check(_stats(tmp_path / "a", {"decontamination": {}, "contamination_remaining": left}))
    assert not failed.passed and ITEM[0] in failed.metadata["remaining_rows"].value
    assert not _check(_stats(tmp_path / "b", {"leaks": []})).passed
