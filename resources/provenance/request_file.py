"""Reading an erasure request file: who asks to erase which records and which data subjects.

JSON::

    {"request_id": "ER-2026-0042", "requested_by": "dpo@nordlicht.example",
     "ids": ["reviewed_interactions/2026-11-01/17"], "subjects": ["jane.doe@example.de", "+49 30 1234567"]}

CSV (one item per line; empty cells are skipped; request id and requester from the first line that has them)::

    request_id,requested_by,id,subject
    ER-2026-0042,dpo@nordlicht.example,,jane.doe@example.de

``records`` / ``record`` / ``row_id`` are accepted for ``ids`` / ``id``. Without a request id the file name
(without suffix) is the id. A requester is required: an erasure must be attributable.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from resources.schema import SOURCES

SUFFIXES = (".json", ".csv")
_ROW_ID = re.compile(r"^(?P<source>[a-z_]+)/(?P<drop>[A-Za-z0-9._-]+)/(?P<row>\d+)$")


class RequestError(ValueError):
    pass


@dataclass
class ErasureRequest:
    request_id: str
    requested_by: str
    file: str
    content_hash: str
    ids: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)


def parse_row_id(value: str) -> tuple[str, str, int] | None:
    """(source, drop, row) of a source row id, or None if it is not one."""
    m = _ROW_ID.match(value.strip())
    if not m or m["source"] not in SOURCES:
        return None
    return m["source"], m["drop"], int(m["row"])


def file_hash(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_request(path: Path | str) -> ErasureRequest:
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise RequestError(f"{path}: erasure requests are .json or .csv files")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise RequestError(f"{path}: not UTF-8 at byte {e.start}; save the request as UTF-8") from e
    req = ErasureRequest(request_id="", requested_by="", file=str(path), content_hash=hashlib.sha256(data).hexdigest())
    if path.suffix.lower() == ".json":
        _from_json(path, text, req)
    else:
        _from_csv(path, text, req)
    req.request_id = req.request_id.strip() or path.stem
    req.requested_by = req.requested_by.strip()
    if not req.requested_by:
        raise RequestError(f"{path}: no requested_by; add who asked for the erasure (a name or e-mail) so the "
                           "erasure log can attribute it")
    req.ids = sorted({i.strip() for i in req.ids if i and i.strip()})
    req.subjects = sorted({s.strip() for s in req.subjects if s and s.strip()})
    bad = [i for i in req.ids if parse_row_id(i) is None]
    if bad:
        raise RequestError(f"{path}: {bad[:5]} are not source row ids; expected <source>/<drop>/<row> with source one "
                           f"of {', '.join(SOURCES)} (use 'subjects' for e-mail addresses, phone numbers, ids)")
    if not req.ids and not req.subjects:
        raise RequestError(f"{path}: the request names no ids and no subjects; nothing to erase")
    return req


def _strings(path: Path, key: str, value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return [str(v) for v in value]
    raise RequestError(f"{path}: {key!r} must be a list of strings")


def _from_json(path: Path, text: str, req: ErasureRequest) -> None:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise RequestError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
    if not isinstance(obj, dict):
        raise RequestError(f"{path}: expected a JSON object with request_id, requested_by, ids and/or subjects")
    req.request_id = str(obj.get("request_id") or "")
    req.requested_by = str(obj.get("requested_by") or "")
    for key in ("ids", "records"):
        req.ids += _strings(path, key, obj.get(key))
    req.subjects += _strings(path, "subjects", obj.get("subjects"))


def _from_csv(path: Path, text: str, req: ErasureRequest) -> None:
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    id_col = next((columns[c] for c in ("id", "record", "row_id") if c in columns), None)
    subject_col = next((columns[c] for c in ("subject", "value") if c in columns), None)
    if id_col is None and subject_col is None:
        raise RequestError(f"{path}: CSV header {reader.fieldnames} has neither an id nor a subject column; "
                           "expected request_id,requested_by,id,subject")
    for line in reader:
        if not req.request_id and line.get(columns.get("request_id", ""), ""):
            req.request_id = line[columns["request_id"]]
        if not req.requested_by and line.get(columns.get("requested_by", ""), ""):
            req.requested_by = line[columns["requested_by"]]
        if id_col and line.get(id_col):
            req.ids.append(line[id_col])
        if subject_col and line.get(subject_col):
            req.subjects.append(line[subject_col])
