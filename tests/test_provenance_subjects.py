"""Subject extraction, normalisation and the hashed subject index (no plain value at rest)."""

from __future__ import annotations

import json
import os
import stat

import pyarrow.parquet as pq
from hypothesis import given, settings, strategies as st

from resources.provenance.salt import SALT_ENV, load_salt, salt_path
from resources.provenance.subject_values import NORMALISE, extract_record, extract_text, query_values
from resources.provenance.subjects import build_subject_index, rows_for_hashes, subject_hashes, subjects_dir
from test_provenance_lookup import JANE_EMAIL, JANE_IBAN, make_world


def test_extracts_each_kind_normalised_and_leaves_ordinary_numbers_alone():
    text = ("Hi (order NH-477845, 2 chairs at 1.299,00 EUR on 2026-11-01): reach me at Jane.Doe@Example.DE or "
            "+49 (0)30 123 4567, tel. 0170 9876543. Refund to DE89 3704 0044 0532 0130 00, "
            "customer_id: C-99812, account no. 44556677, card 4111 1111 1111 1111.")
    assert set(extract_text(text)) == {
        ("id", "NH-477845"), ("email", "jane.doe@example.de"), ("phone", "49301234567"), ("phone", "491709876543"),
        ("iban", "DE89370400440532013000"), ("id", "C-99812"), ("id", "44556677"), ("card", "4111111111111111")}
    # the IBAN's digits are not read a second time as a phone number
    assert not any(k == "phone" and "0532" in v for k, v in extract_text(text))
    assert extract_text("You can change or cancel an order within 1 hour on your account page.") == []


def test_one_value_in_any_spelling_normalises_alike():
    assert {v for k, v in query_values("0049 30 1234567") if k == "phone"} == {"49301234567"}
    assert ("phone", "49301234567") in query_values("030/1234567") | query_values("+49 30 123-4567")
    assert ("iban", "DE89370400440532013000") in query_values("de89 3704 0044 0532 0130 00")
    assert ("email", "jane.doe@example.de") in query_values(" JANE.DOE@example.de ")


def test_record_fields_named_like_ids():
    record = {"customer_id": "cust-1234", "account": "998877", "contact": {"email": "a@b.example"},
              "annotation": json.dumps({"order_id": "NH-555666"}), "quantity": 3}
    assert set(extract_record(record)) >= {("id", "CUST-1234"), ("id", "998877"), ("email", "a@b.example"),
                                           ("id", "NH-555666")}


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_extraction_never_crashes_and_normalisation_is_idempotent(text):
    for kind, value in extract_text(text):
        assert NORMALISE[kind](value) == value


def test_index_holds_only_keyed_hashes_and_a_private_salt(tmp_path, monkeypatch):
    monkeypatch.delenv(SALT_ENV, raising=False)
    w = make_world(tmp_path, version=False)
    build_subject_index(w["root"], catalog=w["catalog"])
    assert stat.S_IMODE(os.stat(salt_path(w["root"])).st_mode) == 0o600
    plain = [JANE_EMAIL.lower(), "jane.doe", "7654321", "DE89370400440532013000", "NH-100200", "CUST-77881"]
    stored = list((w["root"] / "provenance").rglob("*"))
    assert any(p.suffix == ".parquet" for p in stored)
    for p in stored:
        if p.suffix == ".parquet":
            cells = json.dumps(pq.read_table(p).to_pydict())
        elif p.is_file() and not p.name.startswith("."):
            cells = p.read_text()
        else:
            continue
        assert not any(v.lower() in cells.lower() for v in plain), p
    hashes = subject_hashes(w["root"], JANE_EMAIL)
    assert {r["source_row_id"] for r in rows_for_hashes(w["root"], hashes)} == {w["ids"]["jane"], w["ids"]["jane_dup"]}


def test_salt_from_environment_changes_every_hash_and_rebuilds(tmp_path, monkeypatch):
    w = make_world(tmp_path, version=False)
    monkeypatch.delenv(SALT_ENV, raising=False)
    build_subject_index(w["root"])
    file_salt = subject_hashes(w["root"], JANE_EMAIL)
    monkeypatch.setenv(SALT_ENV, "a-secret-from-the-vault-0123456789abcdef")
    assert load_salt(w["root"]) != salt_path(w["root"]).read_bytes().strip()
    build_subject_index(w["root"])
    env_salt = subject_hashes(w["root"], JANE_EMAIL)
    assert set(env_salt).isdisjoint(file_salt)
    assert {r["source_row_id"] for r in rows_for_hashes(w["root"], env_salt)} == {w["ids"]["jane"], w["ids"]["jane_dup"]}


def test_index_is_incremental_per_drop(tmp_path):
    w = make_world(tmp_path, version=False)
    build_subject_index(w["root"], catalog=w["catalog"])
    parts = {p.relative_to(subjects_dir(w["root"])).as_posix(): p.stat().st_mtime_ns
             for p in subjects_dir(w["root"]).rglob("*.parquet")}
    assert len(parts) == 2
    # re-ingest one drop with a row erased: only that drop is indexed again; its raw part stays findable
    from resources.layout import Layout

    w["catalog"].ingest_drop("corrected_outputs", "2026-12-02.csv",
                             Layout(w["root"]).source_drop("corrected_outputs", "2026-12-02.csv"),
                             tombstones=frozenset({w["ids"]["jane_dup"]}))
    build_subject_index(w["root"])
    after = {p.relative_to(subjects_dir(w["root"])).as_posix(): p.stat().st_mtime_ns
             for p in subjects_dir(w["root"]).rglob("*.parquet")}
    changed = sorted(k for k in parts if after[k] != parts[k])
    assert changed == ["corrected_outputs/2026-12-02.csv.parquet"]
    iban_rows = rows_for_hashes(w["root"], subject_hashes(w["root"], JANE_IBAN))
    assert [r["source_row_id"] for r in iban_rows] == [w["ids"]["jane_dup"]]


def test_a_person_is_found_by_name(tmp_path):
    """Erasure by name: the row signed "Lotte Brandt" is found by her name in any spelling, and no other row."""
    from resources.layout import Layout
    from resources.sources.catalog import SourceCatalog
    from test_provenance_lookup import _chat

    drop = tmp_path / "samples" / "reviewed_interactions" / "2026-12-01.jsonl"
    drop.parent.mkdir(parents=True)
    answer = '{"order_id": "NH-100200", "item": "lamp", "quantity": 1, "issue": "damaged"}'
    rows = [_chat("My lamp (order NH-100200) arrived broken.\nKind regards, Lotte Brandt", answer),
            _chat("My Bergen table (order NH-300400) is late.", answer)]
    drop.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    root = tmp_path / "artifacts"
    catalog = SourceCatalog(sample_root=str(tmp_path / "samples"), incoming_root=str(tmp_path / "incoming"))
    catalog.ingest_drop("reviewed_interactions", drop.name, Layout(root).source_drop("reviewed_interactions",
                                                                                        drop.name))
    build_subject_index(root, catalog=catalog)
    for spelling in ("Lotte Brandt", "lotte  BRANDT"):
        found = rows_for_hashes(root, subject_hashes(root, spelling))
        assert {r["source_row_id"] for r in found} == {"reviewed_interactions/2026-12-01.jsonl/1"}, spelling
    assert not rows_for_hashes(root, subject_hashes(root, "Bergen Table"))
