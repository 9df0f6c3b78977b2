"""Benchmark: the project's dedup engine (DedupEngine) against the plain datasketch recipe, in one process.

    python benchmarks/dedup.py [--docs 50000] [--seed 0] [--threshold 0.8] [--num-perm 128]

Corpus (deterministic for a seed): documents of 100-300 words in sentences drawn from a Zipf-distributed
synthetic vocabulary, plus planted near duplicates: clusters of 1-4 copies made by word substitutions,
insertions and deletions at a rate drawn per copy from [0, 6 %] (some copies are edits of earlier copies, some
only re-cased/re-spaced), which spreads pair similarities from ~0.5 to 1.0 around the 0.8 threshold.

Both sides see the SAME shingles (word 3-grams of the normalised text, ``exact_truth.plain_normalise``: the same
definition as ``resources/dedup/normalise.py`` in plain Python; asserted on a sample):
- project: ``DedupEngine.deduplicate`` on the whole frame (timed: shingling, hashing, MinHash, LSH, exact
  verification, clustering, survivors), and ``DedupEngine.self_pairs`` for the verified pairs scored below;
- baseline: per document ``MinHash(num_perm, seed=1, scheme="affine32")`` + ``update_batch`` over the
  shingles (datasketch's default SHA-1 hash), ``MinHashLSH.insert`` for all, then ``query`` for each; its
  candidate pairs are what the plain recipe reports (timed: normalising, shingling, MinHash, insert, query).
  ``speedup_vs_baseline_without_normalising`` leaves the baseline's normalising out of its time.

Ground truth = pairs whose exact Jaccard on the shingle sets is >= threshold, computed exactly (an inverted
index of each set's rarest shingles, the prefix filter, finds every such pair; then exact set Jaccard) over a random sample of documents together with
every planted cluster member. recall = share of those pairs found; precision = share of ALL found pairs whose
exact Jaccard is >= threshold.

``light_edits`` in the JSON: the same engine on real text (MMLU and GSM8K items, and copies of a third of
them with one light edit each, ``benchmarks/light_edits.py``): recall = share of copies in their base's cluster,
precision = share of dropped rows whose survivor is of their own family, also per edit kind. The last line
printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))



def make_corpus(n_docs: int, seed: int) -> tuple[list[str], list[list[int]]]:
    """Texts and the planted clusters (lists of document indices, original first)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab_size = 20000
    vocab = ["".join(rng.choice(letters, rng.integers(2, 11))) for _ in range(vocab_size)]
    p = 1.0 / np.arange(1, vocab_size + 1) ** 1.05
    p /= p.sum()

    def sentence_words(idx: np.ndarray) -> list[str]:
        words = [vocab[i] for i in idx.tolist()]
        # sentences of 6-20 words: capitalised first word, full stop at the end
        pos, n = 0, len(words)
        while pos < n:
            end = min(pos + int(rng.integers(6, 21)), n) - 1
            words[pos] = words[pos].capitalize()
            words[end] = words[end] + "."
            pos = end + 1
        return words

    n_clusters = max(1, n_docs // 12)
    copies = rng.integers(1, 5, n_clusters)
    while copies.sum() + n_clusters > n_docs // 3:  # keep planted copies well below the corpus size
        copies = np.maximum(1, copies - 1)
    n_base = n_docs - int(copies.sum())
    lengths = rng.integers(100, 301, n_base)
    all_words = rng.choice(vocab_size, int(lengths.sum()), p=p)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    docs = [sentence_words(all_words[bounds[i]:bounds[i + 1]]) for i in range(n_base)]
    originals = rng.choice(n_base, n_clusters, replace=False)
    clusters = []
    for orig, c in zip(originals.tolist(), copies.tolist()):
        members = [orig]
        for _ in range(c):
            source = docs[members[int(rng.integers(len(members)))]]  # copy of the original or of a copy
            mode = rng.random()
            if mode < 0.1:  # exact after normalisation: different case and spacing only
                upper = rng.random(len(source)) < 0.3
                text_words = [w.upper() if u else w for w, u in zip(source, upper.tolist())]
            else:
                rate = rng.uniform(0.0, 0.06)
                text_words = []
                for w, r in zip(source, rng.random(len(source)).tolist()):
                    if r < rate / 3:
                        continue  # deletion
                    if r < 2 * rate / 3:
                        text_words.append(vocab[int(rng.integers(vocab_size))])  # substitution
                        continue
                    text_words.append(w)
                    if r < rate:
                        text_words.append(vocab[int(rng.integers(vocab_size))])  # insertion
            members.append(len(docs))
            docs.append(text_words)
        clusters.append(members)
    order = rng.permutation(len(docs))
    where = np.empty(len(docs), np.int64)
    where[order] = np.arange(len(docs))
    sep = ["  ", "\n", " ", " ", " "]
    texts = []
    for i in order.tolist():
        words = docs[i]
        gaps = rng.integers(0, len(sep), len(words))
        texts.append("".join(w + sep[g] for w, g in zip(words, gaps.tolist())).strip())
    return texts, [[int(where[m]) for m in c] for c in clusters]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--sample", type=int, default=3000, help="random documents in the ground-truth sample")
    ap.add_argument("--no-light-edits", action="store_true", help="skip the real-text light-edit corpus")
    args = ap.parse_args()
    t_thr, num_perm = args.threshold, args.num_perm

    import pandas as pd
    from datasketch import MinHash, MinHashLSH
    from exact_truth import ground_truth, jaccard, plain_normalise, plain_shingles

    from resources.dedup.engine import DedupEngine
    from resources.dedup.shingles import shingles

    t0 = time.perf_counter()
    texts, clusters = make_corpus(args.docs, args.seed)
    n = len(texts)
    rng = np.random.default_rng(args.seed + 1)
    for i in rng.choice(n, min(n, 200), replace=False).tolist():  # both sides really see the same shingles
        assert shingles(texts[i]) == plain_shingles(texts[i]), f"shingle mismatch on document {i}"
    print(f"corpus: {n} docs, {sum(len(c) for c in clusters)} in {len(clusters)} planted clusters "
          f"({time.perf_counter() - t0:.1f}s to generate)", file=sys.stderr)
    load_before = os.getloadavg()[0]

    # --- project ----------------------------------------------------------------------------------------
    dedup = DedupEngine(threshold=t_thr, num_perm=num_perm)
    dedup.self_pairs(texts[:100])  # warm-up: imports and the cached LSH parameters, not corpus work
    frame = pd.DataFrame({"id": [f"doc{i:07d}" for i in range(n)], "text": texts,
                          "source": "teacher_synthetic", "created_at": ""})
    t0 = time.perf_counter()
    result = dedup.deduplicate(frame)
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours_pairs = {(i, j) for i, j, _ in dedup.self_pairs(texts)}
    pairs_s = time.perf_counter() - t0
    print(f"project: deduplicate {ours_s:.2f}s ({n / ours_s:.0f} docs/s), "
          f"{int(result['duplicate_of'].notna().sum())} duplicates; self_pairs {pairs_s:.2f}s", file=sys.stderr)

    # --- baseline: the plain datasketch recipe ----------------------------------------------------------
    t0 = time.perf_counter()
    normalised = [plain_normalise(t) for t in texts]
    norm_s = time.perf_counter() - t0
    sets = [plain_shingles(t, normalised=True) for t in normalised]
    t1 = time.perf_counter()
    minhashes = []
    for s in sets:
        m = MinHash(num_perm=num_perm, seed=1, scheme="affine32")
        m.update_batch([x.encode("utf-8") for x in s])
        minhashes.append(m)
    t2 = time.perf_counter()
    lsh = MinHashLSH(threshold=t_thr, num_perm=num_perm)
    for i, m in enumerate(minhashes):
        lsh.insert(i, m)
    base_pairs = set()
    for i, m in enumerate(minhashes):
        base_pairs.update((min(i, j), max(i, j)) for j in lsh.query(m) if j != i)
    t3 = time.perf_counter()
    base_s = t3 - t0
    print(f"baseline: {base_s:.2f}s ({n / base_s:.0f} docs/s): normalise+shingles {t1 - t0:.2f}s, minhash {t2 - t1:.2f}s, "
          f"lsh insert+query {t3 - t2:.2f}s", file=sys.stderr)
    load_after = os.getloadavg()[0]

    # --- quality ----------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    sample = set(rng.choice(n, min(n, args.sample), replace=False).tolist())
    universe = sorted(sample | {m for c in clusters for m in c})
    truth = ground_truth(sets, universe, clusters, t_thr)

    def scores(found: set[tuple[int, int]]) -> tuple[float, float]:
        recall = len(truth & found) / len(truth) if truth else 1.0
        good = sum(1 for i, j in found if jaccard(sets[i], sets[j]) >= t_thr)
        return recall, (good / len(found) if found else 1.0)

    recall, precision = scores(ours_pairs)
    base_recall, base_precision = scores(base_pairs)
    survivor = dict(zip(range(n), [None if d is None else int(d[3:]) for d in result["duplicate_of"]]))
    root = {i: (survivor[i] if survivor[i] is not None else i) for i in range(n)}
    cluster_recall = sum(1 for i, j in truth if root[i] == root[j]) / len(truth) if truth else 1.0
    print(f"ground truth: {len(truth)} pairs with Jaccard >= {t_thr} among {len(universe)} docs "
          f"({time.perf_counter() - t0:.1f}s)", file=sys.stderr)

    from light_edits import score

    light = None if args.no_light_edits else score(dedup, args.seed)
    print(json.dumps({
        "docs": n,
        "docs_per_s": round(n / ours_s, 1),
        "baseline_docs_per_s": round(n / base_s, 1),
        "speedup": round(base_s / ours_s, 2),
        "speedup_vs_baseline_without_normalising": round((base_s - norm_s) / ours_s, 2),
        "recall": round(recall, 4),
        "precision": round(precision, 4),
        "seconds": round(ours_s, 2),
        "baseline_seconds": round(base_s, 2),
        "baseline_recall": round(base_recall, 4),
        "baseline_precision": round(base_precision, 4),
        "dedup_cluster_recall": round(cluster_recall, 4),
        "truth_pairs": len(truth),
        "found_pairs": len(ours_pairs),
        "baseline_found_pairs": len(base_pairs),
        "cores": os.cpu_count(),
        "load_avg_before_after": [round(load_before, 2), round(load_after, 2)],
        "light_edits": light,
    }))


if __name__ == "__main__":
    main()
