"""Governance wiring: the provenance lookup job and the erasure-request sensor.

- ``provenance_lookup_job``: run config ``record`` or ``subject``; the answer is the run's output metadata.
  A subject typed into run config is stored with the run in the instance's run storage: for a subject the CLI
  (``privft provenance --subject``) leaves no trace; the answer itself only ever holds keyed hashes.
- ``erasure_requests`` sensor: applies each new request file in the erasure inbox once, then asks for the
  affected drops to be re-ingested (tombstoned rows become ``filtered: erased``); declarative automation carries
  the change into prepare and training, and publish produces a version without the rows. The report of every
  request is the ``erasure_report`` asset (assets/provenance.py).
"""

import hashlib

import dagster as dg

from assets.provenance import erasure_report
from pipelines.automation import SENSOR_INTERVAL_S
from resources.artifact_store import ArtifactStore
from resources.provenance.inbox import ErasureInbox
from resources.reports.markdown import markdown_table
from resources.schema import SOURCES
from resources.sources.catalog import SourceCatalog


class LookupConfig(dg.Config):
    record: str = ""    # a source row id, <source>/<drop>/<row>
    subject: str = ""   # an e-mail address, phone number, IBAN, customer, account or order id


@dg.op(out=dg.Out(dg.Nothing), tags={"compute": "cpu"},
       description="Every training set and model version containing the record or the subject's records.")
def provenance_lookup(context: dg.OpExecutionContext, config: LookupConfig, store: ArtifactStore,
                      catalog: SourceCatalog):
    from resources.provenance.lookup import lookup, summary_lines

    answer = lookup(store.path(), record=config.record or None, subject=config.subject or None, catalog=catalog)
    for line in summary_lines(answer):
        context.log.info(line)
    hits = [(s["record_set"].rsplit("/", 1)[-1], h["source_row_id"], h["training_record"], h["via"])
            for s in answer["training_sets"] for h in s["hits"]]
    versions = [(v["model"], v["version"], "yes" if v["promoted"] else "", ", ".join(v["flags"]))
                for v in answer["model_versions"]]
    context.add_output_metadata({
        "source_rows": dg.MetadataValue.int(len(answer["source_rows"])),
        "training_sets": dg.MetadataValue.int(len(answer["training_sets"])),
        "model_versions": dg.MetadataValue.int(len(answer["model_versions"])),
        "hits": dg.MetadataValue.md(markdown_table(["record set", "source row", "training record", "via"], hits)),
        "versions": dg.MetadataValue.md(markdown_table(["model", "version", "promoted", "flags"], versions)),
        "answer": dg.MetadataValue.json(answer),
        "seconds": dg.MetadataValue.float(answer["seconds"]),
    })


@dg.job(name="provenance_lookup_job", tags={"privft/kind": "governance"},
        description="Which training sets and model versions contain a record (config: record) or subject (subject).")
def provenance_lookup_job():
    provenance_lookup()


@dg.sensor(name="erasure_requests", asset_selection=[*(dg.AssetKey(s) for s in SOURCES), erasure_report.key],
           minimum_interval_seconds=SENSOR_INTERVAL_S, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Applies each new erasure request file once, then re-ingests the drops it touched.")
def erasure_requests(context: dg.SensorEvaluationContext, erasure: ErasureInbox, store: ArtifactStore,
                     catalog: SourceCatalog):
    result = erasure.process(store.path(), context.cursor, catalog=catalog)
    for error in result.errors:
        context.log.error(f"erasure request not applied: {error}")
    runs = []
    for entry in result.applied:
        tag = f"{entry['request_id']}:{entry['content_hash'][:12]}"
        context.log.info(f"erasure {entry['request_id']}: {len(entry['rows'])} row(s) tombstoned, "
                         f"{len(entry['affected_versions'])} version(s) flagged")
        # run keys make a repeated tick (e.g. after a crash before the cursor was saved) launch nothing twice
        runs += [dg.RunRequest(run_key=f"erasure:{tag}:{drop}", asset_selection=[dg.AssetKey(drop.split("/", 1)[0])],
                               partition_key=drop.split("/", 1)[1], tags={"privft/erasure_request": entry["request_id"]})
                 for drop in entry["affected_drops"]]
    if result.applied:
        report_key = f"erasure_report:{hashlib.sha256(result.cursor.encode()).hexdigest()[:16]}"
        runs.append(dg.RunRequest(run_key=report_key, asset_selection=[erasure_report.key]))
    if not runs:
        reason = "; ".join(result.errors) or f"no new erasure request in {erasure.folder}"
        return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=result.cursor)
    return dg.SensorResult(run_requests=runs, cursor=result.cursor)
