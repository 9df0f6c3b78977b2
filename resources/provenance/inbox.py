"""The erasure inbox: a folder where request files are dropped, applied once each.

Which files were handled is remembered as ``{file name: sha256 of its content}`` (the sensor keeps it as its
cursor), so a file is applied once, a corrected file with new content under the same name is applied again, and
an unchanged file never is. Write a request under a temporary name (leading ``.`` or ending ``.tmp``/``.part``)
and rename it into place, so a half-written file is never read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from resources.provenance.request_file import SUFFIXES, RequestError, file_hash


class ErasureInbox(dg.ConfigurableResource):
    """Where erasure requests arrive and how they are applied."""

    folder: str = "data/erasure"
    expand_duplicates: bool = True   # also erase rows deduplication merged with a requested row (same content)

    def pending(self, handled: dict[str, str]) -> list[tuple[Path, str]]:
        """(path, content hash) of request files not handled with their current content, in name order."""
        folder = Path(self.folder)
        if not folder.is_dir():
            return []
        out = []
        for p in sorted(folder.iterdir(), key=lambda p: p.name):
            if not p.is_file() or p.suffix.lower() not in SUFFIXES or p.name.startswith(".") \
                    or p.name.lower().endswith((".tmp", ".part")):
                continue
            digest = file_hash(p)
            if handled.get(p.name) != digest:
                out.append((p, digest))
        return out

    def process(self, artifact_root: Path | str, cursor: str | None, catalog: Any = None) -> "InboxResult":
        """Apply every pending request; a malformed one is reported and skipped until its content changes."""
        from resources.provenance.erasure import apply_request

        handled = json.loads(cursor) if cursor else {}
        result = InboxResult()
        for path, digest in self.pending(handled):
            try:
                result.applied.append(apply_request(artifact_root, path, catalog=catalog,
                                                    expand_duplicates=self.expand_duplicates))
            except (RequestError, OSError) as e:
                result.errors.append(str(e))
            handled[path.name] = digest
        result.cursor = json.dumps(handled, sort_keys=True)
        return result


@dataclass
class InboxResult:
    applied: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cursor: str = ""
