"""Generate synthetic examples with a teacher model, score them, and write them as a teacher-data drop.

The teacher answers seed prompts greedily; each answer is scored by the teacher's own confidence (the geometric
mean token probability of the answer, in 0..1). Every generated row goes into the drop with its score, and the
``teacher_synthetic`` source asset keeps the rows at or above its ``teacher_min_score``, as for any teacher drop,
so the score distribution is visible in that asset's metadata.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Sequence

import dagster as dg

from resources.storage import atomic_file


class TeacherConfig(dg.ConfigurableResource):
    """The teacher: a local folder, a hub id (with ``allow_download``), or ``builtin:tiny`` for tests."""

    model: str = ""  # empty: teacher generation is off
    seed_prompts: str = "data/teacher/seed_prompts.jsonl"  # lines of {"task", "prompt"}
    max_new_tokens: int = 64
    trust_remote_code: bool = False
    allow_download: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.model)


def read_seed_prompts(path: Path | str) -> list[dict[str, str]]:
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append({"task": str(row["task"]), "prompt": str(row["prompt"])})
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: a seed prompt needs JSON with 'task' and 'prompt' ({exc})") from exc
    return rows


def generate_drop(teacher_dir: Path | str, seeds: Sequence[dict[str, str]], drop_path: Path | str, *,
                  max_new_tokens: int = 64, trust_remote_code: bool = False) -> dict[str, Any]:
    """Answer every seed prompt with the teacher, score the answers, and write the drop atomically."""
    from resources.evaluation.generation import encode_prompt, generate
    from resources.evaluation.loglik import continuation_logprobs
    from resources.model.loading import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(teacher_dir, trust_remote_code=trust_remote_code)
    model = load_causal_lm(teacher_dir, trust_remote_code=trust_remote_code)
    model.eval()
    prompts = [[{"role": "user", "content": s["prompt"]}] for s in seeds]
    answers = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    sequences = []
    for prompt, answer in zip(prompts, answers):
        context = encode_prompt(tokenizer, prompt)
        sequences.append((context + tokenizer(answer, add_special_tokens=False)["input_ids"], len(context)))
    scored = continuation_logprobs(model, sequences, pad_id=tokenizer.pad_token_id)
    rows = []
    for seed, answer, (logprob, n) in zip(seeds, answers, scored):
        score = math.exp(logprob / n) if n else 0.0
        rows.append({"prompt": seed["prompt"], "completion": answer.strip(), "task": seed["task"],
                     "score": round(score, 4)})
    with atomic_file(drop_path) as tmp:
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return {"rows": len(rows), "scores": [r["score"] for r in rows], "path": str(drop_path)}


def drop_name(teacher: str, seeds_path: Path | str) -> str:
    digest = hashlib.sha256(teacher.encode() + Path(seeds_path).read_bytes()).hexdigest()[:10]
    return f"teacher-{digest}.jsonl"
