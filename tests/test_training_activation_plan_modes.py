"""activation_plan.py's choices on the tiny model: lean_lora auto|on|off, DPO under a budget, and 2 DDP ranks."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys

import pytest

from preference_sets import pair_rows, write_pairs
from resources.training import activation_plan
from resources.training.activation_plan import GIB
from resources.training.config import TrainConfig
from test_training_activation_plan import record_planning
from test_training_loop import Recording, single_thread, write_train_set  # noqa: F401

# 4 rows of up to 512 tokens: enough tokens per micro-batch that a recomputed layer costs more than lean_lora's
# extra cost per token
# (activation_plan.plan_cost counts a fixed overhead of 2,048 tokens per piece)
SFT = dict(max_steps=1, save_every=100, micro_batch_size=4, max_seq_len=512, warmup_steps=0, lora_dropout=0.1)


def planned_run(out, tiny_model_dir, train_path, monkeypatch, init_adapter=None, **config) -> dict:
    """Steps, log lines, the plan, whether lean_lora is installed after planning, the autograd node of the last
    decoder layer's first LoRA layer's output in the first training forward, and the pieces per micro-batch."""
    from resources.training.lean_lora import lean_lora_applies, lean_lora_installed
    from resources.training.loop import train

    grad_fns = []

    def after_plan(model):
        lora = next(m for m in activation_plan.decoder_layers(model)[-1].modules() if lean_lora_applies(m))
        lora.register_forward_hook(lambda m, i, o: grad_fns.append(type(o.grad_fn).__name__))
        return lean_lora_installed(model)

    seen = record_planning(monkeypatch, after_plan)
    reporter = Recording()
    train(TrainConfig(**config), tiny_model_dir, train_path, out, reporter, init_adapter=init_adapter)
    monkeypatch.undo()
    return {"steps": [s["loss"] for s in reporter.steps], "lines": reporter.lines, "lean": seen.pop("after"),
            "grad_fns": grad_fns, **seen}


def lean_line(run) -> str:
    [line] = [line for line in run["lines"] if line.startswith("lean_lora=")]
    return line


@pytest.fixture(scope="module")
def lean_runs(tiny_model_dir, tmp_path_factory, single_thread):  # noqa: F811
    """Everything fits (auto, on); then a budget that fits lean_lora's four kept layers exactly (off, auto)."""
    root = tmp_path_factory.mktemp("lean")
    train_path = write_train_set(root / "train.parquet")
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        for name, lean in [("auto-fits", "auto"), ("on-fits", "on")]:
            runs[name] = planned_run(root / name, tiny_model_dir, train_path, mp, **SFT, lean_lora=lean,
                                     activation_memory="10")
        lean = runs["on-fits"]["plan"]
        four = activation_plan.predicted_bytes(4, 4, lean.tokens, lean.bytes_per_token, lean.input_bytes_per_token)
        runs["budget"] = four * 1.001
        for name, lean in [("off-tight", "off"), ("auto-tight", "auto")]:
            runs[name] = planned_run(root / name, tiny_model_dir, train_path, mp, **SFT, lean_lora=lean,
                                     activation_memory=str(runs["budget"] / GIB))
    return runs


@pytest.mark.slow
def test_auto_takes_lean_lora_when_it_keeps_more_layers_for_less(lean_runs):
    peft, lean = lean_runs["off-tight"], lean_runs["auto-tight"]
    assert (lean["plan"].kept, lean["plan"].split) == (4, 1)
    assert lean["plan"].kept > peft["plan"].kept  # in the same budget peft's path recomputes layers
    assert lean["plan"].relative_cost(activation_plan.LEAN_LORA_COST) < peft["plan"].relative_cost()
    assert lean["lean"] and lean_line(lean) == "lean_lora=True"
    assert lean["grad_fns"][0] == "LoRAUpdateBackward"
    assert not peft["lean"] and lean_line(peft) == "lean_lora=False"  # off never installs it
    assert peft["grad_fns"][0] != "LoRAUpdateBackward"
    assert all(math.isfinite(loss) for run in (peft, lean) for loss in run["steps"])


@pytest.mark.slow
def test_auto_keeps_peft_when_everything_fits_and_on_always_installs(lean_runs):
    auto, on = lean_runs["auto-fits"], lean_runs["on-fits"]
    assert (auto["plan"].kept, auto["plan"].split) == (4, 1) == (on["plan"].kept, on["plan"].split)
    assert not auto["lean"] and lean_line(auto) == "lean_lora=False"
    assert auto["grad_fns"][0] != "LoRAUpdateBackward"
    assert on["lean"] and lean_line(on) == "lean_lora=True"
    assert on["grad_fns"][0] == "LoRAUpdateBackward"
    # the measurement the tight budget rests on: with dropout lean_lora saves less per token than peft
    assert on["plan"].bytes_per_token < 0.8 * auto["plan"].bytes_per_token
    assert lean_runs["budget"] < auto["plan"].activation_bytes()  # so the tight budget is tight for peft


@pytest.mark.slow
def test_a_budget_where_both_paths_keep_the_same_layers_keeps_peft(lean_runs, tiny_model_dir, tmp_path):
    """A budget that even lean_lora cannot use to keep a layer more than peft: lean's extra cost buys nothing."""
    with pytest.MonkeyPatch.context() as mp:
        run = planned_run(tmp_path / "out", tiny_model_dir, write_train_set(tmp_path / "train.parquet"), mp, **SFT,
                          lean_lora="auto", activation_memory="0.00001")
    rows = run["plan"].tokens // SFT["max_seq_len"]  # the micro-batch's packed rows
    assert (run["plan"].kept, run["plan"].split) == (0, rows) and rows > 1  # every layer recomputed, row by row
    assert not run["lean"] and lean_line(run) == "lean_lora=False"
    assert run["grad_fns"][0] != "LoRAUpdateBackward"  # installed for the second probe, and uninstalled
    assert run["pieces"] == [rows]


# --- DPO ----------------------------------------------------------------------------------------------------------
DPO = dict(objective="dpo", beta=0.1, learning_rate=5e-3, max_steps=2, save_every=100, micro_batch_size=4,
           max_seq_len=256, warmup_steps=0)


@pytest.fixture(scope="module")
def dpo_runs(tiny_model_dir, tmp_path_factory, single_thread):  # noqa: F811
    from resources.training.loop import train

    root = tmp_path_factory.mktemp("dpo_plan")
    sft = train(TrainConfig(max_steps=1, save_every=1, micro_batch_size=2, max_seq_len=256, warmup_steps=0),
                tiny_model_dir, write_train_set(root / "train.parquet"), root / "sft", Recording())
    pairs = write_pairs(root / "pairs.parquet", pair_rows(12))
    with pytest.MonkeyPatch.context() as mp:
        return {budget: planned_run(root / budget, tiny_model_dir, pairs, mp, init_adapter=sft["final_checkpoint"],
                                    **DPO, activation_memory=budget) for budget in ("off", "0.00001")}


@pytest.mark.slow
def test_dpo_under_a_tiny_budget_never_splits_a_micro_batch(dpo_runs):
    """A DPO micro-batch holds each pair's chosen and rejected rows; its loss needs both in one forward."""
    run = dpo_runs["0.00001"]
    assert (run["plan"].kept, run["plan"].split) == (0, 1)
    assert run["plan"].activation_bytes() > run["plan"].budget_bytes  # over budget, and still whole
    assert run["pieces"] == [1] * DPO["max_steps"]
    assert dpo_runs["off"]["plan"] is None and dpo_runs["off"]["pieces"] == [1] * DPO["max_steps"]


@pytest.mark.slow
def test_dpo_under_a_budget_learns_what_it_learns_without(dpo_runs):
    planned, off = dpo_runs["0.00001"]["steps"], dpo_runs["off"]["steps"]
    assert planned[0] == pytest.approx(math.log(2), abs=1e-4)  # policy == reference at step 1
    assert planned == pytest.approx(off, rel=1e-5) and len(planned) == DPO["max_steps"]
    assert planned[1] != pytest.approx(planned[0], abs=1e-4)  # the second step did learn from the first


# --- two DDP ranks ------------------------------------------------------------------------------------------------
RANK_SCRIPT = """
import json, sys
from resources.training.config import TrainConfig
from resources.training.distributed import Dist, destroy_process_group, init_process_group
from resources.training.loop import train
from resources.training.reporting import Reporter

dist = Dist.from_env()
args = json.loads(sys.argv[1])

class RankReporter(Reporter):  # every rank logs to its own file: two processes on one pipe interleave mid-line
    def log(self, message):
        with open(f"{args['logs']}/rank{dist.rank}.log", "a", encoding="utf-8") as fh:
            print(message, file=fh)

init_process_group(dist)
cfg = TrainConfig(**args["config"], activation_memory=args["budgets"][dist.rank])
train(cfg, args["model"], args["train"], args["out"], RankReporter(), dist=dist)
destroy_process_group(dist)
"""


def run_ranks(tmp_path, repo_root, model, train, budgets, config) -> dict[int, list[str]]:
    """Each rank's log lines from a 2-rank CPU (gloo) run of RANK_SCRIPT; fails on a crash or a hang."""
    script = tmp_path / "ranks.py"
    script.write_text(RANK_SCRIPT)
    args = {"model": str(model), "train": str(train), "out": str(tmp_path / "out"), "budgets": budgets,
            "config": config, "logs": str(tmp_path)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
           json.dumps(args)]
    # its own session, so a hang (the failure this guards against) is killed with both ranks, not left behind
    proc = subprocess.Popen(cmd, cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"})
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the ranks hung for 180 s: {out[-2000:]}{err[-2000:]}")
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    return {r: (tmp_path / f"rank{r}.log").read_text().splitlines() for r in (0, 1)}


def rank_plans(logs) -> dict:
    return {r: [line for line in lines if line.startswith("activation plan: ")] for r, lines in logs.items()}


@pytest.mark.slow
def test_two_ranks_plan_with_the_smallest_budget(tiny_model_dir, tmp_path, repo_root):
    """Rank 0 could keep every layer in its budget, rank 1 none: both run rank 1's plan, in the same pieces."""
    logs = run_ranks(tmp_path, repo_root, tiny_model_dir, write_train_set(tmp_path / "train.parquet", 24),
                     ["10", "0.00001"], dict(max_steps=1, save_every=100, micro_batch_size=2, max_seq_len=256,
                                             warmup_steps=0))
    plans = rank_plans(logs)
    assert len(plans[0]) == 1 and plans[0] == plans[1], plans
    assert plans[0][0].startswith("activation plan: 0 of 4 layers keep their activations, 4 recompute; "
                                  "micro-batches in 2 piece(s)")
    for lines in logs.values():
        assert "lean_lora=False" in lines
        assert any(line.startswith("step 1/1 loss") for line in lines)


@pytest.mark.slow
def test_two_ranks_whose_first_micro_batches_differ_in_rows_plan_alike(tiny_model_dir, tmp_path, repo_root):
    """5 unpacked rows, 4 a micro-batch: rank 0 starts on 4 rows, rank 1 on the epoch's last row. In 0.025 GiB
    (about 17 KiB per token per kept layer) one 256-token row keeps every layer and 4 do not; a plan from each
    rank's own rows sent only rank 0 into lean_lora's probe and its collective, and both ranks hung."""
    logs = run_ranks(tmp_path, repo_root, tiny_model_dir, write_train_set(tmp_path / "train.parquet", 5),
                     ["0.025", "0.025"], dict(max_steps=1, save_every=100, micro_batch_size=4, max_seq_len=256,
                                              warmup_steps=0, packing=False, lora_dropout=0.1))
    plans = rank_plans(logs)
    assert len(plans[0]) == 1 and plans[0] == plans[1], plans
    assert not plans[0][0].startswith("activation plan: 4 of 4"), plans  # planned for rank 0's 4 rows
    lean = {r: [line for line in lines if line.startswith("lean_lora=")] for r, lines in logs.items()}
    assert len(lean[0]) == 1 and lean[0] == lean[1], lean
    for lines in logs.values():
        assert any(line.startswith("step 1/1 loss") for line in lines)
