"""``privft provenance --record``: an id that names no row is unknown, a rejected row says why it never trained."""

import json

from resources.layout import Layout
from resources.provenance.cli import main as cli_main
from test_provenance_lookup import make_world


def test_an_unknown_record_is_reported_as_unknown_with_an_example_id(tmp_path, capsys):
    w = make_world(tmp_path)
    assert cli_main(["--record", "nope/x/1", "--artifacts", str(w["root"])]) == 1
    captured = capsys.readouterr()
    assert "no record 'nope/x/1'" in captured.err and captured.out == ""
    assert "A record id is <source>/<drop>/<line>" in captured.err


def test_a_rejected_record_says_it_was_rejected_and_why(tmp_path, capsys):
    w = make_world(tmp_path)
    drop = "2026-12-03.jsonl"
    bad = {"messages": [{"role": "customer", "content": "hi"}], "task": "policy_qa", "verdict": "approved",
           "reviewer": "r", "reviewed_at": "2026-12-03T10:00:00Z"}
    (w["samples"] / "reviewed_interactions" / drop).write_text(json.dumps(bad) + "\n", encoding="utf-8")
    w["catalog"].ingest_drop("reviewed_interactions", drop, Layout(w["root"]).source_drop("reviewed_interactions", drop))
    record = f"reviewed_interactions/{drop}/1"
    assert cli_main(["--record", record, "--artifacts", str(w["root"])]) == 1
    out = capsys.readouterr().out
    assert f"{record}: rejected at the source stage" in out and "role 'customer'" in out
    assert "never reached a training set" in out and f"{drop}, line 1" in out
    assert cli_main(["--record", record, "--artifacts", str(w["root"]), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ledger"]["state"] == "rejected"


def test_a_kept_record_says_kept_before_where_it_went(tmp_path, capsys):
    w = make_world(tmp_path)
    assert cli_main(["--record", w["ids"]["jane"], "--artifacts", str(w["root"])]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{w['ids']['jane']}: kept") and any("v-first" in line for line in out)
