"""The ids of every record a model was trained on, as a content-addressed Parquet file.

One file per distinct training set, named after a hash of its sorted contents, so model versions trained on the
same data share it and its name alone says whether two versions saw the same records. ``origin_ids`` lists every
source row an example stands for (itself plus absorbed duplicates), which is what an erasure request names.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from resources.storage import write_parquet


def write_record_set(frame, record_sets_dir: Path | str) -> Path:
    """Write ``frame``'s (id, origin_ids) as ``<record_sets_dir>/<hash>.parquet``; an existing file is reused."""
    import pandas as pd

    missing = {"id", "origin_ids"} - set(frame.columns)
    if missing:
        raise ValueError(f"training table lacks column(s) {sorted(missing)}; expected the canonical example schema")
    rows = sorted((str(i), _as_json_list(o, i)) for i, o in zip(frame["id"], frame["origin_ids"]))
    digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]
    target = Path(record_sets_dir) / f"{digest}.parquet"
    if not target.exists():
        write_parquet(target, pd.DataFrame(rows, columns=["id", "origin_ids"]))
    return target


def contains_record(record_set: Path | str, record_id: str) -> bool:
    """Whether ``record_id`` is a training example id or one of the source rows an example stands for."""
    import pandas as pd

    table = pd.read_parquet(record_set)
    if (table["id"] == record_id).any():
        return True
    return any(record_id in json.loads(o) for o in table["origin_ids"])


def _as_json_list(value, row_id) -> str:
    ids = json.loads(value) if isinstance(value, str) else list(value if value is not None else [])
    return json.dumps(sorted({str(v) for v in ids} | {str(row_id)}))
