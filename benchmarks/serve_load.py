"""Benchmark: ``privft serve`` under concurrent clients, batching on vs off, in one process on 127.0.0.1.

    python benchmarks/serve_load.py [--model-dir DIR | --base builtin:smollm2-135m-instruct]
                                    [--clients 8] [--requests 4] [--max-tokens 64] [--max-batch 8] [--stream]

The same endpoint (``resources/serving``) serves the same model twice: first with ``max_batch=1`` (every
request generated alone, one after another: the baseline a thin server without batching gives), then with
``max_batch=N``. Each side runs the same bounded load (``resources/serving/load.py``: C clients with the
official ``openai`` client, R requests each, greedy, the same questions, in a separate process from the
server) and reports p50/p95 latency,
completion tokens/s and errors; the last line printed is JSON with the throughput ratio.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", help="a merged model folder, e.g. artifacts/registry/<model>/<v>/merged")
    parser.add_argument("--base", default="builtin:smollm2-135m-instruct", help="base.name to serve otherwise")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=4, help="requests per client")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()

    from pipelines.environment import apply_offline_env

    apply_offline_env()
    import torch

    from resources.serving.api import create_app
    from resources.serving.batcher import ChatModel
    from resources.serving.load import run_load
    from resources.serving.server import BackgroundServer

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model_dir or _materialise(args.base, Path(tmp))
        sides = {}
        for name, max_batch in (("unbatched", 1), ("batched", args.max_batch)):
            chat = ChatModel(model_dir, max_batch=max_batch, default_max_tokens=args.max_tokens)
            # the clients run in another process, as real clients do: sharing the server's interpreter lock
            # they would slow its generation loop down and make the server look slower than it is
            with BackgroundServer(create_app(chat, ["bench"])) as url, \
                    ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as clients:
                clients.submit(run_load, url, "bench", clients=1, requests_per_client=1, max_tokens=4).result()
                result = clients.submit(run_load, url, "bench", clients=args.clients,
                                        requests_per_client=args.requests, max_tokens=args.max_tokens,
                                        stream=args.stream).result().as_dict()
            result["largest_batch"] = chat.stats.largest
            chat.close()
            sides[name] = result
            print(f"{name:10s} p50 {result['p50_s']:.2f}s p95 {result['p95_s']:.2f}s "
                  f"{result['tokens_per_s']:.1f} tokens/s errors {result['errors']} "
                  f"largest batch {result['largest_batch']}", flush=True)
    ratio = sides["batched"]["tokens_per_s"] / sides["unbatched"]["tokens_per_s"]
    print(f"batched / unbatched throughput: {ratio:.2f}x")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
    print(json.dumps({"device": device, "model": str(args.model_dir or args.base), "clients": args.clients,
                      "requests_per_client": args.requests, "max_tokens": args.max_tokens, "stream": args.stream,
                      **sides, "throughput_ratio": ratio}))


def _materialise(base: str, tmp: Path) -> Path:
    from resources.model.base_model import BaseModel

    return BaseModel(name=base).materialise(tmp / "model")


if __name__ == "__main__":
    main()
