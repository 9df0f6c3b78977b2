"""``privft promote [--registry DIR] [--model NAME] [--status | --version V | --rollback]``.

What an operator types to see which version serves, promote one by hand (no gate), or roll back. Registry and
model default to the configured ones (``pipelines/cli.py`` passes them in), so ``privft promote --status`` works as
the README shows it. A registry or model that does not exist is an error that names what does exist, and no
command creates anything under a path that holds no registry.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from resources.publishing.registry import Registry, RegistryError


def _models(root: Path) -> list[str]:
    """Model names under a registry root: folders that hold a version or a history."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and ((p / "history.jsonl").is_file() or (p / "promoted.json").is_file()
                       or any(v.is_dir() and (v / "manifest.json").is_file() for v in p.iterdir())))


def _missing(root: Path, model: str) -> Optional[str]:
    """Why ``model`` under ``root`` cannot be inspected, or None when it exists."""
    if not root.is_dir():
        return (f"no registry at {root}: run the pipeline first (make run), or pass --registry DIR "
                "(default: <store.root>/registry from privft.yaml or $PRIVFT_ARTIFACTS)")
    models = _models(root)
    if model not in models:
        return (f"no model {model!r} in the registry {root}; models there: {', '.join(models) or 'none'} "
                "(pass --model NAME; default: publisher.model_name from privft.yaml)")
    return None


def main(argv: Optional[Sequence[str]] = None, *, default_registry: Optional[str] = None,
         default_model: Optional[str] = None) -> int:
    """Run the command; returns the exit code (0 done, 1 refused or not found, 2 bad usage)."""
    parser = argparse.ArgumentParser(prog="privft promote", description="Inspect the model registry, promote a "
                                     "version by hand (no gate), or roll back to the previously promoted version.")
    parser.add_argument("--registry", default=default_registry, required=default_registry is None,
                        help="registry root" + (f" (default: {default_registry})" if default_registry else ""))
    parser.add_argument("--model", default=default_model, required=default_model is None,
                        help="model name" + (f" (default: {default_model})" if default_model else ""))
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--rollback", action="store_true", help="point back at the previously promoted version")
    action.add_argument("--version", help="promote this version")
    action.add_argument("--status", action="store_true", help="print the pointer and versions as JSON (default)")
    parser.add_argument("--reason", default="", help="recorded in history.jsonl")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors; a CLI function returns instead
        return int(exc.code or 0)

    problem = _missing(Path(args.registry), args.model)
    if problem:
        print(f"privft promote: {problem}", file=sys.stderr)
        return 1
    reg = Registry(args.registry, args.model)
    try:
        if args.rollback:
            version = reg.rollback(args.reason or "manual rollback (privft promote --rollback)")
            print(f"{args.model}: rolled back to {version}")
        elif args.version:
            reg.promote(args.version, args.reason or "manual promotion (privft promote --version)")
            print(f"{args.model}: promoted {args.version}")
        else:
            print(json.dumps(reg.status(), indent=2))
    except RegistryError as exc:
        print(f"privft promote: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
