"""The base model's benchmark answers, computed once per base model and item set, not once per checkpoint.

Every checkpoint's forgetting check compares it with the same base on the same items; on a CPU the base's 1,140
MMLU answers cost as much as the checkpoint's. The cache key is the base folder's files (name, size, mtime), the
scoring and the item ids, so a changed base, sample or scoring recomputes, and the file is written atomically.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Sequence

from resources.storage import write_json


def base_fingerprint(base_model_dir: Path | str) -> str:
    h = hashlib.sha256()
    for f in sorted(Path(base_model_dir).iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def cached_answers(cache_dir: Path | str | None, key_parts: dict[str, Any], item_ids: Sequence[str],
                   compute: Callable[[], list]) -> list:
    """``compute()`` (one answer per item, JSON-serialisable), or the answers stored under the same key."""
    if cache_dir is None:
        return compute()
    key = hashlib.sha256(json.dumps({**key_parts, "items": list(item_ids)}, sort_keys=True).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"{key}.json"
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("items") == list(item_ids):
            return stored["answers"]
    answers = compute()
    write_json(path, {"key": key_parts, "items": list(item_ids), "answers": answers})
    return answers
