"""Record-level provenance and erasure: which training sets and models contain a record."""
