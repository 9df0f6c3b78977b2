"""``privft export``: write a published version as a verified GGUF + Ollama Modelfile (see exporter.py).

``resources`` are the configured ones (``pipelines/cli.py`` passes them in): the store, the publisher's model
name and the exporter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence


def main(argv: Optional[Sequence[str]], resources: Mapping[str, Any]) -> int:
    from resources.export.gguf_export import TYPES

    parser = argparse.ArgumentParser(prog="privft export", description="Export a published model version to GGUF "
                                     "(llama.cpp, Ollama), verified against the merged model; writes a Modelfile.")
    parser.add_argument("--version", help="version to export (default: the promoted one)")
    parser.add_argument("--format", default="gguf", choices=["gguf"], help="export format (default gguf)")
    parser.add_argument("--type", default="f16", choices=list(TYPES), help="GGUF tensor type (default f16)")
    parser.add_argument("--out", help="write into OUT/<model>-<version>-<type>/ instead of <artifacts>/exports/")
    parser.add_argument("--registry", help="registry root (default: <store root>/registry from privft.yaml)")
    parser.add_argument("--model", help="model name (default: publisher.model_name from privft.yaml)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors; a CLI function returns instead
        return int(exc.code or 0)

    from resources.export.exporter import ExportError
    from resources.export.gguf_export import ExportUnsupported
    from resources.export.gguf_tokenizer import TokenizerUnsupported
    from resources.publishing.registry import Registry

    root = resources["store"].path()
    registry_root = Path(args.registry) if args.registry else resources["store"].layout.registry_root()
    model = args.model or resources["publisher"].model_name
    version = args.version or Registry(registry_root, model).promoted()
    if not version:
        print(f"privft export: {model} has no promoted version under {registry_root}; name one with --version",
              file=sys.stderr)
        return 1
    try:
        result = resources["exporter"].export(root, registry_root, model, version, args.type, out=args.out)
    except (ExportError, ExportUnsupported, TokenizerUnsupported) as exc:
        print(f"privft export: {exc}", file=sys.stderr)
        return 1
    b = result.verification["behaviour"]
    print(f"{model} {version} -> {result.gguf} ({'reused, ' if result.reused else ''}verified: mean KL "
          f"{b['kl_mean']:.2g} nats/token, top-1 {b['top1_agreement']:.1%}, greedy answers identical "
          f"{b['greedy_identical']}/{b['greedy_of']})\n  ollama create {model} -f {result.folder / 'Modelfile'}")
    return 0
