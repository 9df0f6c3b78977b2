"""``privft serve``: the promoted model version (or a named one) behind a local OpenAI-compatible endpoint.

``resources`` are the configured ones (``pipelines/cli.py`` passes them in): the registry under the store, the
publisher's model name and whether the base model's code is trusted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from resources.serving.server import LOOPBACK


def main(argv: Optional[Sequence[str]], resources: Mapping[str, Any]) -> int:
    parser = argparse.ArgumentParser(prog="privft serve", description="Serve a published model version at "
                                     "/v1/models and /v1/chat/completions (OpenAI-compatible, streaming).")
    parser.add_argument("--version", help="serve this version instead of the promoted one")
    parser.add_argument("--model", help="model name (default: publisher.model_name from the configuration)")
    parser.add_argument("--registry", help="registry root (default: <artifacts>/registry)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--allow-remote", action="store_true", help="required to listen on a non-loopback address")
    parser.add_argument("--max-batch", type=int, default=8, help="requests generated together (1: no batching)")
    parser.add_argument("--batch-window-ms", type=float, default=10.0, help="wait for requests to batch together")
    parser.add_argument("--max-tokens", type=int, default=256, help="answer length when a request sets none")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.host not in LOOPBACK and not args.allow_remote:
        print(f"privft serve: {args.host} is reachable from other machines; pass --allow-remote if that is meant "
              "(the endpoint has no authentication)", file=sys.stderr)
        return 2
    try:
        folder, model_ids = resolve_version(args.registry or resources["store"].layout.registry_root(),
                                            args.model or resources["publisher"].model_name, args.version)
    except LookupError as exc:
        print(f"privft serve: {exc}", file=sys.stderr)
        return 1

    import uvicorn

    from resources.serving.api import create_app
    from resources.serving.batcher import ChatModel

    base = resources["base"]
    chat = ChatModel(folder / "merged", max_batch=args.max_batch, batch_window_s=args.batch_window_ms / 1000,
                     default_max_tokens=args.max_tokens, trust_remote_code=base.trust_remote_code)
    print(f"serving {', '.join(model_ids)} from {folder} at http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(create_app(chat, model_ids), host=args.host, port=args.port, log_level="warning")
    return 0


def resolve_version(root: Path | str, model: str, version: Optional[str]):
    """(version folder, the model ids it answers to) of ``model`` in the registry at ``root``; LookupError naming
    what exists when it cannot."""
    from resources.publishing.registry import Registry

    reg = Registry(root, model)
    versions = reg.versions()
    if not versions:
        raise LookupError(f"no published versions of '{model}' under {root}; run the pipeline first (make run)")
    promoted = reg.promoted()
    version = version or promoted
    if version is None:
        raise LookupError(f"no version of '{model}' is promoted; name one with --version ({', '.join(versions)})")
    if version not in versions:  # also refuses names that are not versions at all
        raise LookupError(f"'{model}' has no version {version}; it has {', '.join(versions)}")
    ids = [f"{model}:{version}"] + ([model] if version == promoted else [])
    return reg.path(version), ids
