"""Keeping the persistent MinHash index true to the data: other settings, re-delivered drops, erased rows.

- Settings: an index is only comparable with hashes made the same way. One built with other settings (threshold,
  shingles, permutations, normalisation...) is not an error the user has to clear by hand: it is set aside and
  rebuilt from the rows of the run, and the run says so (``index_status``, shown in the asset metadata).
- Re-delivered drops: the catalog lets a corrected file replace a drop under the same key, so an indexed id can
  come back with other text. Ids name ``<source>/<drop>/<row>``; when any row of a drop changed, every indexed
  row of that drop is forgotten unless it is still delivered with the same text, and the drop is decided again
  like new rows. Rows recorded as duplicates of a forgotten row go too (``MinHashIndex.remove``).
- Erasure: an erased row must not stay in the index, or a later copy of its text would be dropped as a duplicate
  of a row that no longer exists, and its provenance would name the erased id (``erase_from_index``).
"""

from __future__ import annotations

from pathlib import Path

from resources.dedup.index import IndexSettings, MinHashIndex, settings_change


def index_status(directory: Path | str | None, settings: IndexSettings) -> str:
    """What a run with ``settings`` does with the index folder: "none", "new", "reused" or "rebuilt: why"."""
    if directory is None:
        return "none"
    try:
        stored = MinHashIndex.stored_settings(directory)
    except (ValueError, TypeError) as e:  # unreadable JSON, or keys of another format
        return f"rebuilt: unreadable settings.json ({e})"
    if stored is None:
        return "new"
    if stored != settings:
        return f"rebuilt: built with other settings ({settings_change(stored, settings)})"
    return "reused"


def open_index(directory: Path | str | None, settings: IndexSettings) -> tuple[MinHashIndex, str]:
    """The index to run against, and ``index_status``: empty unless one with exactly these settings exists."""
    status = index_status(directory, settings)
    if status == "reused":
        return MinHashIndex.load(directory, settings), status
    return MinHashIndex(settings), status


def drop_of(item_id: str) -> str:
    """``<source>/<drop>`` of a row id ``<source>/<drop>/<row>`` (an id without ``/`` is its own drop)."""
    return item_id.rsplit("/", 1)[0] if "/" in item_id else item_id


def forget_redelivered(index: MinHashIndex, texts_changed: list[str], delivered: set[str]) -> set[str]:
    """Remove the rows of every drop in which ``texts_changed`` (indexed ids now delivered with other text) lie:
    those ids, and the drop's indexed rows no longer ``delivered``. Returns every id removed."""
    if not texts_changed:
        return set()
    drops = {drop_of(i) for i in texts_changed}
    vanished = {i for i in index.ids if i not in delivered and drop_of(i) in drops}
    return index.remove(set(texts_changed) | vanished)


def erase_from_index(directory: Path | str, ids: set[str] | list[str]) -> set[str]:
    """Remove erased row ids (and the rows recorded as their duplicates) from the index folder, whatever its
    settings; returns the ids removed. A missing folder has nothing to erase."""
    if MinHashIndex.stored_settings(directory) is None:
        return set()
    index = MinHashIndex.load(directory)
    gone = index.remove(set(map(str, ids)))
    if gone:
        index.save(directory)
    return gone
