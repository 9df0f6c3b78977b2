"""training_datasets on the embedded samples with and without unseen products, and the leak check over both."""

import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from assets.checks import no_leakage
from resources.artifact_store import ArtifactStore
from resources.prepare.unseen import UNSEEN_EVAL_FILE, rows_mentioning
from sample_datasets import build, ingest_and_deduplicate

TERMS = ["Tromsø desk lamp", "Hygge scented candle"]
# sha-256 of each file (stats.json: sorted keys, record_set path reduced to its name) as the build wrote them
# before unseen_terms existed, with the tiny model's tokenizer. A pandas/pyarrow upgrade that changes Parquet
# bytes changes these too; re-record them from a build with unseen_terms unset and check that only bytes moved.
BEFORE = {
    "accounting.parquet": "1e8b3c6e8059966040a75b997de2066b4976e66572e83da0106dd56d385791b9",
    "accounting_sources.parquet": "e6d8561f9b58954e1f3cd6e4ed631f10894e0073cee5778cf0d782c7470a93f7",
    "eval.parquet": "835e958eb9dbd43e40730f836ce84c260ddbef50208ac517b63a389e3332cc83",
    "ledger.parquet": "6dbd49c4123f73eb13ad5355da181ff90c1f9447fe90ff9f6813cc2a864b3730",
    "stats.json": "01fe8ab826840cc21091a61a7f01208b6f5fb4b454be366bd98370ab7bc90c45",
    "train.parquet": "2cb8992cd6591762591505c756d63df75332d8e97a1148fc3ab3c439b9d831c3",
}


def _digest(path: Path) -> str:
    data = path.read_bytes()
    if path.name == "stats.json":
        stats = json.loads(data)
        stats["record_set"] = Path(stats["record_set"]).name
        data = json.dumps(stats, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def builds(tmp_path_factory, tiny_model_dir):
    """The same deduplicated samples built without, then with, unseen products (files copied in between)."""
    root = tmp_path_factory.mktemp("unseen")
    layout = ingest_and_deduplicate(root)
    build(layout, tiny_model_dir)
    plain = {p.name: p.read_bytes() for p in layout.datasets().iterdir()}
    digests = {p.name: _digest(p) for p in layout.datasets().iterdir()}
    result = build(layout, tiny_model_dir, unseen_terms=TERMS)
    return {"plain": plain, "digests": digests, "result": result, "folder": layout.datasets(), "root": root}


def test_without_unseen_terms_the_datasets_are_byte_identical_to_before(builds):
    assert builds["digests"] == BEFORE
    assert UNSEEN_EVAL_FILE not in builds["plain"]


def test_unseen_products_leave_train_and_eval_and_the_books_still_balance(builds):
    folder = builds["folder"]
    read = lambda name: pd.read_parquet(folder / name)  # noqa: E731
    train, held, unseen = read("train.parquet"), read("eval.parquet"), read(UNSEEN_EVAL_FILE)
    old_eval = pd.read_parquet(io.BytesIO(builds["plain"]["eval.parquet"]))
    assert len(unseen) > 0 and rows_mentioning(train, TERMS) == [] and rows_mentioning(held, TERMS) == []
    assert {t for _, t in rows_mentioning(unseen, TERMS)} == set(TERMS)
    # the ordinary held-out set is what it was, minus the unseen rows, in the same order
    pd.testing.assert_frame_equal(held, old_eval[~old_eval["id"].isin(unseen["id"])].reset_index(drop=True))
    ledger = read("ledger.parquet").set_index("id")
    assert (ledger.loc[unseen["id"], "state"] == "kept").all()
    assert read("accounting.parquet")["balanced"].all()
    stats = json.loads((folder / "stats.json").read_text())["unseen_eval"]
    assert stats["rows"] == len(unseen) == builds["result"].unseen_rows and stats["in_train"] == []
    assert stats["from_train"] + stats["from_eval"] == len(unseen) and stats["from_eval"] > 0
    assert sum(stats["by_term"].values()) == len(unseen)


def test_the_leak_check_passes_and_fails_on_an_unseen_product_in_train(builds):
    store = ArtifactStore(root=str(builds["root"]))
    assert no_leakage(store=store).passed
    folder = builds["folder"]
    train, unseen = pd.read_parquet(folder / "train.parquet"), pd.read_parquet(folder / UNSEEN_EVAL_FILE)
    pd.concat([train, unseen.iloc[:1]], ignore_index=True).to_parquet(folder / "train.parquet")
    try:
        failed = no_leakage(store=store)
    finally:
        train.to_parquet(folder / "train.parquet")
    assert not failed.passed and failed.metadata["unseen_product_leaks"].value == 2  # names it, and is an item
    assert unseen["id"].iloc[0] in failed.metadata["unseen_examples"].value
