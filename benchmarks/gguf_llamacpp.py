"""Benchmark: an exported GGUF run by llama.cpp itself, against the merged folder in transformers (float32).

    python benchmarks/gguf_llamacpp.py EXPORT.gguf MERGED_DIR [--max-new-tokens 16]

Needs ``llama-cpp-python`` (llama.cpp's Python binding), which is not a project dependency: install it into a
separate environment that can also import torch and transformers. For each fixed prompt (the ones merge and
export verification use): llama.cpp's tokenization of the chat-templated text against transformers' ids;
llama.cpp's next-token logits over the prompt plus the merged model's greedy answer against the merged model's
(mean KL per token, top-1 agreement); llama.cpp's own greedy answer against the merged model's. The last line
printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import numpy as np
    import torch
    from llama_cpp import Llama

    from pipelines.environment import apply_offline_env
    from resources.model.loading import load_causal_lm, load_tokenizer
    from resources.publishing.prompts import DEFAULT_PROMPTS, as_messages, encode_prompt

    apply_offline_env()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gguf")
    parser.add_argument("merged")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()
    llm = Llama(model_path=args.gguf, n_ctx=2048, logits_all=True, verbose=False, seed=0)
    tok = load_tokenizer(args.merged)
    model = load_causal_lm(args.merged, dtype=torch.float32, device="cpu")
    same_ids, kls, top1, greedy = 0, [], [], 0
    for prompt in DEFAULT_PROMPTS:
        text = tok.apply_chat_template(as_messages(prompt), tokenize=False, add_generation_prompt=True)
        ids = encode_prompt(tok, prompt)
        same_ids += ids == llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=args.max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
            ref = model(input_ids=out).logits[0].float()
        full = out[0].tolist()
        llm.reset()
        llm.eval(full)
        got = torch.tensor(np.array(llm.scores[:len(full)]), dtype=torch.float32)
        lp, lq = ref.log_softmax(-1), got.log_softmax(-1)
        kls.append(float((lp.exp() * (lp - lq)).sum(-1).mean()))
        top1.append(float((ref.argmax(-1) == got.argmax(-1)).float().mean()))
        answer = []
        for t in llm.generate(ids, temp=0.0, top_k=1, reset=True):
            answer.append(t)
            if llm.token_eos() == t or len(answer) >= args.max_new_tokens:
                break
        greedy += answer == full[len(ids):len(ids) + len(answer)]
        print(f"{prompt[:40]!r}: KL {kls[-1]:.2g}, top-1 {top1[-1]:.1%}, llama.cpp says {tok.decode(answer)!r}")
    print(json.dumps({"gguf": args.gguf, "prompts": len(DEFAULT_PROMPTS), "same_token_ids": same_ids,
                      "kl_mean": float(np.mean(kls)), "top1_agreement": float(np.mean(top1)),
                      "greedy_identical": greedy, "pre_tokenizer": llm.metadata.get("tokenizer.ggml.pre")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
