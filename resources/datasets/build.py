"""Build the train and held-out sets from the deduplicated examples, and account for every input row.

Order matters: trim by base-model tokens (a row that cannot fit is filtered, never silently cut), split by
duplicate cluster (near-duplicates stay on one side), move the clusters naming an unseen product to their own
held-out set (``PrepareConfig.unseen_terms``), then decontaminate (training rows close to a held-out, unseen or
benchmark item are removed). The final ledger holds exactly one state for every row any source ever read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from resources.datasets.tables import read_table
from resources.layout import Layout
from resources.schema import EXAMPLE_COLUMNS, LEDGER_COLUMNS


@dataclass
class DatasetsResult:
    train_rows: int
    eval_rows: int
    contaminating: int
    trim_counts: dict
    length_histogram_md: str
    per_task: pd.DataFrame
    accounting: pd.DataFrame
    train_preview: pd.DataFrame
    record_set: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    leaks: list = field(default_factory=list)
    decontamination: dict = field(default_factory=dict)
    unseen_rows: int = 0
    unseen: dict = field(default_factory=dict)  # stats of the unseen-products split; {} when none is configured


def source_inputs(layout: Layout) -> pd.DataFrame:
    """Every row any source read (id, source, drop): what the accounting must balance against."""
    from resources.schema import SOURCES

    frames = [read_table(d, "ledger.parquet", LEDGER_COLUMNS)[["id", "source", "drop"]]
              for s in SOURCES for d in layout.source_drops(s)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["id", "source", "drop"])


def write_record_set(layout: Layout, train: pd.DataFrame) -> Path:
    """Content-addressed list of the training records (and every source row each stands for)."""
    from resources.storage import write_parquet

    records = train[["id", "origin_ids"]].sort_values("id").reset_index(drop=True)
    digest = hashlib.sha256(records.to_json(orient="records").encode()).hexdigest()[:16]
    path = layout.record_sets() / f"{digest}.parquet"
    if not path.exists():
        write_parquet(path, records)
    return path


def unseen_members(layout: Layout, examples: pd.DataFrame) -> pd.DataFrame:
    """Every row a cluster stands for, untrimmed: the survivors and the duplicates dedup absorbed (from the
    normalised examples), so a product named only in a dropped duplicate or in text trimming cut still counts."""
    normalised = read_table(layout.normalised(), "examples.parquet", EXAMPLE_COLUMNS)
    return pd.concat([examples, normalised[~normalised["id"].isin(examples["id"])]], ignore_index=True)


def build_datasets(layout: Layout, *, prepare, dedup, base_model_dir: Path, trust_remote_code: bool,
                   benchmark_items: list[tuple[str, str]]) -> DatasetsResult:
    from resources.model.loading import load_tokenizer
    from resources.prepare.accounting import account, merge_ledgers
    from resources.prepare.decontaminate import decontaminate, find_leaks
    from resources.prepare.split import split_by_cluster
    from resources.prepare.trim import trim_examples
    from resources.prepare.unseen import UNSEEN_EVAL_FILE, carve_unseen, rows_mentioning, unseen_clusters
    from resources.reports.plots import bar_chart_md
    from resources.storage import atomic_dir, write_json, write_parquet

    prepare.check()
    dd = layout.deduplicated()
    examples = read_table(dd, "examples.parquet", EXAMPLE_COLUMNS)
    upstream_ledger = read_table(dd, "ledger.parquet", LEDGER_COLUMNS)
    clusters = read_table(dd, "clusters.parquet", ["id", "cluster"])
    cluster_of = dict(zip(clusters["id"], clusters["cluster"]))
    tokenizer = load_tokenizer(base_model_dir, trust_remote_code=trust_remote_code)

    trimmed, trim_ledger, trim_stats = trim_examples(examples, tokenizer, prepare.max_tokens, prepare.trim_mode,
                                                     truncate_from=prepare.truncate_from)
    train, held_out, split_stats = split_by_cluster(
        trimmed, cluster_of, eval_fraction=prepare.eval_fraction,
        min_eval=prepare.min_eval, seed=prepare.split_seed, stratify_by_task=prepare.stratify_by_task)
    terms = list(prepare.unseen_terms)
    unseen, unseen_stats, unseen_warnings = held_out.iloc[:0], {}, []
    if terms:
        # carved after the cluster split, so the ordinary held-out set is what it was minus these rows
        train, held_out, unseen, unseen_stats = carve_unseen(
            train, held_out, cluster_of, unseen_clusters(unseen_members(layout, examples), cluster_of, terms), terms)
        unseen_warnings = [f"unseen_terms: {t!r} matches no example; check its spelling against the data"
                           for t, n in unseen_stats["by_term"].items() if n == 0]
    # unseen items are held out too: a training row containing one would leak the product into training
    references = pd.concat([held_out, unseen], ignore_index=True) if len(unseen) else held_out
    train, references, dec_ledger, dec_stats = decontaminate(
        train, references, benchmark_items, dedup.near_pairs, containment=prepare.containment_settings(),
        eval_template_rows=prepare.decontaminate_template_rows, eval_long_ngram=prepare.decontaminate_eval_long_ngram)
    ledger = merge_ledgers(upstream_ledger, trim_ledger, dec_ledger)
    report = account(ledger, source_inputs(layout), warn_rate=prepare.reject_warn_rate,
                     fail_rate=prepare.reject_fail_rate)
    leaks = find_leaks(train, held_out, dedup.near_pairs)
    if len(unseen):
        leaks = sorted(leaks + find_leaks(train, unseen, dedup.near_pairs))
    if terms:
        unseen_stats["in_train"] = rows_mentioning(train, terms)  # [] by construction; the leak check reads it
    record_set = write_record_set(layout, train)

    hist_before, hist_after = trim_stats["histogram_before"], trim_stats["histogram_after"]
    histogram_md = bar_chart_md(hist_before["labels"], {"before trimming": hist_before["counts"],
                                                        "after trimming": hist_after["counts"]},
                                title="Example length (base-model tokens)", xlabel="tokens")
    stats = {"trim": trim_stats, "split": split_stats, "decontamination": dec_stats,
             "accounting_problems": report.problems, "accounting_warnings": report.warnings,
             "leaks": [list(map(str, leak)) for leak in leaks], "contamination_remaining": dec_stats["remaining"],
             "record_set": str(record_set)}
    if terms:  # absent, not empty, without terms: a build without them stays byte-identical to before
        stats["unseen_eval"] = unseen_stats
    # Provenance (origin_ids) lives in the record set, not in the training files: a drop that only adds
    # near-duplicates extends a survivor's origin_ids but leaves what the model sees, and so the data version
    # that decides whether to retrain, unchanged.
    with atomic_dir(layout.datasets()) as tmp:
        write_parquet(tmp / "train.parquet", train.drop(columns=["origin_ids"]).reset_index(drop=True))
        write_parquet(tmp / "eval.parquet", held_out.drop(columns=["origin_ids"]).reset_index(drop=True))
        if terms:  # written even when empty, so a term that matched nothing shows as 0 rows, not as no file
            write_parquet(tmp / UNSEEN_EVAL_FILE, unseen.drop(columns=["origin_ids"]).reset_index(drop=True))
        write_parquet(tmp / "ledger.parquet", ledger)
        write_parquet(tmp / "accounting.parquet", report.table)
        write_parquet(tmp / "accounting_sources.parquet", report.sources)
        write_json(tmp / "stats.json", stats)

    counts = {"train": train["task"].value_counts(), "eval": held_out["task"].value_counts()}
    if terms:
        counts["eval_unseen"] = unseen["task"].value_counts()
    per_task = pd.DataFrame(counts).fillna(0).astype(int).rename_axis("task").reset_index()
    trim_counts = {k: v for k, v in trim_stats.items() if isinstance(v, int) and k not in ("max_tokens",)}
    return DatasetsResult(
        train_rows=len(train), eval_rows=len(held_out),
        contaminating=int(dec_stats.get("contaminates_eval", 0)) + int(dec_stats.get("contaminates_benchmark", 0)),
        trim_counts=trim_counts, length_histogram_md=histogram_md, per_task=per_task, accounting=report.table,
        train_preview=train[["id", "task", "reference"]].head(5), record_set=record_set,
        problems=report.problems, warnings=report.warnings + unseen_warnings, leaks=leaks, decontamination=dec_stats,
        unseen_rows=len(unseen), unseen=unseen_stats)
