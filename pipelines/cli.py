"""The ``privft`` command: run the pipeline, audit the deduplicator, manage promotion, look up provenance."""

from __future__ import annotations

import argparse
import difflib
import sys


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="privft run", description="Materialise every asset once, in order.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every Dagster event (DEBUG) on the terminal; the instance's event log keeps them anyway")
    args = parser.parse_args(argv)
    from pipelines.environment import build_resources, settings_path
    from pipelines.settings_check import check_settings
    from pipelines.settings_keys import SettingsError

    try:  # the whole configuration, before any work: a wrong setting costs a second, not an ingest
        check_settings(build_resources(), settings_path())
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.run_all import run_pipeline

    with dg.DagsterInstance.get() as instance:
        run_pipeline(defs, instance, verbose=args.verbose)
    return 0


def _dedup(argv: list[str]) -> int:
    from resources.dedup.cli import main

    return main(argv)


def _promote(argv: list[str]) -> int:
    from pipelines.environment import build_resources
    from resources.publishing.promote_cli import main

    resources = build_resources()  # the configured registry and model are the defaults
    return main(argv, default_registry=str(resources["store"].layout.registry_root()),
                default_model=resources["publisher"].model_name)


def _provenance(argv: list[str]) -> int:
    from resources.provenance.cli import main

    return main(argv)


def _artifacts(argv: list[str]) -> int:
    """``privft artifacts pull|push``: sync this machine's working copy with the configured artifact URI, e.g.
    before ``privft provenance`` or ``privft promote``, which read local folders."""
    from pipelines.environment import build_resources

    if argv not in (["pull"], ["push"]):
        print("usage: privft artifacts {pull,push}", file=sys.stderr)
        return 2
    store = build_resources()["store"]
    if not store.uri:
        print(f"no artifact URI configured (store.uri / PRIVFT_ARTIFACT_URI): {store.path()} is the store itself")
        return 0
    report = getattr(store.mirror(), argv[0])()
    print(f"{argv[0]} {store.uri} <-> {store.path()}: {report.summary()}")
    return 0


def _export(argv: list[str]) -> int:
    from pipelines.environment import build_resources
    from resources.export.cli import main

    return main(argv, build_resources())


def _runs(argv: list[str]) -> int:
    from pipelines.run_names import main

    return main(argv)


def _serve(argv: list[str]) -> int:
    from pipelines.environment import build_resources
    from resources.serving.cli import main

    return main(argv, build_resources())


COMMANDS = {"run": _run, "runs": _runs, "dedup": _dedup, "promote": _promote, "provenance": _provenance,
            "artifacts": _artifacts,
            "serve": _serve, "export": _export}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        close = difflib.get_close_matches(argv[0], list(COMMANDS), n=1)
        print(f"privft: unknown command {argv[0]!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
              file=sys.stderr)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: privft {" + ",".join(COMMANDS) + "} [options]\n"
              "  run         materialise every asset on the configured sources and base model\n"
              "  runs        the instance's recent runs, named by what they materialised (automation runs too)\n"
              "  dedup       deduplicate a JSONL corpus of {id, text}: privft dedup IN.jsonl --out OUT.jsonl\n"
              "  promote     show or move the promoted model version (--status, --version V, --rollback)\n"
              "  provenance  which training sets and model versions contain a record or a subject\n"
              "  artifacts   pull or push the working copy of a shared artifact URI (store.uri)\n"
              "  serve       the promoted (or --version) model at a local OpenAI-compatible endpoint\n"
              "  export      a published version as a verified GGUF + Ollama Modelfile (--type f16|bf16|q8_0)",
              file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    from pipelines.environment import apply_offline_env
    from resources.known_warnings import silence_known_warnings

    apply_offline_env()
    silence_known_warnings()
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
