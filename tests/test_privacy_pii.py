"""PII scrubbing applies before training and before anything is written to evaluation reports or rating sheets.

Distinctive personal data (an e-mail address, a +49 phone number, an IBAN with a valid checksum and a
Luhn-valid card number) is planted into a new drop of EVERY source, in every field that becomes message text
(``plant_drops``), then the whole pipeline runs once. None of it may appear in any artifact (Parquet read back as
text, JSON, Markdown, model folders and cards, evaluation predictions and reports, rating sheets) nor in the Dagster
run history, with exactly one exception: ``artifacts/sources/**``, the per-drop ingest output, which keeps the
original text by design (scrubbing is the first step of ``normalised_examples``; see SECURITY.md). That folder
must contain the planted values, which proves they were really ingested and that the search can find them.

The pipeline run and those searches are tests/test_privacy_pipeline.py::test_no_pii_beyond_the_raw_source_stage
(one pipeline run there serves this proof, the secret proof and the network-namespace proof). This module holds
the planted values and drops, and proves without a pipeline run that they are real PII the scrubber knows, that
every planted row is read as a valid row (so the pipeline carries the PII forward), and that the built-in
tokenizer learns none of it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

EMAIL = "lotte.privacy-canary7@nordlicht-kunden.example"
PHONE = "+49 30 9876543"
IBAN = "DE02 1009 0000 2718 2818 28"     # mod-97 check digits valid (asserted below)
CARD = "4539 7712 3456 7814"             # Visa prefix, Luhn-valid (asserted below)
NAME = "Lotte Brandt"
ADDRESS = "Kastanienallee 12"             # "..., 10435 Berlin": the street and house number identify her
TAX_ID = "86 095 742 719"                 # German Steuer-ID, ISO 7064 check digit valid (asserted below)
IP = "93.184.216.34"                      # a public address
ACCOUNT = "KD-7741209"                    # after "customer number"
WIDE_EMAIL = "ｌｏｔｔｅ．ｗｉｄｅ＠ｎｏｒｄｌｉｃｈｔ－ｋｕｎｄｅｎ．ｅｘａｍｐｌｅ"  # full width: NFKC folds it before matching
WIDE_PHONE = "＋４９ ３０ ５５５０１２３"
DOTTED_PHONE = "0170.555.0003"
TASK_EMAIL = "lotte.task@nordlicht-kunden.example"    # in the task field of a reviewed interaction
STAMP_PHONE = "+49 30 5550177"                        # in its reviewed_at field
VERDICT_EMAIL = "verdict.person@nordlicht-kunden.example"  # in a verdict quoted by the ledger reason
PII = {"email": EMAIL, "phone": PHONE, "iban": IBAN, "card": CARD, "person": NAME, "address": ADDRESS,
       "national_id": TAX_ID, "ip": IP, "account": ACCOUNT}
# What to search for: each value as written and with its separators removed; for the verdict the part a cut at
# 40 characters kept ("verdict.person@nordlicht-").
NEEDLES = sorted({EMAIL, PHONE, IBAN, CARD, PHONE.replace(" ", ""), IBAN.replace(" ", ""), CARD.replace(" ", ""),
                  NAME, ADDRESS, TAX_ID, TAX_ID.replace(" ", ""), IP, ACCOUNT, WIDE_EMAIL, WIDE_PHONE, DOTTED_PHONE,
                  TASK_EMAIL, STAMP_PHONE, "verdict.person"})
# Pieces of the planted values a subword vocabulary could learn (none occurs in the embedded samples).
FRAGMENTS = ("canary", "kunden", "privacy", "9876543", "1009", "2718", "2818", "4539", "7712", "3456", "7814")
RAW_SOURCE_FOLDER = "sources"            # the one exempt folder under the artifact root
DROP = "2026-12-01-privacy"


def pii_sentence(i: int) -> str:
    variants = [
        f"You can reach me at {EMAIL} or on {PHONE}.",
        f"Please refund the money to my account {IBAN}, thank you.",
        f"The payment with card {CARD} went through twice.",
        f"Contact: {EMAIL}, phone {PHONE}, IBAN {IBAN}, card {CARD}.",
        f"Ship it to {ADDRESS}, 10435 Berlin. Steuer-ID {TAX_ID}, customer number {ACCOUNT}, logged in from {IP}.",
        f"Or write to {WIDE_EMAIL}, call {WIDE_PHONE} or {DOTTED_PHONE}.",
    ]
    return variants[i % len(variants)]


def order_text(i: int) -> str:
    return (f"Hello Nordlicht Home, I ordered {i + 2} Bergen wool blankets (order NH-5{i:05d}) and they arrived "
            f"damaged. {pii_sentence(i)} Kind regards, Lotte Brandt")


def extraction(i: int, extra: str = "") -> str:
    return json.dumps({"order_id": f"NH-5{i:05d}", "item": "Bergen wool blanket", "quantity": i + 2,
                       "issue": "damaged"}) + extra


INSTRUCTION = ("Extract the order details from the customer message as JSON with keys order_id, item, "
               "quantity, issue.")
SUMMARY_INSTRUCTION = "Summarise this support conversation in one sentence."
ROWS = 8


def plant_drops(sample_root: Path) -> dict[str, Path]:
    """One new drop per source, each row carrying PII in the user text and most also in system/answer text."""
    import pandas as pd

    files = {}
    # reviewed_interactions: chat transcripts (system, user and assistant turns)
    lines = []
    for i in range(ROWS):
        messages = [{"role": "system", "content": f"Customer on file: {EMAIL}, {PHONE}."} if i % 2 else None,
                    {"role": "user", "content": f"{INSTRUCTION}\n\n{order_text(i)}"},
                    {"role": "assistant", "content": extraction(i)}]
        lines.append({"messages": [m for m in messages if m], "task": "extract_order", "verdict": "approved",
                      "reviewer": "a.berg", "reviewed_at": f"2026-12-01T10:{i:02d}:00Z"})
    lines.append({"messages": [{"role": "user", "content": f"{SUMMARY_INSTRUCTION}\n\nCustomer: {pii_sentence(3)}"},
                               {"role": "assistant", "content": f"The customer gave {EMAIL} and card {CARD}."}],
                  "task": "summarise", "verdict": "approved", "reviewer": "a.berg", "reviewed_at": ""})
    # personal data outside the messages: in the task, in the timestamp, in a verdict the ledger quotes
    lines.append({"messages": [{"role": "user", "content": f"{INSTRUCTION}\n\n{order_text(4)}"},
                               {"role": "assistant", "content": extraction(4)}],
                  "task": f"extract_order for {TASK_EMAIL}", "verdict": "approved", "reviewer": "a.berg",
                  "reviewed_at": f"2026-12-01T10:30:00Z call {STAMP_PHONE}"})
    lines.append({"messages": [{"role": "user", "content": f"{INSTRUCTION}\n\n{order_text(5)}"},
                               {"role": "assistant", "content": extraction(5)}],
                  "task": "extract_order", "verdict": f"rejected because {VERDICT_EMAIL} said so",
                  "reviewer": "a.berg", "reviewed_at": ""})
    files["reviewed_interactions"] = _jsonl(sample_root / "reviewed_interactions" / f"{DROP}.jsonl", lines)

    # corrected_outputs: CSV; PII in the prompt, the corrected answer and the discarded model output
    rows = [{"prompt": f"{INSTRUCTION}\n\n{order_text(i + 20)}", "model_output": f"call {PHONE}",
             "corrected_output": extraction(i + 20), "task": "extract_order",
             "corrected_at": f"2026-12-01T11:{i:02d}:00Z"} for i in range(ROWS)]
    rows.append({"prompt": f"{SUMMARY_INSTRUCTION}\n\nCustomer: {pii_sentence(1)}\nAgent: Done.",
                 "model_output": "", "corrected_output": f"The customer asked for a refund to {IBAN}.",
                 "task": "summarise", "corrected_at": ""})
    path = sample_root / "corrected_outputs" / f"{DROP}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    files["corrected_outputs"] = path

    # expert_annotations: Parquet; PII in the document and in a free-text annotation
    rows = [{"doc_id": f"DOC-PRIV-{i}", "document": order_text(i + 40),
             "annotation": json.dumps({"order_id": f"NH-5{i + 40:05d}", "item": "Bergen wool blanket",
                                       "quantity": i + 42, "issue": "damaged"}),
             "task": "extract_order", "annotator": "expert-02", "annotated_at": f"2026-12-01T12:{i:02d}:00Z"}
            for i in range(ROWS)]
    rows.append({"doc_id": "DOC-PRIV-S", "document": f"Customer: {pii_sentence(2)}\nAgent: Refunded.",
                 "annotation": json.dumps({"summary": f"A double charge on card {CARD} was refunded."}),
                 "task": "summarise", "annotator": "expert-02", "annotated_at": ""})
    path = sample_root / "expert_annotations" / f"{DROP}.parquet"
    pd.DataFrame(rows).astype(str).to_parquet(path, index=False)
    files["expert_annotations"] = path

    # teacher_synthetic: every chat format it accepts
    lines = []
    for i in range(ROWS):
        text, answer = order_text(i + 60), extraction(i + 60)
        fmt = i % 4
        if fmt == 0:
            rec = {"instruction": INSTRUCTION, "input": text, "output": answer, "system": f"Agent mail: {EMAIL}"}
        elif fmt == 1:
            rec = {"prompt": f"{INSTRUCTION}\n\n{text}", "completion": answer}
        elif fmt == 2:
            rec = {"conversations": [{"from": "human", "value": f"{INSTRUCTION}\n\n{text}"},
                                     {"from": "gpt", "value": answer}]}
        else:
            rec = {"messages": [{"role": "user", "content": f"{INSTRUCTION}\n\n{text}"},
                                {"role": "assistant", "content": answer}]}
        lines.append({**rec, "score": 0.95, "task": "extract_order"})
    lines.append({"prompt": f"{SUMMARY_INSTRUCTION}\n\nCustomer: {pii_sentence(0)}",
                  "completion": f"The customer left the phone number {PHONE}.", "score": 0.9, "task": "summarise"})
    files["teacher_synthetic"] = _jsonl(sample_root / "teacher_synthetic" / f"{DROP}.jsonl", lines)
    return files


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def file_text(path: Path) -> bytes:
    """A file's searchable content: Parquet decoded (pages may be compressed), anything else as raw bytes."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False, default=str).encode()
    return path.read_bytes()


def find_needles(root: Path) -> dict[str, list[str]]:
    """Relative path -> planted values found in it, for every file under ``root``."""
    hits = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = file_text(path)
            found = [n for n in NEEDLES if n.encode() in data]
            if found:
                hits[str(path.relative_to(root))] = found
    return hits


def test_planted_values_are_real_pii_the_scrubber_knows():
    from presidio_analyzer.predefined_recognizers import DeTaxIdRecognizer

    from resources.prepare.pii import iban_valid, luhn_valid, scrub_pii

    assert iban_valid(IBAN) and luhn_valid(CARD.replace(" ", ""))
    assert DeTaxIdRecognizer().validate_result(TAX_ID.replace(" ", ""))
    for kind, value in PII.items():
        scrubbed, counts = scrub_pii(pii_sentence(4) if kind in ("address", "national_id", "ip", "account")
                                     else f"Kind regards, {value}" if kind == "person" else f"here it is: {value} .")
        assert value not in scrubbed and counts[kind] == 1, (kind, scrubbed)
    for value in (WIDE_EMAIL, WIDE_PHONE, DOTTED_PHONE, TASK_EMAIL, STAMP_PHONE, VERDICT_EMAIL):
        assert value not in scrub_pii(f"here it is: {value} .")[0], value


def test_planted_drops_are_read_as_valid_rows(tmp_path):
    """Every planted row is kept by its source's rules, so the pipeline test really carries the PII forward."""
    from resources.sources.catalog import SourceCatalog

    for source in ("reviewed_interactions", "corrected_outputs", "expert_annotations", "teacher_synthetic"):
        (tmp_path / "samples" / source).mkdir(parents=True)
    plant_drops(tmp_path / "samples")
    catalog = SourceCatalog(sample_root=str(tmp_path / "samples"), incoming_root=str(tmp_path / "none"))
    for source in ("reviewed_interactions", "corrected_outputs", "expert_annotations", "teacher_synthetic"):
        out = tmp_path / "out" / source
        summary = catalog.ingest_drop(source, next(iter(catalog.list_drops(source))), out)
        # reviewed_interactions also has the task/timestamp row (kept) and the quoted-verdict row (filtered)
        extra = 2 if source == "reviewed_interactions" else 0
        assert summary.rows_in == ROWS + 1 + extra and summary.kept == ROWS + 1 + extra // 2, (source, summary)
        # corrections also keep the model output they replaced (the rejected side of a preference pair)
        kept = {"examples.parquet"} | ({"model_outputs.parquet"} if source == "corrected_outputs" else set())
        assert set(find_needles(out)) == kept


def test_builtin_tokenizer_learns_no_pii(tmp_path):
    """The vocabulary of builtin:tiny is learnt from the sample drops, and ships with every merged model."""
    from assets.train import _tokenizer_corpus
    from resources.model.tiny import build_tokenizer

    samples = tmp_path / "samples"
    shutil.copytree(REPO / "data" / "samples", samples)
    plant_drops(samples)
    vocab = build_tokenizer(_tokenizer_corpus(str(samples))).get_vocab()
    learnt = sorted(t for t in vocab if any(f in t.lower() for f in FRAGMENTS))
    assert not learnt, f"the tokenizer learnt pieces of planted PII: {learnt}"
