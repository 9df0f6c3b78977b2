"""The erasure report: each request, what it removed, which model versions it flagged, as Markdown.

A promoted version that contains erased data is still being served; it heads the report until a version
without the data is promoted (the registry refuses to promote a flagged version, or roll back to one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")[:300]

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows])


def report_markdown(artifact_root: Path | str, log: list[dict]) -> tuple[str, list[str]]:
    """(Markdown, ``model version`` strings of promoted versions flagged contains_erased_data)."""
    from resources.provenance.erasure import ERASED_FLAG
    from resources.provenance.record_index import model_versions

    versions = model_versions(artifact_root)
    stale = [f"{v['model']} {v['version']}" for v in versions if v["promoted"] and ERASED_FLAG in v["flags"]]
    parts = []
    if stale:
        parts.append("## ⚠ PROMOTED VERSION CONTAINS ERASED DATA\n\n"
                     + "\n".join(f"- **{s}** is promoted and was trained on erased records: retrain, then promote "
                                 "the new version (or roll back)" for s in stale))
    else:
        parts.append("No promoted version contains erased data.")
    parts.append("## Requests\n\n" + _table(
        ["request", "requested by", "applied", "rows removed", "via duplicates", "subjects (unresolved)",
         "drops re-ingested", "versions flagged"],
        [[e["request_id"], e["requested_by"], e["applied_at"], len(e["rows"]), len(e.get("expanded_duplicates", [])),
          f"{e.get('subjects_requested', 0)} ({e.get('subjects_unresolved', 0)})", ", ".join(e["affected_drops"]),
          ", ".join(f"{v['model']} {v['version']}" + (" (promoted)" if v["promoted"] else "")
                    for v in e["affected_versions"]) or "none"] for e in log]))
    flagged = [v for v in versions if ERASED_FLAG in v["flags"]]
    parts.append("## Model versions\n\n" + _table(
        ["model", "version", "promoted", "contains erased data"],
        [[v["model"], v["version"], "**yes**" if v["promoted"] else "", "**yes**" if v in flagged else "no"]
         for v in versions]))
    return "\n\n".join(parts), stale
