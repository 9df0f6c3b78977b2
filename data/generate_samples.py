"""Generate the embedded sample drops of the four raw sources (fictional shop "Nordlicht Home").

    python data/generate_samples.py [--out data/samples] [--scale N]

Deterministic: the same arguments give byte-identical files, so the committed output can be checked against a
fresh run. ``--scale`` multiplies every row count (clean rows and planted defects alike) for benchmarks.

The data is small and templated on purpose: answers are short and checkable (JSON fields, one fixed sentence
per policy topic, one templated summary sentence) so a tiny model learns them on CPU in seconds. Realistic
defects are planted and counted; the counts go into ``README.md`` next to the files.

Only the standard library and pyarrow are used, so the script runs without the project installed. The task
instructions below must stay equal to ``resources/sources/rules.py:TASK_INSTRUCTIONS`` (annotations are turned
into prompts with them, and cross-source duplicates are only exact if both sides use the same words).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import zlib
from collections import Counter
from pathlib import Path

SEED = 20261101

TASK_INSTRUCTIONS = {
    "extract_order": "Extract the order details from the customer message as JSON with keys order_id, item, "
                     "quantity, issue.",
    "summarise": "Summarise this support conversation in one sentence.",
    "policy_qa": "Answer the customer's question about Nordlicht Home's policies.",
}

# (singular, plural)
ITEMS = [
    ("Malmö oak side table", "Malmö oak side tables"),
    ("Lübeck linen duvet cover", "Lübeck linen duvet covers"),
    ("Ålesund wool throw", "Ålesund wool throws"),
    ("Bergen ceramic table lamp", "Bergen ceramic table lamps"),
    ("Kiel stoneware mug set", "Kiel stoneware mug sets"),
    ("Göteborg floor cushion", "Göteborg floor cushions"),
    ("Aarhus bamboo bath mat", "Aarhus bamboo bath mats"),
    ("Flensburg glass vase", "Flensburg glass vases"),
    ("Tromsø desk lamp", "Tromsø desk lamps"),
    ("Uppsala cotton towel set", "Uppsala cotton towel sets"),
    ("Rügen rattan basket", "Rügen rattan baskets"),
    ("Hygge scented candle", "Hygge scented candles"),
]
NAMES = ["Jürgen Müller", "Zoë Lambert", "Søren Nielsen", "Anna Schmidt", "Lukas Weber", "Élodie Martin",
         "Marta Kowalska", "Jonas Björk", "Giulia Rossi", "Pieter de Vries", "Sofía García", "Ines Brandão",
         "Mikael Järvinen", "Katrin Hoffmann", "Luca Bianchi", "Ewa Nowak"]
QTY_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}

# issue label -> clause templates ({it}/{them}/{is}/... follow the quantity), past-tense summary phrase
ISSUES = {
    "damaged": (["{it} arrived damaged", "{it} came with cracks and scratches",
                 "the box was crushed and {it} {is} broken"], "arrived damaged"),
    "missing": (["the parcel was marked as delivered but nothing was in it",
                 "{it} never arrived although tracking says delivered"], "never arrived"),
    "wrong_item": (["I received a completely different product", "the wrong item was in the box"],
                   "{was} delivered as the wrong item"),
    "late_delivery": (["the delivery is already {days} days late", "{it} still {has} not arrived after the "
                       "promised date"], "{was} delivered late"),
    "return": (["I would like to return {them}", "{it} {does} not fit our flat, so I want to send {them} back"],
               "should be returned"),
}
RESOLUTIONS = {
    "damaged": ["sent a free replacement", "issued a full refund to the original payment method"],
    "missing": ["opened a carrier investigation and promised a replacement",
                "shipped the order again at no cost"],
    "wrong_item": ["arranged a free exchange with a prepaid return label",
                   "sent the correct item and a prepaid return label"],
    "late_delivery": ["shared the tracking link and confirmed delivery within 3 business days",
                      "offered a 10 EUR voucher for the delay"],
    "return": ["sent a prepaid return label and explained the refund takes 5 business days",
               "confirmed the return window of 30 days and sent a return label"],
}
OPENERS = ["Hello,", "Hi,", "Good morning,", "Dear Nordlicht Home team,", ""]
CLOSINGS = ["Can you help?", "Please advise.", "What are my options?", "Thanks in advance.", ""]

# topic -> (question variants, fixed answer): the answer to a policy question is always the same sentence
POLICY = {
    "return_window": (["How long do I have to return something?", "What is your return window?",
                       "Can I still return an item I bought three weeks ago?"],
                      "You can return any unused item within 30 days of delivery for a full refund."),
    "return_cost": (["Do I have to pay for return shipping?", "Are returns free?",
                     "Who pays the postage when I send something back?"],
                    "Returns are free within Germany and Austria; from other EU countries return shipping "
                    "costs 5.95 EUR."),
    "refund_method": (["How will I get my money back?", "How is a refund paid out?",
                       "When do I get my refund after a return?"],
                      "Refunds go to the original payment method within 5 business days after we receive "
                      "the return."),
    "shipping_germany": (["How long does shipping to Germany take?", "When will my order arrive in Berlin?",
                          "What is the delivery time within Germany?"],
                         "Standard delivery within Germany takes 2-4 business days."),
    "shipping_eu": (["How long does delivery to France take?", "What is the delivery time to Italy?",
                     "How long does shipping to the Netherlands take?"],
                    "Standard delivery to other EU countries takes 4-7 business days."),
    "shipping_cost": (["How much is shipping?", "Is shipping free?", "What does delivery cost?"],
                      "Shipping is free on orders over 50 EUR; below that standard shipping costs 4.95 EUR."),
    "express": (["Do you offer express delivery?", "Can I get my order faster?",
                 "Is next-day delivery possible?"],
                "Express delivery within Germany takes 1 business day and costs 9.95 EUR if ordered before "
                "2 pm."),
    "damaged_policy": (["What should I do if my item arrived damaged?", "My lamp arrived broken, what now?",
                        "How do I report a damaged delivery?"],
                       "Report damage within 14 days with a photo and we send a free replacement or a full "
                       "refund."),
    "warranty": (["Is there a warranty on furniture?", "How long is the warranty?",
                  "Are lamps covered by a guarantee?"],
                 "All furniture and lamps have a 2-year warranty against manufacturing defects."),
    "payment": (["Which payment methods do you accept?", "Can I pay with PayPal?",
                 "Do you accept invoice payment?"],
                "We accept credit cards, PayPal, Klarna invoice and SEPA direct debit."),
    "order_change": (["Can I change my order after placing it?", "How do I cancel an order?",
                      "I made a mistake in my order, can I still edit it?"],
                     "You can change or cancel an order within 1 hour of placing it on your account page."),
    "gift_card": (["Can I return a gift card?", "How long is a gift card valid?",
                   "Can I get cash back for a gift card?"],
                  "Gift cards cannot be refunded and are valid for 3 years from purchase."),
    "outside_eu": (["Do you ship to Switzerland?", "Can you deliver to the UK?", "Do you ship outside the EU?"],
                   "We currently deliver only to addresses within the European Union."),
}
QUESTION_PREFIXES = ["", "Hi! ", "Hello, quick question: ", "Good evening. ", "Hey there, "]
QUESTION_SUFFIXES = ["", " Thanks!", " Thank you in advance.", " Best, {first}"]

REVIEWERS = ["a.berg", "m.schulz", "l.dubois", "k.nowak"]
ANNOTATORS = ["expert-01", "expert-02", "expert-03"]


# --- small helpers ---------------------------------------------------------------------------------------------

def rng_for(name: str, scale: int) -> random.Random:
    # zlib.crc32, not hash(): str hashes are salted per process and would break determinism
    return random.Random(SEED + zlib.crc32(f"{name}:{scale}".encode()))


def mojibake(text: str) -> str:
    """UTF-8 bytes read as Windows-1252 (what a mis-configured export does): 'ü' -> 'Ã¼'."""
    out = []
    for b in text.encode("utf-8"):
        try:
            out.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(bytes([b]).decode("latin-1"))
    return "".join(out)


def luhn_card(rng: random.Random) -> str:
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # positions 1.. from the right, check digit goes at position 0
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return " ".join(s[i:i + 4] for i in range(0, 16, 4))


def german_iban(rng: random.Random) -> str:
    bban = "".join(str(rng.randrange(10)) for _ in range(18))
    check = 98 - int(bban + "131400") % 97  # "DE00" moved to the end, letters as numbers (D=13, E=14)
    s = f"DE{check:02d}{bban}"
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


def pii_sentence(rng: random.Random, name: str) -> str:
    first, last = name.split(" ", 1)
    email = f"{first.lower()}.{last.split()[-1].lower()}@example.de".replace("ü", "ue").replace("ö", "oe")
    kind = rng.randrange(4)
    if kind == 0:
        return f"You can reach me at {email}."
    if kind == 1:
        return f"Please call me back on +49 30 {rng.randrange(1000000, 9999999)}."
    if kind == 2:
        return f"Please refund to my IBAN {german_iban(rng)}."
    return f"I paid with my card {luhn_card(rng)}."


def htmlify(text: str) -> str:
    """What a rich-text chat widget exports: paragraphs, entities, a trailing line break."""
    lines = [line.replace("&", "&amp;").replace(" and ", " &amp; ", 1).replace(", ", ",&nbsp;", 1)
             for line in text.split("\n")]
    return "".join(f"<p>{line}</p>" for line in lines) + "<br/>"


def near_duplicate(text: str, rng: random.Random) -> str:
    """A small edit a human would not call a different message."""
    edits = [
        lambda t: t.replace(", ", " , ", 1),
        lambda t: t.rstrip(".!?") + "!",
        lambda t: t.replace("Hello,", "Hello!", 1) if "Hello," in t else t + " Thanks.",
        lambda t: t.replace(" ", "  ", 1),
        lambda t: t + " Best regards.",
    ]
    return rng.choice(edits)(text)


def long_text(rng: random.Random, words: int = 1600) -> str:
    filler = ["I have been a customer for many years and I have always liked your products",
              "the delivery driver left the parcel at the neighbour's door without ringing",
              "my partner and I spent the whole weekend assembling the furniture",
              "the colour on the website looked slightly warmer than in reality",
              "we also ordered curtains and a rug from another shop at the same time",
              "the instructions were only in Swedish and German which was fine for us",
              "I tried to reach your hotline twice but the waiting time was very long"]
    out, n = [], 0
    while n < words:
        s = rng.choice(filler)
        out.append(s[0].upper() + s[1:] + ".")
        n += len(s.split())
    return " ".join(out)


# --- the three tasks -------------------------------------------------------------------------------------------

def make_order(rng: random.Random) -> dict:
    item, plural = rng.choice(ITEMS)
    qty = rng.choice([1, 1, 1, 2, 2, 3, 4, 5])
    return {"order_id": f"NH-{rng.randrange(100000, 999999)}", "item": item, "plural": plural, "quantity": qty,
            "issue": rng.choice(list(ISSUES)), "name": rng.choice(NAMES)}


def order_clause(order: dict, rng: random.Random) -> str:
    one = order["quantity"] == 1
    clause = rng.choice(ISSUES[order["issue"]][0])
    words = {"it": "it", "them": "it", "is": "is", "has": "has", "does": "does"} if one else \
        {"it": "they", "them": "them", "is": "are", "has": "have", "does": "do"}
    return clause.format(days=rng.randrange(5, 15), **words)


def order_items(order: dict, rng: random.Random) -> str:
    q = order["quantity"]
    word = QTY_WORDS[q] if rng.random() < 0.6 else str(q)
    if q == 1:
        return f"{rng.choice(['one', 'a', '1'])} {order['item']}"
    return f"{word} {order['plural']}"


def extract_example(rng: random.Random, pii: bool = False) -> tuple[str, str, dict]:
    o = make_order(rng)
    templates = [
        "{opener} I ordered {items} (order {oid}) and {clause}. {closing}",
        "{opener} Order {oid}: {items}. Unfortunately {clause}. {closing}",
        "{opener} My order {oid} contained {items}, but {clause}. {closing}",
    ]
    msg = rng.choice(templates).format(opener=rng.choice(OPENERS), items=order_items(o, rng), oid=o["order_id"],
                                       clause=order_clause(o, rng), closing=rng.choice(CLOSINGS))
    msg = " ".join(msg.split())  # templates with an empty opener/closing leave double spaces
    if pii:
        msg += " " + pii_sentence(rng, o["name"])
    msg += f"\n{o['name']}"
    answer = json.dumps({"order_id": o["order_id"], "item": o["item"], "quantity": o["quantity"],
                         "issue": o["issue"]}, ensure_ascii=False)
    return msg, answer, o


def summary_example(rng: random.Random, pii: bool = False, long: bool = False) -> tuple[str, str, dict]:
    o = make_order(rng)
    first = o["name"].split()[0]
    resolution = rng.choice(RESOLUTIONS[o["issue"]])
    customer = f"Hi, this is {o['name']}. My order {o['order_id']} with {order_items(o, rng)}: {order_clause(o, rng)}."
    if long:
        customer += " " + long_text(rng)
    if pii:
        customer += " " + pii_sentence(rng, o["name"])
    turns = [
        f"Customer: {customer}",
        f"Agent: I'm sorry to hear that, {first}. I have {resolution}.",
        f"Customer: {rng.choice(['Thank you, that works for me.', 'Great, thanks for the quick help.', 'OK, fine.'])}",
        f"Agent: {rng.choice(['You are welcome, have a nice day!', 'Happy to help. Take care!', 'Thanks for your patience.'])}",
    ]
    n = o["quantity"]
    what = o["item"] if n == 1 else f"{n} {o['plural']}"
    summary = f"The customer reported that {what} from order {o['order_id']} {ISSUES[o['issue']][1].format(was='was' if n == 1 else 'were')}, " \
              f"and the agent {resolution}."
    return "\n".join(turns), summary, o


def policy_example(rng: random.Random, pii: bool = False) -> tuple[str, str, dict]:
    topic = rng.choice(list(POLICY))
    questions, answer = POLICY[topic]
    name = rng.choice(NAMES)
    q = rng.choice(QUESTION_PREFIXES) + rng.choice(questions) + rng.choice(QUESTION_SUFFIXES).format(
        first=name.split()[0])
    if pii:
        q += " " + pii_sentence(rng, name)
    return q, answer, {"topic": topic}


def task_example(task: str, rng: random.Random, pii: bool = False, long: bool = False) -> tuple[str, str]:
    if task == "extract_order":
        doc, ans, _ = extract_example(rng, pii)
        if long:
            doc = doc + "\n" + long_text(rng)
    elif task == "summarise":
        doc, ans, _ = summary_example(rng, pii, long)
    else:
        doc, ans, _ = policy_example(rng, pii)
        if long:
            doc = long_text(rng) + " " + doc
    return doc, ans


def pick_task(rng: random.Random) -> str:
    return rng.choices(list(TASK_INSTRUCTIONS), weights=[4, 3, 3])[0]


def prompt_of(task: str, doc: str) -> str:
    return f"{TASK_INSTRUCTIONS[task]}\n\n{doc}"


def wrong_answer(task: str, answer: str, rng: random.Random) -> str:
    """What a weak model or a rejected reply looks like: plausible but wrong."""
    if task == "extract_order":
        d = json.loads(answer)
        d["quantity"] = d["quantity"] + 1
        d["issue"] = rng.choice([i for i in ISSUES if i != d["issue"]])
        return json.dumps(d, ensure_ascii=False)
    if task == "summarise":
        return "The customer had a question and the agent helped."
    return rng.choice(["Please contact our support team for details.", "Returns are possible within 14 days.",
                       "Shipping usually takes about two weeks."])


# --- a planted defect applied to a (doc, answer) pair --------------------------------------------------------

class Planter:
    """Applies text defects and counts them per source, so the README says exactly what was planted."""

    def __init__(self, rng: random.Random, counts: Counter):
        self.rng, self.counts = rng, counts

    def text_defect(self, doc: str, answer: str, kind: str) -> tuple[str, str]:
        self.counts[kind] += 1
        if kind == "mojibake":
            return mojibake(doc), mojibake(answer)
        if kind == "html":
            return htmlify(doc), answer
        if kind == "whitespace":
            return "  " + doc.replace(" ", "   ", 2) + " \t\n\n", " " + answer + "  \n"
        raise ValueError(kind)


def plan(rng: random.Random, n: int, scale: int, defects: dict[str, int]) -> list[str]:
    """Which clean-row slots get which text defect ('' = none); a fixed count each, spread at random."""
    slots = [""] * n
    free = list(range(n))
    rng.shuffle(free)
    for kind, count in defects.items():
        for _ in range(count * scale):
            if free:
                slots[free.pop()] = kind
    return slots


TEXT_DEFECTS = {"mojibake": 4, "html": 4, "whitespace": 4, "pii": 8, "long": 1}


def base_rows(name: str, n: int, scale: int, counts: Counter) -> list[tuple[str, str, str]]:
    """n clean (task, document, answer) rows with the text defects planted."""
    rng = rng_for(name + ":rows", scale)
    planter = Planter(rng, counts)
    rows = []
    for kind in plan(rng, n * scale, scale, TEXT_DEFECTS):
        task = pick_task(rng)
        doc, ans = task_example(task, rng, pii=kind == "pii", long=kind == "long")
        if kind in ("pii", "long"):
            counts[kind] += 1
        elif kind:
            doc, ans = planter.text_defect(doc, ans, kind)
        rows.append((task, doc, ans))
    return rows


def stamp(rng: random.Random, day_from: int, day_to: int) -> str:
    return (f"2026-{10 if day_from > 20 else 11}-{rng.randrange(day_from, day_to):02d}T"
            f"{rng.randrange(8, 19):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z")


def spread(rng: random.Random, rows: list, extra: list) -> list:
    """Insert extra rows at random positions (deterministic), so defects are not all at the end."""
    out = list(rows)
    for item in extra:
        out.insert(rng.randrange(len(out) + 1), item)
    return out


def jsonl_line(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


# --- sources ---------------------------------------------------------------------------------------------------

def interaction(rng: random.Random, task: str, doc: str, ans: str, verdict: str, day: tuple[int, int]) -> dict:
    msgs = [{"role": "user", "content": prompt_of(task, doc)}, {"role": "assistant", "content": ans}]
    if rng.random() < 0.25:
        msgs.insert(0, {"role": "system", "content": "You are the customer support assistant of Nordlicht Home."})
    return {"messages": msgs, "task": task, "verdict": verdict, "reviewer": rng.choice(REVIEWERS),
            "reviewed_at": stamp(rng, *day)}


def reviewed_drop(name: str, n: int, scale: int, day: tuple[int, int], counts: Counter,
                  earlier: list[dict] | None = None) -> tuple[list[str], list[dict]]:
    rng = rng_for(name, scale)
    records = []
    for task, doc, ans in base_rows(name, n, scale, counts):
        verdict = "approved"
        if rng.random() < 0.15:
            verdict = "rejected"
            ans = wrong_answer(task, ans, rng)
            counts["rejected_verdict"] += 1
        records.append(interaction(rng, task, doc, ans, verdict, day))
    clean = [r for r in records if r["verdict"] == "approved"]
    extra: list[str] = []
    for _ in range(3 * scale):  # byte-identical repeats of a line (export ran twice)
        extra.append(jsonl_line(rng.choice(clean)))
        counts["exact_duplicate"] += 1
    for _ in range(3 * scale):  # the same request with a small edit
        r = json.loads(json.dumps(rng.choice(clean)))
        u = next(m for m in r["messages"] if m["role"] == "user")
        u["content"] = near_duplicate(u["content"], rng)
        extra.append(jsonl_line(r))
        counts["near_duplicate"] += 1
    if earlier:  # the second drop re-delivers part of the first (same conversation, new review)
        for _ in range(4 * scale):
            r = json.loads(json.dumps(rng.choice(earlier)))
            r["reviewer"], r["reviewed_at"] = rng.choice(REVIEWERS), stamp(rng, *day)
            extra.append(jsonl_line(r))
            counts["duplicate_of_earlier_drop"] += 1
        for _ in range(2 * scale):
            r = json.loads(json.dumps(rng.choice(earlier)))
            u = next(m for m in r["messages"] if m["role"] == "user")
            u["content"] = near_duplicate(u["content"], rng)
            r["reviewed_at"] = stamp(rng, *day)
            extra.append(jsonl_line(r))
            counts["near_duplicate_of_earlier_drop"] += 1
    for _ in range(2 * scale):  # an assistant turn left empty by the chat tool
        r = json.loads(json.dumps(rng.choice(clean)))
        r["messages"][-1]["content"] = rng.choice(["", "   "])
        extra.append(jsonl_line(r))
        counts["empty_answer"] += 1
    malformed = [
        ("broken_json", lambda r: jsonl_line(r)[:-25]),  # truncated write
        ("broken_json", lambda r: jsonl_line(r).replace('"task"', "task", 1)),
        ("non_object_json", lambda r: jsonl_line(r["messages"])),
        ("wrong_type", lambda r: jsonl_line({**r, "messages": r["messages"][-1]["content"]})),
        ("wrong_type", lambda r: jsonl_line({**r, "messages": [{"role": "user", "content": 42},
                                                                 r["messages"][-1]]})),
        ("invalid_role", lambda r: jsonl_line({**r, "messages": [{"role": "customer", "content": "Hi"},
                                                                   r["messages"][-1]]})),
        ("missing_field", lambda r: jsonl_line({k: v for k, v in r.items() if k != "task"})),
        ("missing_field", lambda r: jsonl_line({k: v for k, v in r.items() if k != "messages"})),
    ]
    for _ in range(scale):
        for kind, make in malformed:
            extra.append(make(rng.choice(clean)))
            counts[kind] += 1
    lines = spread(rng, [jsonl_line(r) for r in records], extra)
    return lines, clean


def corrected_rows(scale: int, counts: Counter, interactions: list[dict]) -> str:
    name = "corrected_outputs"
    rng = rng_for(name, scale)
    header = ["prompt", "model_output", "corrected_output", "task", "corrected_at"]
    rows = []
    for task, doc, ans in base_rows(name, 180, scale, counts):
        rows.append([prompt_of(task, doc), wrong_answer(task, ans, rng), ans, task, stamp(rng, 2, 6)])
    extra = []
    for _ in range(3 * scale):
        extra.append(list(rng.choice(rows)))
        counts["exact_duplicate"] += 1
    for _ in range(3 * scale):
        r = list(rng.choice(rows))
        r[0] = near_duplicate(r[0], rng)
        extra.append(r)
        counts["near_duplicate"] += 1
    for _ in range(3 * scale):  # a reviewer corrected an answer that also went through interaction review
        it = rng.choice(interactions)
        user = next(m["content"] for m in it["messages"] if m["role"] == "user")
        extra.append([user, wrong_answer(it["task"], it["messages"][-1]["content"], rng),
                      it["messages"][-1]["content"], it["task"], stamp(rng, 2, 6)])
        counts["duplicate_across_sources"] += 1
    for _ in range(2 * scale):
        r = list(rng.choice(rows))
        r[2] = ""
        extra.append(r)
        counts["empty_answer"] += 1

    def record(fields: list[str]) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(fields)
        return buf.getvalue()

    # whole records, so a planted bad line never lands inside a quoted multi-line field
    text = [record(r) for r in spread(rng, rows, extra)]
    for _ in range(scale):  # a row whose last column got lost, and one with a column too many
        text.insert(rng.randrange(len(text) + 1), 'Where is my parcel?,"It is on the way.",It is on the way.,policy_qa\n')
        counts["missing_column"] += 1
        text.insert(rng.randrange(len(text) + 1),
                    'How long is the warranty?,2 years,All furniture and lamps have a 2-year warranty against '
                    'manufacturing defects.,policy_qa,2026-11-04T10:00:00Z,extra\n')
        counts["extra_column"] += 1
    text.insert(0, record(header))
    return "".join(text)


def annotation_of(task: str, answer: str) -> str:
    if task == "extract_order":
        return answer  # already the JSON object
    return json.dumps({"summary" if task == "summarise" else "answer": answer}, ensure_ascii=False)


def annotation_table(scale: int, counts: Counter, interactions: list[dict]):
    import pyarrow as pa

    name = "expert_annotations"
    rng = rng_for(name, scale)
    rows = []
    for task, doc, ans in base_rows(name, 150, scale, counts):
        rows.append({"document": doc, "annotation": annotation_of(task, ans), "task": task})
    extra = []
    for _ in range(2 * scale):
        extra.append(dict(rng.choice(rows)))
        counts["exact_duplicate"] += 1
    for _ in range(2 * scale):
        r = dict(rng.choice(rows))
        r["document"] = near_duplicate(r["document"], rng)
        extra.append(r)
        counts["near_duplicate"] += 1
    for _ in range(3 * scale):  # the same customer message annotated by an expert and reviewed in chat
        it = rng.choice(interactions)
        user = next(m["content"] for m in it["messages"] if m["role"] == "user")
        doc = user.split("\n\n", 1)[1]
        extra.append({"document": doc, "annotation": annotation_of(it["task"], it["messages"][-1]["content"]),
                      "task": it["task"]})
        counts["duplicate_across_sources"] += 1
    for _ in range(scale):
        extra.append({**rng.choice(rows), "annotation": '{"order_id": "NH-1", "item": '})
        counts["broken_json"] += 1
        extra.append({**rng.choice(rows), "annotation": "{}"})
        counts["empty_answer"] += 1
        extra.append({**rng.choice(rows), "document": None})
        counts["missing_field"] += 1
        extra.append({**rng.choice(rows), "task": "translate"})
        counts["unknown_task"] += 1
    rows = spread(rng, rows, extra)
    for i, r in enumerate(rows, 1):
        r["doc_id"] = f"DOC-{i:05d}"
        r["annotator"] = rng.choice(ANNOTATORS)
        r["annotated_at"] = stamp(rng, 1, 4)
    cols = ["doc_id", "document", "annotation", "task", "annotator", "annotated_at"]
    table = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in cols})
    return table.replace_schema_metadata(None)


def teacher_record(rng: random.Random, task: str, doc: str, ans: str, score: float) -> dict:
    fmt = rng.choice(["alpaca", "prompt_completion", "sharegpt"])
    if fmt == "alpaca":
        rec = {"instruction": TASK_INSTRUCTIONS[task], "input": doc, "output": ans}
    elif fmt == "prompt_completion":
        rec = {"prompt": prompt_of(task, doc), "completion": ans}
    else:
        conv = [{"from": "human", "value": prompt_of(task, doc)}, {"from": "gpt", "value": ans}]
        if rng.random() < 0.3:
            conv.insert(0, {"from": "system", "value": "You are the customer support assistant of Nordlicht Home."})
        rec = {"conversations": conv}
    return {**rec, "score": score, "task": task}


def teacher_lines(scale: int, counts: Counter, interactions: list[dict]) -> list[str]:
    name = "teacher_synthetic"
    rng = rng_for(name, scale)
    records = []
    for task, doc, ans in base_rows(name, 300, scale, counts):
        if rng.random() < 0.2:  # the teacher got it wrong and knew it was unsure
            score = round(rng.uniform(0.05, 0.69), 2)
            ans = wrong_answer(task, ans, rng)
            counts["low_score"] += 1
        else:
            score = round(rng.uniform(0.7, 1.0), 2)
        records.append(teacher_record(rng, task, doc, ans, score))
    good = [r for r in records if r["score"] >= 0.7]
    extra = []
    for _ in range(3 * scale):
        extra.append(jsonl_line(rng.choice(good)))
        counts["exact_duplicate"] += 1
    for _ in range(3 * scale):
        r = json.loads(json.dumps(rng.choice(good)))
        for k in ("input", "prompt"):
            if k in r:
                r[k] = near_duplicate(r[k], rng)
        if "conversations" in r:
            r["conversations"][-2]["value"] = near_duplicate(r["conversations"][-2]["value"], rng)
        extra.append(jsonl_line(r))
        counts["near_duplicate"] += 1
    for _ in range(3 * scale):  # the teacher regenerated an example a human already reviewed
        it = rng.choice(interactions)
        user = next(m["content"] for m in it["messages"] if m["role"] == "user")
        extra.append(jsonl_line({"prompt": user, "completion": it["messages"][-1]["content"],
                                 "score": round(rng.uniform(0.8, 1.0), 2), "task": it["task"]}))
        counts["duplicate_across_sources"] += 1
    for _ in range(scale):
        r = rng.choice(good)
        extra.append(jsonl_line({**r, "score": "high"}))
        counts["wrong_type"] += 1
        extra.append(jsonl_line({k: v for k, v in r.items() if k != "score"}))
        counts["missing_field"] += 1
        extra.append(jsonl_line({"prompt": "How much is shipping?", "completion": 4.95, "score": 0.9,
                                 "task": "policy_qa"}))
        counts["wrong_type"] += 1
        extra.append(jsonl_line({"conversations": [{"from": "human", "value": "Hi"}, {"from": "bot", "value": "Hello"}],
                                 "score": 0.9, "task": "policy_qa"}))
        counts["invalid_role"] += 1
        extra.append(jsonl_line({"instruction": TASK_INSTRUCTIONS["policy_qa"], "input": "Are returns free?",
                                 "output": "", "score": 0.8, "task": "policy_qa"}))
        counts["empty_answer"] += 1
        extra.append(jsonl_line({"text": "Nordlicht Home sells Scandinavian homeware.", "score": 0.9,
                                 "task": "policy_qa"}))
        counts["unknown_format"] += 1
        extra.append(jsonl_line(r)[: len(jsonl_line(r)) // 2])
        counts["broken_json"] += 1
        extra.append("")  # a blank line in the middle of the file
        counts["blank_line"] += 1
    return spread(rng, [jsonl_line(r) for r in records], extra)


# --- main ------------------------------------------------------------------------------------------------------

README_HEAD = """# Sample drops: Nordlicht Home customer support

Generated by `python data/generate_samples.py --scale {scale}` (deterministic; do not edit by hand).
Fictional European online shop selling Scandinavian homeware. Three checkable tasks:

- `extract_order`: customer message -> JSON `{{"order_id", "item", "quantity", "issue"}}`
  (issue one of {issues}).
- `summarise`: four-turn support conversation -> one templated sentence.
- `policy_qa`: a policy question -> the fixed answer sentence of one of {n_topics} policy topics.

| source | file | format |
|---|---|---|
| reviewed_interactions | `2026-11-01.jsonl`, `2026-11-08.jsonl` | `{{"messages":[{{"role","content"}}], "task", "verdict", "reviewer", "reviewed_at"}}` |
| corrected_outputs | `2026-11-05.csv` | `prompt,model_output,corrected_output,task,corrected_at` |
| expert_annotations | `2026-11-03.parquet` | `doc_id,document,annotation (JSON),task,annotator,annotated_at` |
| teacher_synthetic | `2026-11-06.jsonl` | alpaca / prompt-completion / ShareGPT records with `score` and `task` |

## Planted defects (counts per file)

Text defects on otherwise valid rows: `mojibake` (UTF-8 read as cp1252, "ü" -> "Ã¼"), `html` (tags and
entities), `whitespace` (stray spaces, tabs, trailing newlines), `pii` (e-mail, +49 phone, German IBAN or
Luhn-valid card number in the customer text), `long` (one over-long item of more than 1500 words).
Duplicates: `exact_duplicate` (same content), `near_duplicate` (small edit), `duplicate_of_earlier_drop`,
`near_duplicate_of_earlier_drop`, `duplicate_across_sources` (same prompt and answer as a reviewed interaction).
Malformed rows (the source readers reject them): `broken_json`, `non_object_json`, `wrong_type`, `invalid_role`,
`missing_field`, `missing_column`, `extra_column`, `empty_answer`, `unknown_task`, `unknown_format`,
`blank_line`. Filtered by rule: `rejected_verdict` (interactions), `low_score` (teacher score < 0.7).

"""


def generate(out: Path, scale: int = 1) -> dict[str, Counter]:
    import pyarrow.parquet as pq

    counts: dict[str, Counter] = {}
    written: dict[str, int] = {}

    def write(rel: str, text: str) -> None:
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode("utf-8"))

    c1, c2 = Counter(), Counter()
    lines1, clean1 = reviewed_drop("reviewed_interactions/2026-11-01", 170, scale, (26, 31), c1)
    lines2, clean2 = reviewed_drop("reviewed_interactions/2026-11-08", 150, scale, (2, 8), c2, earlier=clean1)
    write("reviewed_interactions/2026-11-01.jsonl", "\n".join(lines1) + "\n")
    write("reviewed_interactions/2026-11-08.jsonl", "\n".join(lines2) + "\n")
    counts["reviewed_interactions/2026-11-01.jsonl"], written["reviewed_interactions/2026-11-01.jsonl"] = c1, len(lines1)
    counts["reviewed_interactions/2026-11-08.jsonl"], written["reviewed_interactions/2026-11-08.jsonl"] = c2, len(lines2)

    c = Counter()
    text = corrected_rows(scale, c, clean1)
    write("corrected_outputs/2026-11-05.csv", text)
    counts["corrected_outputs/2026-11-05.csv"] = c
    written["corrected_outputs/2026-11-05.csv"] = sum(1 for _ in csv.reader(io.StringIO(text))) - 1

    c = Counter()
    table = annotation_table(scale, c, clean1)
    p = out / "expert_annotations/2026-11-03.parquet"
    p.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, p, compression="zstd", write_statistics=False)
    counts["expert_annotations/2026-11-03.parquet"], written["expert_annotations/2026-11-03.parquet"] = c, table.num_rows

    c = Counter()
    lines = teacher_lines(scale, c, clean1)
    write("teacher_synthetic/2026-11-06.jsonl", "\n".join(lines) + "\n")
    counts["teacher_synthetic/2026-11-06.jsonl"], written["teacher_synthetic/2026-11-06.jsonl"] = c, len(lines)

    readme = [README_HEAD.format(scale=scale, issues=", ".join(ISSUES), n_topics=len(POLICY))]
    kinds = sorted({k for cnt in counts.values() for k in cnt})
    files = list(counts)
    readme.append("| defect | " + " | ".join(f"`{f.split('/', 1)[1]}`" for f in files) + " |")
    readme.append("|---|" + "---|" * len(files))
    readme.append("| rows (lines / records) | " + " | ".join(str(written[f]) for f in files) + " |")
    for k in kinds:
        readme.append(f"| {k} | " + " | ".join(str(counts[f].get(k, 0)) for f in files) + " |")
    write("README.md", "\n".join(readme) + "\n")
    return counts


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="data/samples", type=Path)
    ap.add_argument("--scale", default=1, type=int, help="multiply every row count (benchmarks)")
    args = ap.parse_args(argv)
    if args.scale < 1:
        ap.error("--scale must be >= 1")
    counts = generate(args.out, args.scale)
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"wrote {len(counts)} drops to {args.out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
