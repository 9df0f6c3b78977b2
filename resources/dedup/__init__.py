"""Exact and near-duplicate detection (MinHash LSH, verified with exact Jaccard).

``engine.Deduplicator`` is the resource assets use; ``cli.main`` is ``privft dedup``. Underneath, one file per
step: ``shingles`` (what is compared), ``tokens`` + ``minhash`` (batch hashing, equal to datasketch),
``bands`` (LSH candidates), ``jaccard`` (verification), ``clusters`` (union-find, survivor rule) and ``index``
(the persistent MinHash index for incremental runs). Nothing is imported here so that importing one of them
stays light (``engine`` pulls in Dagster).
"""
