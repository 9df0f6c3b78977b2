"""Export: each published version as a verified GGUF file with an Ollama Modelfile (on by exporter.formats)."""

import dagster as dg

from assets import group_asset, on_changed_inputs
from resources.artifact_store import ArtifactStore
from resources.export.exporter import ExportError, Exporter
from resources.export.gguf_export import ExportUnsupported
from resources.export.gguf_tokenizer import TokenizerUnsupported
from resources.publishing.publisher import Publisher
from resources.reports.markdown import markdown_table


MODEL_VERSION = dg.AssetKey("model_version")


def _published_version(context: dg.AssetExecutionContext) -> str:
    event = context.instance.get_latest_materialization_event(MODEL_VERSION)
    version = event.asset_materialization.metadata.get("version") if event and event.asset_materialization else None
    if version is None:
        raise dg.Failure("model_version has not been materialised yet: there is no published version to export")
    return str(version.value)


@group_asset("publish")(automation_condition=on_changed_inputs, deps=[MODEL_VERSION], kinds={"gguf"}, tags={})
def model_export(context: dg.AssetExecutionContext, store: ArtifactStore, publisher: Publisher,
                 exporter: Exporter) -> dg.MaterializeResult:
    """The published version as GGUF files for llama.cpp and Ollama (exporter.formats), each read back with transformers
    and compared with the merged model, with a Modelfile."""
    root = store.layout.root
    version = _published_version(context)
    rows, results = [], []
    for tensor_type in exporter.formats:
        try:
            result = exporter.export(root, store.layout.registry_root(), publisher.model_name, version, tensor_type)
        except (ExportError, ExportUnsupported, TokenizerUnsupported) as exc:
            raise dg.Failure(f"GGUF export of {version} as {tensor_type} failed: {exc}. The version itself is "
                             "published; set exporter.formats: [] to publish without exports") from exc
        v, results = result.verification, results + [result]
        b, size = v["behaviour"], v["files"][v["gguf"]]
        bound = v["tolerance"]
        rows.append((tensor_type, f"{size['bytes'] / 2**20:.1f} MiB", f"{b['kl_mean']:.2g} (≤ {bound['kl_mean']})",
                     f"{b['top1_agreement']:.1%} (≥ {bound['top1_agreement']:.0%})",
                     f"{b['greedy_identical']}/{b['greedy_of']}", size["sha256"][:16]))
        context.log.info(f"{version} {tensor_type}: {'reused' if result.reused else 'exported'} {result.gguf}")
    headers = ["type", "size", "mean KL to merged", "top-1 agreement", "greedy answers identical", "sha256"]
    return dg.MaterializeResult(
        data_version=dg.DataVersion(",".join(r.verification["files"][r.verification["gguf"]]["sha256"][:12]
                                             for r in results) or "none"),
        metadata={"version": version, "formats": ", ".join(exporter.formats),
                  "verification": dg.MetadataValue.md(markdown_table(headers, rows)),
                  **{f"gguf_{r.verification['type']}": dg.MetadataValue.path(str(r.gguf)) for r in results},
                  "path": dg.MetadataValue.path(str(results[0].folder.parent) if results else str(root))})
