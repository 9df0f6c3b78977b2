"""Blinded pairwise human ratings: export a sheet (CSV + a static HTML page), ingest the filled sheet.

Raters see two responses to each prompt as A and B; which model is A is decided per item by a seeded coin
and recorded only in the key file, which raters never get. The result is the tuned model's win rate (ties
count half) with a 95 % Wilson score interval. Rows that cannot be counted are reported with their line and
why, not silently dropped.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import random
from pathlib import Path
from typing import Any, Iterable, Sequence

from resources.storage import atomic_file, read_jsonl, write_json

SHEET_COLUMNS = ("item_id", "prompt", "response_a", "response_b", "rating", "comment")
VALID_RATINGS = {"a": "A", "b": "B", "tie": "tie"}
Z95 = 1.959963984540054


def pair_predictions(tuned: Path | str | Sequence[dict], other: Path | str | Sequence[dict]) -> list[dict[str, Any]]:
    """Items ``{id, prompt, tuned, other}`` from two predictions.jsonl files (or their rows), joined on id."""
    tuned_rows = read_jsonl(tuned) if isinstance(tuned, (str, Path)) else list(tuned)
    other_by_id = {str(r["id"]): r for r in (read_jsonl(other) if isinstance(other, (str, Path)) else other)}
    return [{"id": str(r["id"]), "prompt": r.get("prompt", ""), "tuned": r["prediction"],
             "other": other_by_id[str(r["id"])]["prediction"]} for r in tuned_rows if str(r["id"]) in other_by_id]


def export_rating_sheet(items: Iterable[dict[str, Any]], out_dir: Path | str, *, seed: int = 0,
                        tuned_name: str = "tuned", other_name: str = "base") -> dict[str, Path]:
    """Write ``sheet.csv`` and ``rate.html`` (for raters) and ``key.json`` (for whoever ingests, not raters).

    ``items``: dicts with ``id``, ``prompt``, ``tuned`` (the response of the model under test) and ``other``.
    """
    rng = random.Random(seed)
    out_dir = Path(out_dir)
    rows, sides = [], {}
    for it in items:
        item_id = str(it["id"])
        if item_id in sides:
            raise ValueError(f"item id {item_id!r} appears twice; rating sheets need unique ids")
        tuned_side = "A" if rng.random() < 0.5 else "B"
        sides[item_id] = tuned_side
        a, b = (it["tuned"], it["other"]) if tuned_side == "A" else (it["other"], it["tuned"])
        rows.append({"item_id": item_id, "prompt": str(it["prompt"]), "response_a": str(a), "response_b": str(b),
                     "rating": "", "comment": ""})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SHEET_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    paths = {"sheet": out_dir / "sheet.csv", "html": out_dir / "rate.html", "key": out_dir / "key.json"}
    with atomic_file(paths["sheet"]) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    with atomic_file(paths["html"]) as tmp:
        tmp.write_text(rating_page(rows), encoding="utf-8")
    write_json(paths["key"], {"seed": seed, "tuned_name": tuned_name, "other_name": other_name,
                              "tuned_side": sides})
    return paths


def wilson_interval(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``p`` observed over ``n`` trials."""
    if n == 0:
        return (0.0, 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def read_filled_sheet(ratings_csv: Path | str, sides: dict[str, str]) -> list[dict[str, Any]]:
    """Every row of a filled sheet: ``line``, ``item_id``, ``choice`` ("A", "B", "tie", or None with ``reason``
    why the row cannot be counted) and the row's ``prompt``, ``response_a``, ``response_b``. ``sides``: the key
    file's item id -> side of the tuned model."""
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    with open(ratings_csv, newline="", encoding="utf-8-sig") as fh:  # -sig: spreadsheets like to add a BOM
        reader = csv.DictReader(fh)
        missing = [c for c in ("item_id", "rating") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{ratings_csv}: header lacks {missing}; expected the columns of the exported sheet "
                             f"({','.join(SHEET_COLUMNS)})")
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            item_id = str(row.get("item_id") or "").strip()
            rating = str(row.get("rating") or "").strip().lower()
            reason = None
            if None in row:
                reason = "more fields than the header has (an unquoted comma?)"
            elif item_id not in sides:
                reason = f"unknown item_id {item_id!r} (not in the key file)"
            elif item_id in seen:
                reason = f"item {item_id!r} rated again (first on line {seen[item_id]})"
            elif not rating:
                reason = "no rating given (expected A, B or tie)"
            elif rating not in VALID_RATINGS:
                reason = f"rating {row.get('rating')!r} is not A, B or tie"
            if not reason:
                seen[item_id] = line
            out.append({"line": line, "item_id": item_id, "choice": None if reason else VALID_RATINGS[rating],
                        "reason": reason, **{k: row.get(k) for k in ("prompt", "response_a", "response_b")}})
    return out


def ingest_ratings(ratings_csv: Path | str, key_file: Path | str) -> dict[str, Any]:
    """Unblind a filled sheet: the tuned model's win rate (ties count half), its 95 % Wilson interval, counts,
    and every row that could not be counted with its line number and reason."""
    key = json.loads(Path(key_file).read_text(encoding="utf-8"))
    sides: dict[str, str] = key["tuned_side"]
    wins = losses = ties = 0
    invalid: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in read_filled_sheet(ratings_csv, sides):
        if row["reason"]:
            invalid.append({"line": row["line"], "item_id": row["item_id"], "reason": row["reason"]})
            continue
        seen.add(row["item_id"])
        if row["choice"] == "tie":
            ties += 1
        elif row["choice"] == sides[row["item_id"]]:
            wins += 1
        else:
            losses += 1
    n = wins + losses + ties
    rate = (wins + 0.5 * ties) / n if n else None
    lo, hi = wilson_interval(rate, n) if n else (None, None)
    return {"tuned_name": key.get("tuned_name", "tuned"), "other_name": key.get("other_name", "base"),
            "n": n, "tuned_wins": wins, "other_wins": losses, "ties": ties, "win_rate": rate,
            "ci95_low": lo, "ci95_high": hi, "ci_method": "wilson (ties as half a win)",
            "unrated": sorted(set(sides) - seen), "invalid": invalid}


# --- the static page raters open ------------------------------------------------------------------------------
_SCRIPT = r"""
// BEGIN buildCsv (pure; the tests run it under node)
function csvField(v) {
  var s = String(v == null ? "" : v);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}
function buildCsv(items, ratings, comments) {
  var cols = ["item_id", "prompt", "response_a", "response_b", "rating", "comment"];
  var lines = [cols.join(",")];
  for (var i = 0; i < items.length; i++) {
    var it = items[i];
    lines.push([it.item_id, it.prompt, it.response_a, it.response_b, ratings[i] || "", comments[i] || ""]
      .map(csvField).join(","));
  }
  return lines.join("\n") + "\n";
}
// END buildCsv
function collect() {
  var items = JSON.parse(document.getElementById("items").textContent);
  var ratings = [], comments = [], done = 0;
  for (var i = 0; i < items.length; i++) {
    var picked = document.querySelector('input[name="rating-' + i + '"]:checked');
    ratings.push(picked ? picked.value : "");
    comments.push(document.getElementById("comment-" + i).value);
    if (picked) done++;
  }
  return {items: items, ratings: ratings, comments: comments, done: done};
}
function updateProgress() {
  var c = collect();
  document.getElementById("progress").textContent = c.done + " of " + c.items.length + " rated";
}
function downloadCsv() {
  var c = collect();
  var blob = new Blob([buildCsv(c.items, c.ratings, c.comments)], {type: "text/csv;charset=utf-8"});
  var a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "ratings.csv";
  document.body.appendChild(a);
  a.click();
  document.body.removeChild(a);
}
document.addEventListener("change", updateProgress);
"""

_STYLE = """
body { font-family: sans-serif; max-width: 70em; margin: 2em auto; }
.item { border: 1px solid #ccc; border-radius: 6px; padding: 1em; margin: 1em 0; }
.pair { display: flex; gap: 1em; }
.pair > div { flex: 1; background: #f7f7f7; padding: .5em; }
pre { white-space: pre-wrap; word-wrap: break-word; margin: 0; }
.choice { margin-top: .5em; }
"""


def rating_page(rows: Sequence[dict[str, str]]) -> str:
    """A self-contained page (no external scripts, styles or fonts): every item with A / B / tie buttons and a
    button that downloads the filled sheet as CSV."""
    esc = html.escape
    blocks = []
    for i, r in enumerate(rows):
        radios = " ".join(
            f'<label><input type="radio" name="rating-{i}" value="{v}"> {label}</label>'
            for v, label in (("A", "A is better"), ("B", "B is better"), ("tie", "Tie")))
        blocks.append(
            f'<div class="item" id="item-{i}"><h3>Item {i + 1}: {esc(r["item_id"])}</h3>'
            f'<h4>Prompt</h4><pre>{esc(r["prompt"])}</pre>'
            f'<div class="pair"><div><h4>Response A</h4><pre>{esc(r["response_a"])}</pre></div>'
            f'<div><h4>Response B</h4><pre>{esc(r["response_b"])}</pre></div></div>'
            f'<div class="choice">{radios}</div>'
            f'<div class="choice"><label>Comment (optional) <input type="text" id="comment-{i}" size="60">'
            f'</label></div></div>')
    data = json.dumps([{k: r[k] for k in SHEET_COLUMNS[:4]} for r in rows], ensure_ascii=False)
    data = data.replace("</", "<\\/")  # a response containing "</script>" must not end the data block
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Pairwise rating</title>"
            f"<style>{_STYLE}</style></head><body>\n<h1>Which response is better?</h1>\n"
            "<p>For each prompt pick the better response, or Tie. The order of A and B is random. When done, "
            "download the CSV and send it back.</p>\n"
            f'<p><button type="button" onclick="downloadCsv()">Download ratings CSV</button> '
            f'<span id="progress">0 of {len(rows)} rated</span></p>\n' + "\n".join(blocks) +
            f'\n<p><button type="button" onclick="downloadCsv()">Download ratings CSV</button></p>\n'
            f'<script type="application/json" id="items">{data}</script>\n<script>{_SCRIPT}</script>\n'
            "</body></html>\n")
