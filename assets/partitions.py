"""Dynamic partitions: one per data drop of each source, one per adapter checkpoint."""

import dagster as dg

from resources.schema import SOURCES

DROP_PARTITIONS = {source: dg.DynamicPartitionsDefinition(name=f"{source}_drops") for source in SOURCES}
CHECKPOINT_PARTITIONS = dg.DynamicPartitionsDefinition(name="checkpoints")
