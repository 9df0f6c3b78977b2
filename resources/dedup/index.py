"""The persistent MinHash index: every item deduplication has seen, so a new drop is hashed once.

On disk (one folder, replaced as a whole by ``storage.atomic_dir`` so a reader never sees half an index):

- ``settings.json``   threshold, num_perm, seed, shingling, text normalisation, LSH bands/rows and the
                      datasketch scheme; an index is only ever used with exactly these (anything else would
                      compare incompatible hashes);
- ``signatures.npy``  (n, num_perm) uint32 MinHash signatures, row i = item i;
- ``shingles.npy`` + ``offsets.npy``  every item's 64-bit shingle hashes, for exact-Jaccard verification
                      against new items without their text;
- ``items.parquet``   id, digest of the normalised text, source, created_at and the decision made for the item
                      (duplicate_of, kind, similarity), which stays fixed once made.

In memory the signatures also feed a real ``datasketch.MinHashLSH`` (rows wrapped as ``LeanMinHash``), built
on the first query, because only items of a new drop are ever queried against history.
The whole folder is rewritten on save: at ~2 kB per item that is cheap for datasets of this size.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resources.dedup.minhash import SCHEME, HashedBatch
from resources.dedup.normalise import VERSION as NORMALISATION

FORMAT = 1
# What an index folder from before normalisation was recorded says it was built with.
_UNRECORDED_NORMALISATION = "lower-whitespace-0"
ITEM_COLUMNS = ("id", "digest", "source", "created_at", "duplicate_of", "kind", "similarity")


@dataclass(frozen=True)
class IndexSettings:
    threshold: float
    num_perm: int
    seed: int
    shingle_size: int
    shingle_unit: str
    min_words: int
    bands: int
    rows: int
    scheme: str = SCHEME
    normalisation: str = NORMALISATION
    format: int = FORMAT


class MinHashIndex:
    """Signatures, shingle hashes and decisions of every indexed item; ``add``, ``query``, ``save``, ``load``."""

    def __init__(self, settings: IndexSettings):
        self.settings = settings
        self.ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._columns: dict[str, list[Any]] = {c: [] for c in ITEM_COLUMNS if c != "id"}
        self._signatures = [np.empty((0, settings.num_perm), np.uint32)]
        self._hashes = [np.empty(0, np.uint64)]
        self._counts = [np.empty(0, np.int64)]
        self._offsets: np.ndarray | None = np.zeros(1, np.int64)
        self._lsh = None
        self._lsh_size = 0

    # --- contents ------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._pos

    def position(self, item_id: str) -> int:
        return self._pos[item_id]

    def record(self, pos: int) -> dict[str, Any]:
        return {"id": self.ids[pos], **{c: v[pos] for c, v in self._columns.items()}}

    def survivor(self, pos: int) -> int:
        """Position of the item that ``pos`` stands for: itself, or the survivor it duplicates."""
        dup = self._columns["duplicate_of"][pos]
        return self._pos[dup] if dup else pos

    def digest_positions(self) -> dict[str, int]:
        """Digest of normalised text -> position of the first indexed item with that text."""
        out: dict[str, int] = {}
        for pos, d in enumerate(self._columns["digest"]):
            out.setdefault(d, pos)
        return out

    @property
    def signatures(self) -> np.ndarray:
        if len(self._signatures) > 1:
            self._signatures = [np.concatenate(self._signatures)]
        return self._signatures[0]

    @property
    def offsets(self) -> np.ndarray:
        if self._offsets is None or len(self._counts) > 1:
            counts = np.concatenate(self._counts)
            self._counts = [counts]
            self._hashes = [np.concatenate(self._hashes)]
            self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return self._offsets

    def shingle_set(self, pos: int) -> np.ndarray:
        offsets = self.offsets
        return np.unique(self._hashes[0][offsets[pos]:offsets[pos + 1]])

    # --- changes -------------------------------------------------------------------------------------------
    def add(self, ids: list[str], batch: HashedBatch, records: list[dict[str, Any]]) -> None:
        """Append items: ``batch`` row i and ``records[i]`` (the ITEM_COLUMNS other than id) belong to ``ids[i]``."""
        if not (len(ids) == len(batch) == len(records)):
            raise ValueError(f"add: {len(ids)} ids, {len(batch)} hashed rows, {len(records)} records")
        clash = [i for i in ids if i in self._pos]
        if clash:
            raise ValueError(f"ids already in the index: {clash[:5]}")
        if batch.signatures.shape[1:] != (self.settings.num_perm,):
            raise ValueError(f"signatures have {batch.signatures.shape[1:]} values, index uses {self.settings.num_perm}")
        for item_id in ids:
            self._pos[item_id] = len(self.ids)
            self.ids.append(item_id)
        for rec in records:
            for c, col in self._columns.items():
                col.append(rec.get(c))
        self._signatures.append(np.asarray(batch.signatures, np.uint32))
        self._hashes.append(np.asarray(batch.hashes, np.uint64))
        self._counts.append(np.diff(batch.offsets).astype(np.int64))
        self._offsets = None

    def remove(self, ids: set[str] | list[str]) -> set[str]:
        """Drop ``ids`` and every item recorded as a duplicate of one of them (its decision named a row that is
        gone; it is decided again when next seen). Returns the ids removed."""
        gone = {i for i in ids if i in self._pos}
        gone |= {self.ids[p] for p, dup in enumerate(self._columns["duplicate_of"]) if dup in gone}
        if not gone:
            return gone
        keep = np.array([i not in gone for i in self.ids], dtype=bool)
        offsets, hashes = self.offsets, self._hashes[0]
        counts = np.diff(offsets)
        self._hashes = [hashes[np.repeat(keep, counts)]]
        self._counts = [counts[keep]]
        self._offsets = None
        self._signatures = [self.signatures[keep]]
        self._columns = {c: [v for v, k in zip(col, keep.tolist()) if k] for c, col in self._columns.items()}
        self.ids = [i for i, k in zip(self.ids, keep.tolist()) if k]
        self._pos = {i: p for p, i in enumerate(self.ids)}
        self._lsh, self._lsh_size = None, 0
        return gone

    def _lsh_index(self):
        from datasketch import LeanMinHash, MinHashLSH

        s = self.settings
        if self._lsh is None:
            self._lsh = MinHashLSH(threshold=s.threshold, num_perm=s.num_perm, params=(s.bands, s.rows))
        sig = self.signatures
        for pos in range(self._lsh_size, len(self.ids)):
            self._lsh.insert(pos, LeanMinHash(seed=s.seed, hashvalues=sig[pos], scheme=s.scheme),
                             check_duplication=False)
        self._lsh_size = len(self.ids)
        return self._lsh

    def query(self, signature: np.ndarray) -> list[int]:
        """Positions of indexed items sharing an LSH band with ``signature`` (candidates, not yet verified)."""
        from datasketch import LeanMinHash

        if not self.ids:
            return []
        s = self.settings
        return sorted(self._lsh_index().query(LeanMinHash(seed=s.seed, hashvalues=signature, scheme=s.scheme)))

    # --- disk ----------------------------------------------------------------------------------------------
    def save(self, directory: Path | str) -> Path:
        import pandas as pd

        from resources.storage import atomic_dir, write_json, write_parquet

        offsets = self.offsets
        with atomic_dir(directory) as tmp:
            write_json(tmp / "settings.json", asdict(self.settings))
            np.save(tmp / "signatures.npy", self.signatures)
            np.save(tmp / "shingles.npy", self._hashes[0])
            np.save(tmp / "offsets.npy", offsets)
            write_parquet(tmp / "items.parquet", pd.DataFrame({"id": self.ids, **self._columns},
                                                               columns=list(ITEM_COLUMNS)))
        return Path(directory)

    @staticmethod
    def stored_settings(directory: Path | str) -> IndexSettings | None:
        """The settings an index folder was built with; None when there is no index there."""
        settings_path = Path(directory) / "settings.json"
        if not settings_path.is_file():
            return None
        stored = json.loads(settings_path.read_text(encoding="utf-8"))
        stored.setdefault("normalisation", _UNRECORDED_NORMALISATION)
        return IndexSettings(**stored)

    @classmethod
    def load(cls, directory: Path | str, expected: IndexSettings | None = None) -> "MinHashIndex":
        """Read an index folder; with ``expected``, refuse one built with other settings."""
        import pandas as pd

        directory = Path(directory)
        settings = cls.stored_settings(directory)
        if settings is None:
            raise FileNotFoundError(f"{directory / 'settings.json'} missing: {directory} is not a MinHash index folder")
        if expected is not None and settings != expected:
            raise ValueError(f"MinHash index {directory} was built with other settings (stored -> wanted): "
                             f"{settings_change(settings, expected)}. Its hashes cannot be compared with new ones.")
        index = cls(settings)
        items = pd.read_parquet(directory / "items.parquet")
        offsets = np.load(directory / "offsets.npy")
        signatures = np.load(directory / "signatures.npy")
        if len(items) != len(signatures) or len(offsets) != len(items) + 1:
            raise ValueError(f"MinHash index {directory} is inconsistent ({len(items)} items, "
                             f"{len(signatures)} signatures, {len(offsets) - 1} shingle rows); delete it to rebuild")
        index.ids = items["id"].astype(str).tolist()
        index._pos = {i: p for p, i in enumerate(index.ids)}
        for c in index._columns:
            index._columns[c] = [None if _missing(v) else v for v in items[c].tolist()]
        index._signatures = [signatures.astype(np.uint32, copy=False)]
        index._hashes = [np.load(directory / "shingles.npy")]
        index._counts = [np.diff(offsets)]
        index._offsets = offsets
        return index


def settings_change(old: IndexSettings, new: IndexSettings) -> str:
    """``name: old -> new`` for every setting that differs."""
    return ", ".join(f"{k}: {v} -> {getattr(new, k)}" for k, v in asdict(old).items() if getattr(new, k) != v)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
