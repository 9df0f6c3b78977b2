"""Exact and near-duplicate removal: which rows of a table survive, and which row each duplicate stands under.

1. Exact duplicates: equal normalised text (lower-cased, whitespace collapsed), by a digest.
2. Near duplicates: MinHash LSH proposes candidate pairs, and a pair counts only if the exact Jaccard similarity
   of the two shingle sets reaches ``threshold`` (so what is removed really is that similar: precision).
3. Clusters are transitive (union-find over verified pairs); every non-survivor points at the survivor chosen
   by ``clusters.SurvivorRule``: source priority, then newest ``created_at``, then smallest id.

With ``index_dir`` the run is incremental (``index.MinHashIndex``): ids already indexed keep the decision made
when they were first seen and are not re-hashed; new rows are compared with each other and with everything
indexed. A new row that duplicates an indexed survivor points at that survivor even if the new row would rank
higher: a decision already published (and maybe trained on) is never silently reversed. An index built with
other settings is rebuilt, and a re-delivered drop (an indexed id with other text) replaces its old rows
(``index_upkeep``).

Plain Python (the ``privft dedup`` command and the benchmarks run it without dagster); the pipeline configures it
through the ``Deduplicator`` resource (resource.py), whose fields are ``DedupSettings``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from resources.dedup.bands import candidate_pairs, cross_candidate_pairs, lsh_params
from resources.dedup.clusters import SurvivorRule, UnionFind, timestamps
from resources.dedup.index import IndexSettings, MinHashIndex
from resources.dedup.index_upkeep import forget_redelivered, index_status, open_index
from resources.dedup.jaccard import SetCache, jaccard, verified, verify_pairs
from resources.dedup.minhash import HashedBatch, MinHasher
from resources.dedup.settings import DedupSettings
from resources.dedup.shingles import Shingling
from resources.dedup.tokens import text_digests

REQUIRED_COLUMNS = ("id", "text", "source", "created_at")
RESULT_COLUMNS = ("id", "duplicate_of", "kind", "similarity")
EXACT, NEAR = "exact", "near"


class DedupEngine(DedupSettings):
    """Finds exact and near duplicates (Jaccard on word 3-gram shingles, MinHash LSH + exact verification) with
    the settings it is built with (settings.py)."""

    # --- building blocks -----------------------------------------------------------------------------------
    def _shingling(self) -> Shingling:
        return Shingling(size=self.shingle_size, unit="word", min_words=self.char_fallback_words)

    def _hasher(self) -> MinHasher:
        return MinHasher(self.num_perm, self.seed, self._shingling(), workers=self.workers or None)

    def _bands(self) -> tuple[int, int]:
        return lsh_params(self.threshold, self.num_perm, self.false_negative_weight)

    def index_settings(self) -> IndexSettings:
        b, r = self._bands()
        sh = self._shingling()
        return IndexSettings(threshold=self.threshold, num_perm=self.num_perm, seed=self.seed,
                             shingle_size=sh.size, shingle_unit=sh.unit, min_words=sh.min_words, bands=b, rows=r)

    def index_status(self, index_dir: Path | str | None) -> str:
        """What ``deduplicate`` will do with ``index_dir``: "new", "reused" or "rebuilt: why" (asked before)."""
        return index_status(index_dir, self.index_settings())

    # --- pairs ---------------------------------------------------------------------------------------------
    def near_pairs(self, queries: list[str], references: list[str]) -> list[tuple[int, int, float]]:
        """(query index, reference index, exact Jaccard) for every query that near-duplicates a reference
        (Jaccard >= threshold), sorted; what decontamination against an evaluation set asks."""
        hasher = self._hasher()
        hq, hr = hasher.hash(queries), hasher.hash(references)
        q_rows, r_rows = _nonempty(hq), _nonempty(hr)
        if not len(q_rows) or not len(r_rows):
            return []
        pairs = cross_candidate_pairs(hq.signatures[q_rows], hr.signatures[r_rows], *self._bands())
        pairs = np.stack([q_rows[pairs[:, 0]], r_rows[pairs[:, 1]]], axis=1) if len(pairs) else pairs
        found = verify_pairs(pairs, SetCache(hq.shingle_set), self.threshold, SetCache(hr.shingle_set))
        return sorted(found)

    def self_pairs(self, texts: list[str]) -> list[tuple[int, int, float]]:
        """(i, j, exact Jaccard) with i < j for every pair of ``texts`` at or above the threshold, sorted."""
        batch = self._hasher().hash(texts)
        return sorted(self._pairs_within(batch))

    def _pairs_within(self, batch: HashedBatch) -> list[tuple[int, int, float]]:
        rows = _nonempty(batch)
        pairs = candidate_pairs(batch.signatures[rows], *self._bands())
        pairs = rows[pairs] if len(pairs) else pairs
        return verify_pairs(pairs, SetCache(batch.shingle_set), self.threshold)

    # --- deduplication -------------------------------------------------------------------------------------
    def deduplicate(self, items: pd.DataFrame, index_dir: Path | str | None = None) -> pd.DataFrame:
        """One row per input row, in input order: id, duplicate_of (None for survivors), kind ("exact",
        "near" or None) and similarity (exact Jaccard with the survivor; 1.0 for exact; NaN for survivors)."""
        missing = [c for c in REQUIRED_COLUMNS if c not in items.columns]
        if missing:
            raise ValueError(f"deduplicate: items lack column(s) {missing}; expected {list(REQUIRED_COLUMNS)}")
        ids = items["id"].astype(str).tolist()
        repeated = pd.Index(ids)[pd.Index(ids).duplicated()].unique().tolist()
        if repeated:
            raise ValueError(f"deduplicate: ids must be unique, repeated: {repeated[:5]}")
        texts = [t if isinstance(t, str) else "" for t in items["text"].tolist()]
        sources = items["source"].tolist()
        created = ["" if _blank(c) else str(c) for c in items["created_at"].tolist()]

        index_path = Path(index_dir) if index_dir is not None else None
        index, status = open_index(index_path, self.index_settings())

        decisions: list[tuple[Any, Any, float]] = [(None, None, float("nan"))] * len(ids)
        known = [i for i, x in enumerate(ids) if x in index]
        digests = text_digests([texts[i] for i in known], self._shingling()) if known else []
        changed = [ids[i] for i, d in zip(known, digests) if index.record(index.position(ids[i]))["digest"] != d]
        forgotten = forget_redelivered(index, changed, set(ids))  # a corrected drop is decided again
        for i in known:
            if ids[i] in index:
                rec = index.record(index.position(ids[i]))
                sim = rec["similarity"]
                decisions[i] = (rec["duplicate_of"], rec["kind"], float("nan") if sim is None else float(sim))

        new = [i for i, x in enumerate(ids) if x not in index]
        if new:
            batch = self._hasher().hash([texts[i] for i in new])
            new_decisions = self._decide(batch, [ids[i] for i in new], [sources[i] for i in new],
                                         [created[i] for i in new], index)
            for i, d in zip(new, new_decisions):
                decisions[i] = d
            if index_path is not None:
                index.add([ids[i] for i in new], batch, [
                    {"digest": digest, "source": "" if _blank(sources[i]) else str(sources[i]),
                     "created_at": created[i], "duplicate_of": d[0], "kind": d[1],
                     "similarity": None if np.isnan(d[2]) else d[2]}
                    for i, digest, d in zip(new, batch.digests, new_decisions)])
        if index_path is not None and (new or forgotten or status != "reused"):
            index.save(index_path)

        # object columns keep None (pandas 3 would otherwise infer a string dtype with NaN for survivors)
        return pd.DataFrame({"id": pd.Series(ids, dtype=object),
                             "duplicate_of": pd.Series([d[0] for d in decisions], dtype=object),
                             "kind": pd.Series([d[1] for d in decisions], dtype=object),
                             "similarity": np.array([d[2] for d in decisions], dtype=float)},
                            columns=list(RESULT_COLUMNS))

    def _decide(self, batch: HashedBatch, ids: list[str], sources: list[Any], created: list[str],
                index: MinHashIndex) -> list[tuple[Any, Any, float]]:
        """Decisions for rows not yet indexed, compared with each other and with the index."""
        # Exact groups: one union-find node per distinct normalised text, represented by its first row.
        group_of_row, _ = pd.factorize(pd.Series(batch.digests, dtype=object))
        n_groups = int(group_of_row.max()) + 1 if len(group_of_row) else 0
        _, reps = np.unique(group_of_row, return_index=True)
        uf = UnionFind(n_groups)
        set_of = SetCache(lambda g: batch.shingle_set(int(reps[g])))

        # Indexed survivors join the union-find as extra nodes.
        stored_node: dict[int, int] = {}

        def node_of_stored(pos: int) -> int:
            survivor = index.survivor(pos)
            if survivor not in stored_node:
                stored_node[survivor] = uf.add()
            return stored_node[survivor]

        if len(index):
            stored_digests = index.digest_positions()
            for g, row in enumerate(reps.tolist()):
                pos = stored_digests.get(batch.digests[row])
                if pos is not None:
                    uf.union(g, node_of_stored(pos))

        # Near duplicates among the new groups: LSH candidates, verified; pairs already clustered are skipped.
        live = np.flatnonzero(np.diff(batch.offsets)[reps] > 0)
        pairs = candidate_pairs(batch.signatures[reps[live]], *self._bands())
        for a, b in (live[pairs] if len(pairs) else pairs).tolist():
            if uf.find(a) != uf.find(b) and verified(set_of(a), set_of(b), self.threshold) is not None:
                uf.union(a, b)

        # ... and between new groups and everything indexed.
        stored_sets = SetCache(index.shingle_set)
        if len(index):
            for g in live.tolist():
                for pos in index.query(batch.signatures[reps[g]]):
                    node = node_of_stored(pos)
                    if uf.find(g) == uf.find(node):
                        continue
                    if verified(set_of(g), stored_sets(pos), self.threshold) is not None:
                        uf.union(g, node)

        # Only clusters of more than one row need a survivor (most rows are alone).
        root_of_group = np.array([uf.find(g) for g in range(n_groups)], dtype=np.int64)
        root_of_row = root_of_group[group_of_row]
        rows_per_root = np.bincount(root_of_row, minlength=len(uf.parent))
        stored_roots = {uf.find(node): [] for node in stored_node.values()}
        for pos, node in stored_node.items():
            stored_roots[uf.find(node)].append(pos)
        busy = rows_per_root[root_of_row] > 1
        if stored_roots:
            busy |= np.isin(root_of_row, np.fromiter(stored_roots, np.int64, len(stored_roots)))
        members: dict[int, list[int]] = {}
        for row, root in zip(np.flatnonzero(busy).tolist(), root_of_row[busy].tolist()):
            members.setdefault(root, []).append(row)

        rule = SurvivorRule(self.source_priority)
        busy_rows = np.flatnonzero(busy).tolist()
        seconds = dict(zip(busy_rows, timestamps([created[r] for r in busy_rows])))
        decisions: list[tuple[Any, Any, float]] = [(None, None, float("nan"))] * len(ids)
        for root, rows in members.items():
            if root in stored_roots:
                recs = [index.record(pos) for pos in stored_roots[root]]
                times = timestamps([r["created_at"] for r in recs])
                best = min(range(len(recs)), key=lambda k: rule.key(recs[k]["source"], times[k], recs[k]["id"]))
                survivor_id, survivor_digest = recs[best]["id"], recs[best]["digest"]
                pos = stored_roots[root][best]
                survivor_set = lambda pos=pos: stored_sets(pos)
            else:
                best_row = min(rows, key=lambda r: rule.key(sources[r], seconds[r], ids[r]))
                survivor_id, survivor_digest = ids[best_row], batch.digests[best_row]
                survivor_set = lambda g=int(group_of_row[best_row]): set_of(g)
            for row in rows:
                if ids[row] == survivor_id:
                    continue
                if batch.digests[row] == survivor_digest:
                    decisions[row] = (survivor_id, EXACT, 1.0)
                else:
                    decisions[row] = (survivor_id, NEAR, jaccard(set_of(int(group_of_row[row])), survivor_set()))
        return decisions


def _nonempty(batch: HashedBatch) -> np.ndarray:
    """Rows with at least one shingle (an empty text has no Jaccard similarity to anything)."""
    return np.flatnonzero(np.diff(batch.offsets) > 0)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT
