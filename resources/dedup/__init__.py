"""Exact and near-duplicate detection (MinHash LSH, verified with exact Jaccard).

``engine.DedupEngine`` does the work with ``settings.DedupSettings`` (plain Python); ``resource.Deduplicator``
is the Dagster resource assets use; ``cli.main`` is ``privft dedup`` (no dagster). Underneath, one file per
step: ``shingles`` (what is compared), ``tokens`` + ``minhash`` (batch hashing, equal to datasketch),
``bands`` (LSH candidates), ``jaccard`` (verification), ``clusters`` (union-find, survivor rule) and ``index``
(the persistent MinHash index for incremental runs). Nothing is imported here so that importing one of them
stays light (only ``resource`` pulls in Dagster).
"""
