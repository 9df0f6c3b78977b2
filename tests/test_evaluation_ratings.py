"""Blinded pairwise ratings: export, fill, ingest; win rate and Wilson interval; malformed rows reported."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess

import pytest

from resources.evaluation.ratings import export_rating_sheet, ingest_ratings, pair_predictions


def _items(n=10):
    return [{"id": f"eval/{i}", "prompt": f"[user]\nQuestion {i}, with a comma and \"quotes\"\nsecond line",
             "tuned": f"tuned answer {i}", "other": f"base answer {i} </script><b>x</b>"} for i in range(n)]


def _fill(sheet, key, wanted):
    """wanted: per item 'tuned', 'other' or 'tie' -> the rating letter a rater would have typed."""
    sides = json.loads(key.read_text())["tuned_side"]
    with open(sheet, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row, w in zip(rows, wanted):
        tuned = sides[row["item_id"]]
        row["rating"] = {"tuned": tuned, "other": "B" if tuned == "A" else "A", "tie": "tie"}[w]
    return rows


def _write(path, rows, extra_lines=()):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        for line in extra_lines:
            fh.write(line + "\n")


def test_export_is_blinded_and_seeded(tmp_path):
    paths = export_rating_sheet(_items(), tmp_path / "a", seed=1)
    sides = json.loads(paths["key"].read_text())["tuned_side"]
    assert set(sides.values()) == {"A", "B"}  # both orders occur over ten items
    sheet = list(csv.DictReader(open(paths["sheet"], newline="")))
    assert [r["item_id"] for r in sheet] == [f"eval/{i}" for i in range(10)]
    for r in sheet:  # the tuned response sits on the side the key says, and the sheet itself never says which
        tuned_col = "response_a" if sides[r["item_id"]] == "A" else "response_b"
        assert r[tuned_col].startswith("tuned answer")
        assert r["prompt"].endswith("second line") and r["rating"] == ""
    assert "tuned" not in paths["sheet"].read_text().replace("tuned answer", "")
    again = export_rating_sheet(_items(), tmp_path / "b", seed=1)
    assert again["key"].read_text() == paths["key"].read_text()
    other_seed = export_rating_sheet(_items(), tmp_path / "c", seed=2)
    assert json.loads(other_seed["key"].read_text())["tuned_side"] != sides


def test_html_page_is_self_contained(tmp_path):
    page = export_rating_sheet(_items(3), tmp_path, seed=0)["html"].read_text()
    assert not re.search(r"https?://|src=|href=\"http|@import", page)
    assert page.count('type="radio"') == 9 and 'value="tie"' in page
    assert "downloadCsv()" in page and "Blob" in page
    assert "</script><b>" not in page  # response text is escaped, in the markup and in the data block


def test_round_trip_win_rate_and_wilson_interval(tmp_path):
    paths = export_rating_sheet(_items(), tmp_path, seed=0)
    rows = _fill(paths["sheet"], paths["key"], ["tuned"] * 6 + ["tie"] * 2 + ["other"] * 2)
    _write(tmp_path / "filled.csv", rows)
    result = ingest_ratings(tmp_path / "filled.csv", paths["key"])
    assert (result["n"], result["tuned_wins"], result["ties"], result["other_wins"]) == (10, 6, 2, 2)
    assert result["win_rate"] == pytest.approx(0.7)  # (6 + 2/2) / 10
    # Wilson score interval, p = 0.7, n = 10, z = 1.96: centre 0.6445, half-width 0.2477
    assert result["ci95_low"] == pytest.approx(0.39678, abs=1e-4)
    assert result["ci95_high"] == pytest.approx(0.89221, abs=1e-4)
    assert result["invalid"] == [] and result["unrated"] == []


def test_malformed_rows_are_reported_with_line_and_reason(tmp_path):
    paths = export_rating_sheet(_items(4), tmp_path, seed=0)
    rows = _fill(paths["sheet"], paths["key"], ["tuned", "tuned", "other", "tie"])
    rows[1]["rating"] = "maybe"
    rows[2]["rating"] = ""
    _write(tmp_path / "filled.csv", rows, extra_lines=["eval/0,p,a,b,A,dup", "eval/99,p,a,b,A,", "eval/3,p,a,b,B,c,extra"])
    result = ingest_ratings(tmp_path / "filled.csv", paths["key"])
    assert (result["n"], result["tuned_wins"], result["ties"]) == (2, 1, 1)
    assert result["unrated"] == ["eval/1", "eval/2"]
    # prompts span three physical lines each: row k starts on line 2 + 3k
    reasons = {(bad["line"], bad["reason"].split(" ")[0]) for bad in result["invalid"]}
    assert reasons == {(5, "rating"), (8, "no"), (14, "item"), (15, "unknown"), (16, "more")}
    assert any("first on line 2" in bad["reason"] for bad in result["invalid"])


def test_missing_columns_fail_with_file_named(tmp_path):
    paths = export_rating_sheet(_items(2), tmp_path, seed=0)
    (tmp_path / "bad.csv").write_text("id,score\neval/0,A\n")
    with pytest.raises(ValueError, match="bad.csv.*item_id"):
        ingest_ratings(tmp_path / "bad.csv", paths["key"])


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_csv_built_by_the_page_script_ingests(tmp_path):
    """Run the page's own CSV builder under node with a known fill and ingest what it produces."""
    paths = export_rating_sheet(_items(5), tmp_path, seed=3)
    page = paths["html"].read_text()
    builder = page[page.index("// BEGIN buildCsv"):page.index("// END buildCsv")]
    data = re.search(r'<script type="application/json" id="items">(.*?)</script>', page, re.S).group(1)
    sides = json.loads(paths["key"].read_text())["tuned_side"]
    ratings = [sides[f"eval/{i}"] for i in range(4)] + ["tie"]  # the tuned side four times, then a tie
    script = f"{builder}\nprocess.stdout.write(buildCsv({data}, {json.dumps(ratings)}, ['', 'a, \"note\"', '', '', '']));"
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, check=True).stdout
    (tmp_path / "from_page.csv").write_text(out)
    result = ingest_ratings(tmp_path / "from_page.csv", paths["key"])
    assert (result["n"], result["tuned_wins"], result["ties"], result["invalid"]) == (5, 4, 1, [])
    assert result["win_rate"] == pytest.approx(0.9)
    assert list(csv.DictReader(open(tmp_path / "from_page.csv")))[1]["comment"] == 'a, "note"'


def test_pairs_from_two_prediction_files(tmp_path):
    for name, prefix in (("tuned.jsonl", "T"), ("base.jsonl", "B")):
        (tmp_path / name).write_text("".join(json.dumps({"id": f"x/{i}", "prompt": f"q{i}", "prediction": f"{prefix}{i}"})
                                             + "\n" for i in range(3)))
    items = pair_predictions(tmp_path / "tuned.jsonl", tmp_path / "base.jsonl")
    assert items[2] == {"id": "x/2", "prompt": "q2", "tuned": "T2", "other": "B2"}
