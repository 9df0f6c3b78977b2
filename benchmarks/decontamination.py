"""Decontamination benchmark: 100k training rows against every MMLU test item, containment vs. whole-row Jaccard.

Rows are support chats from the embedded samples, each followed by a GSM8K question and its worked answer (so
rows are long and varied, as real training rows are). A known number of rows get an MMLU item planted in the
middle of the chat: verbatim (question and four choices), or lightly edited (case changed, punctuation
dropped, choices lettered "A) ...", one word in every 15 replaced). Printed: rows/s and wall time of the new
containment path and of the old Jaccard path (``containment=None``, today's behaviour), recall on the planted
rows of each, and how many unplanted rows each removed.

    .venv/bin/python benchmarks/decontamination.py                  # 100k rows, 500 + 500 planted, all of MMLU
    .venv/bin/python benchmarks/decontamination.py --rows 10000 --old-rows 10000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from resources.evaluation.benchmarks import load_multiple_choice  # noqa: E402
from resources.schema import EXAMPLE_COLUMNS, make_example  # noqa: E402

SHARED = REPO.parent / "shared" / "benchmarks"


def sample_chats() -> list[list[dict]]:
    """The conversations of the embedded reviewed-interaction drops."""
    chats = []
    for path in sorted((REPO / "data" / "samples" / "reviewed_interactions").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                msgs = json.loads(line)["messages"]
            except (ValueError, KeyError, TypeError):
                continue  # the samples plant malformed lines on purpose
            if (isinstance(msgs, list) and all(isinstance(m, dict) and "content" in m for m in msgs)
                    and any(m.get("role") == "user" for m in msgs) and msgs[-1].get("role") == "assistant"):
                chats.append([{"role": m.get("role", "user"), "content": str(m["content"])} for m in msgs])
    return chats


def gsm8k() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (SHARED / "gsm8k_test.jsonl").read_text().splitlines() if line.strip()]
    return [(r["question"], r["answer"]) for r in rows]


def item_text(item: dict) -> str:
    return "\n".join([item["question"], *item["choices"]])


def light_edit(item: dict, rng: random.Random) -> str:
    """What a person pasting a quiz question does to it: letters the choices, changes case, drops punctuation,
    rewords a little."""
    words = item["question"].split()
    words = [rng.choice(["the", "this", "that"]) if i % 15 == 14 else w for i, w in enumerate(words)]
    text = " ".join(words) + "\n" + "\n".join(f"{'ABCD'[k]}) {c}" for k, c in enumerate(item["choices"]))
    text = text.upper() if rng.random() < 0.3 else text.lower() if rng.random() < 0.5 else text
    return "".join(ch for ch in text if ch not in ",.;:?!'\"") if rng.random() < 0.5 else text


def build_rows(n_rows: int, n_planted: int, items: list[dict], seed: int) -> tuple[pd.DataFrame, dict]:
    """Training rows, and planted row id -> (kind, planted item id)."""
    rng = random.Random(seed)
    chats, maths = sample_chats(), gsm8k()
    planted_at = rng.sample(range(n_rows), 2 * n_planted)
    kinds = {r: ("verbatim" if k < n_planted else "edited") for k, r in enumerate(planted_at)}
    picked = rng.sample(range(len(items)), 2 * n_planted)
    which = {r: items[picked[k]] for k, r in enumerate(planted_at)}
    rows, truth = [], {}
    for r in range(n_rows):
        chat = [dict(m) for m in rng.choice(chats)]
        question, answer = rng.choice(maths)
        user = [m for m in chat if m["role"] == "user"][-1]
        user["content"] += f"\n\nAlso, a maths question from my son: {question}"
        chat[-1]["content"] += f"\n\nAbout the maths question: {answer}"
        if r in kinds:
            item = which[r]
            text = item_text(item) if kinds[r] == "verbatim" else light_edit(item, rng)
            user["content"] += f"\n\nAnd one from his quiz, which answer is right?\n{text}\nThanks!"
            truth[f"bench/d1/{r + 1}"] = (kinds[r], item["id"])
        rows.append(make_example(source="teacher_synthetic", drop="d1", row=r + 1, task="policy_qa", messages=chat))
    return pd.DataFrame(rows, columns=list(EXAMPLE_COLUMNS)).assign(
        id=lambda f: "bench/d1/" + f["row"].astype(str)), truth


def run(label: str, train: pd.DataFrame, items: list[tuple[str, str]], truth: dict, **kwargs) -> dict:
    from resources.dedup.resource import Deduplicator
    from resources.prepare.decontaminate import decontaminate

    empty = train.iloc[:0]
    start = time.perf_counter()
    clean, _, ledger, stats = decontaminate(train, empty, items, Deduplicator().near_pairs, **kwargs)
    wall = time.perf_counter() - start
    removed = set(train["id"]) - set(clean["id"])
    reasons = dict(zip(ledger["id"], ledger["reason"]))
    out = {"label": label, "rows": len(train), "wall_s": round(wall, 2), "rows_per_s": round(len(train) / wall)}
    for kind in ("verbatim", "edited"):
        ids = [i for i, (k, _) in truth.items() if k == kind and i in set(train["id"])]
        hit = [i for i in ids if i in removed]
        right = [i for i in hit if f":{truth[i][1]} " in reasons[i]]  # named the planted item
        out[f"recall_{kind}"] = f"{len(hit)}/{len(ids)} ({len(hit) / max(len(ids), 1):.1%}), right item {len(right)}"
    out["removed_unplanted"] = len(removed - set(truth))
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--planted", type=int, default=500, help="rows planted verbatim, and as many lightly edited")
    ap.add_argument("--old-rows", type=int, default=100_000, help="rows given to the old Jaccard path (0: skip)")
    ap.add_argument("--benchmark", default=str(SHARED / "mmlu"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    items = load_multiple_choice(args.benchmark)
    start = time.perf_counter()
    train, truth = build_rows(args.rows, args.planted, items, args.seed)
    words = train["messages"].str.split().str.len()
    print(f"{len(train)} rows (median {int(words.median())} words), {len(items)} benchmark items, "
          f"{len(truth)} planted; generated in {time.perf_counter() - start:.1f} s", flush=True)
    pairs = [(it["id"], item_text(it)) for it in items]

    from resources.prepare.containment import ContainmentIndex

    start = time.perf_counter()
    index = ContainmentIndex([t for _, t in pairs])
    built = time.perf_counter() - start
    from resources.schema import example_text

    texts = [example_text(r) for r in train.to_dict("records")]
    start = time.perf_counter()
    found = index.matches(texts)
    scan = time.perf_counter() - start
    print(json.dumps({"label": "containment engine only", "index_s": round(built, 2), "scan_s": round(scan, 2),
                      "rows_per_s": round(len(texts) / scan), "matches": len(found)}), flush=True)

    new = run("new: containment + jaccard", train, pairs, truth)
    if args.old_rows:
        old_train = train.iloc[:args.old_rows]
        old = run("old: jaccard only", old_train, pairs, truth, containment=None)
        ratio = (old["wall_s"] / old["rows"]) / (new["wall_s"] / new["rows"])
        print(f"old / new time per row: {ratio:.2f}x", flush=True)


if __name__ == "__main__":
    main()
