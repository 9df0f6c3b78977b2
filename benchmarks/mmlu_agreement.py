"""Agreement check: the forgetting check's MMLU accuracy against lm-evaluation-harness on the same items.

    python benchmarks/mmlu_agreement.py --model /tmp/smollm2-hf --mmlu ../shared/benchmarks/mmlu \
        [--per-subject 20] [--seed 0] [--lm-eval-python /tmp/lmeval-venv/bin/python] [--batch-size 8] \
        [--threads 1]

The items are the forgetting check's own sample (``benchmark_sample``: ``--per-subject`` from every subject,
seeded). They are written to a temporary folder as one JSON-lines file per subject, with one task YAML per
subject that includes lm-eval's OWN ``tasks/mmlu/default/_default_template_yaml`` and copies the ``description``
from lm-eval's own ``mmlu_<subject>.yaml``, replacing only where the documents come from. So lm-eval builds
its prompts and scores with its own code; nothing of the project's prompt is handed to it.

lm-eval runs as a separate process (``--lm-eval-python``: an interpreter with ``pip install lm-eval``, which is
not a dependency of the project; default: this one) with its HF backend: ``pretrained=<model>``, device cpu,
dtype float32, 0-shot, every network switch of the HF libraries off. The project side loads the same folder in
float32 on the CPU and runs ``letter_predictions``. Printed: both accuracies, their difference in points,
per-item agreement of the predicted letter, how many prompts lm-eval logged equal the project's byte for byte,
the largest log-likelihood difference, and the time each side took. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resources.offline import HUB_OFFLINE  # noqa: E402

OFFLINE = {**HUB_OFFLINE, "HF_HUB_DISABLE_TELEMETRY": "1"}


def lm_eval_tasks_dir(python: str) -> Path:
    out = subprocess.run([python, "-c", "import lm_eval, os; print(os.path.dirname(lm_eval.__file__))"],
                         check=True, capture_output=True, text=True, env={**os.environ, **OFFLINE})
    return Path(out.stdout.strip()) / "tasks" / "mmlu" / "default"


def write_tasks(items: list[dict], tasks_dir: Path, out: Path) -> list[str]:
    """One local task per subject in ``out``; returns the task names."""
    import yaml

    names = []
    for subject in sorted({it["subject"] for it in items}):
        data = out / f"{subject}.jsonl"
        with data.open("w", encoding="utf-8") as fh:
            for it in items:
                if it["subject"] == subject:
                    fh.write(json.dumps({"id": it["id"], "question": it["question"], "subject": subject,
                                         "choices": it["choices"], "answer": it["answer"]}) + "\n")
        theirs = yaml.safe_load((tasks_dir / f"mmlu_{subject}.yaml").read_text())
        name = f"privft_mmlu_{subject}"
        task = {"include": str(tasks_dir / "_default_template_yaml"), "task": name,
                "description": theirs["description"], "dataset_path": "json", "dataset_name": None,
                "dataset_kwargs": {"data_files": {"test": str(data)}}, "test_split": "test",
                "fewshot_split": None, "fewshot_config": None}
        (out / f"{name}.yaml").write_text(yaml.safe_dump(task, allow_unicode=True))
        names.append(name)
    return names


def run_lm_eval(python: str, model: str, names: list[str], include: Path, out: Path, batch_size: int) -> dict:
    """lm-eval's prediction, context and letter log-likelihoods per item id."""
    cmd = [python, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={model},dtype=float32",
           "--device", "cpu", "--tasks", ",".join(names), "--include_path", str(include), "--num_fewshot", "0",
           "--batch_size", str(batch_size), "--log_samples", "--output_path", str(out)]
    env = {**os.environ, **OFFLINE, "HF_DATASETS_CACHE": str(out / "hf-datasets-cache")}
    subprocess.run(cmd, check=True, env=env)
    found = {}
    for path in glob.glob(str(out / "**" / "samples_*.jsonl"), recursive=True):
        for line in open(path, encoding="utf-8"):
            s = json.loads(line)
            lls = [float(r[0]) for r in s["filtered_resps"]]
            found[s["doc"]["id"]] = {"pred": max(range(4), key=lambda k: (lls[k], -k)), "lls": lls,
                                     "context": s["arguments"]["gen_args_0"]["arg_0"]
                                     if isinstance(s["arguments"], dict) else s["arguments"][0][0]}
    return found


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="local folder of a transformers causal LM (safetensors)")
    ap.add_argument("--mmlu", required=True, help="folder of MMLU <subject>_test.csv files")
    ap.add_argument("--per-subject", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lm-eval-python", default=sys.executable)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-batch-tokens", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=0,
                    help="CPU threads for both sides (0: torch's default); 1 is far faster on a busy shared machine")
    args = ap.parse_args(argv)
    os.environ.update(OFFLINE)
    if args.threads > 0:  # before torch is imported here, and inherited by the lm-eval process
        os.environ.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))

    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    from resources.evaluation.benchmarks import benchmark_sample
    from resources.evaluation.mmlu import letter_logprobs, mmlu_prompt
    from resources.model.loading import load_causal_lm, load_tokenizer

    items = benchmark_sample(args.mmlu, sample_size=0, per_subject=args.per_subject, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="mmlu-agreement-") as tmp:
        tmp = Path(tmp)
        names = write_tasks(items, lm_eval_tasks_dir(args.lm_eval_python), tmp)
        t0 = time.perf_counter()
        theirs = run_lm_eval(args.lm_eval_python, args.model, names, tmp, tmp / "results", args.batch_size)
        lm_eval_s = time.perf_counter() - t0
    missing = [it["id"] for it in items if it["id"] not in theirs]
    if missing:
        raise SystemExit(f"lm-eval logged no sample for {len(missing)} items, e.g. {missing[:3]}")

    t0 = time.perf_counter()
    tok, model = load_tokenizer(args.model), load_causal_lm(args.model, dtype=torch.float32, device="cpu")
    ours = letter_logprobs(model, tok, items, max_batch_tokens=args.max_batch_tokens)
    project_s = time.perf_counter() - t0
    our_pred = [max(range(4), key=lambda k: (s[k], -k)) for s in ours]

    n = len(items)
    their_pred = [theirs[it["id"]]["pred"] for it in items]
    acc_ours = sum(p == it["answer"] for p, it in zip(our_pred, items)) / n
    acc_theirs = sum(p == it["answer"] for p, it in zip(their_pred, items)) / n
    result = {"model": args.model, "items": n, "subjects": len({it["subject"] for it in items}),
              "per_subject": args.per_subject, "seed": args.seed,
              "project_accuracy": round(acc_ours, 4), "lm_eval_accuracy": round(acc_theirs, 4),
              "difference_points": round(100 * (acc_ours - acc_theirs), 2),
              "same_prediction": sum(a == b for a, b in zip(our_pred, their_pred)),
              "same_prompt": sum(mmlu_prompt(it) == theirs[it["id"]]["context"] for it in items),
              "max_abs_loglik_diff": max(abs(a - b) for s, it in zip(ours, items)
                                         for a, b in zip(s, theirs[it["id"]]["lls"])),
              "lm_eval_seconds": round(lm_eval_s, 1), "project_seconds": round(project_s, 1)}
    print(f"items {n} ({result['subjects']} subjects x {args.per_subject}, seed {args.seed})")
    print(f"project accuracy {acc_ours:.4f}   lm-eval accuracy {acc_theirs:.4f}   "
          f"difference {result['difference_points']:+.2f} points")
    print(f"same predicted letter on {result['same_prediction']}/{n} items; same prompt on {result['same_prompt']}/{n}; "
          f"largest letter log-likelihood difference {result['max_abs_loglik_diff']:.2e}")
    print(f"time: lm-eval {lm_eval_s:.0f} s, project {project_s:.0f} s")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
