"""Registry: stable versions, atomic immutable publishing, gated promotion, rollback, flags, the CLI."""

import json
import re
from pathlib import Path

import pytest

from resources.publishing.card import write_model_card
from resources.publishing.gates import evaluate_gates
from resources.publishing.promote_cli import main as promote_cli
from resources.publishing.publisher import Publisher
from resources.publishing.registry import Registry, RegistryError

INPUTS = {"training_datasets": "abc123", "base_model": "def456", "code_version": "train-3"}


def fake_build(value: float, forgetting: bool = False, leakage: int = 0, verified: bool = True,
               zero_shot: float = 0.0):
    """A version's folder with the layout a real build writes, without merging a model (fast)."""
    def build(folder: Path) -> None:
        for sub in ("adapter", "merged"):
            (folder / sub).mkdir()
            (folder / sub / "weights.safetensors").write_bytes(b"x")
        write_model_card(folder, {
            "evaluation": {"primary_metric": "rougeL", "higher_is_better": True, "chosen": "checkpoint-10",
                           "checkpoints": [{"checkpoint": "checkpoint-10", "metrics": {"rougeL": value}}],
                           "baselines": {"zero_shot": {"rougeL": zero_shot}, "few_shot": {"rougeL": zero_shot}}},
            "forgetting": {"flag": forgetting}, "leakage": {"count": leakage}, "merge": {"verified": verified}})
    return build


def publish(reg: Registry, name: str, value: float, **kw) -> str:
    version = reg.version_for({**INPUTS, "run": name})
    assert reg.publish(version, fake_build(value, **kw))
    return version


def test_same_inputs_same_version_and_second_publish_is_a_noop(tmp_path):
    reg = Registry(tmp_path, "m")
    v = reg.version_for(INPUTS)
    assert re.fullmatch(r"v-[0-9a-f]{12}", v)
    assert v == Registry(tmp_path / "elsewhere", "m").version_for(dict(reversed(list(INPUTS.items()))))
    assert v != reg.version_for({**INPUTS, "training_datasets": "abc124"})

    calls = []
    assert reg.publish(v, lambda f: (calls.append(f), fake_build(0.5)(f)))
    first = (reg.path(v) / "manifest.json").read_text()
    assert not reg.publish(v, lambda f: (calls.append(f), fake_build(0.9)(f)))
    assert len(calls) == 1 and (reg.path(v) / "manifest.json").read_text() == first
    assert reg.versions() == [v] and reg.exists(v)


def test_a_crash_inside_build_leaves_no_visible_version(tmp_path):
    reg = Registry(tmp_path, "m")
    v = reg.version_for(INPUTS)

    def crashing(folder: Path) -> None:
        fake_build(0.5)(folder)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        reg.publish(v, crashing)
    assert not reg.exists(v) and reg.versions() == []
    assert [p.name for p in reg.dir.iterdir()] == []  # no hidden temporaries either

    with pytest.raises(RegistryError, match="merged"):
        reg.publish(v, lambda f: (f / "adapter").mkdir())  # incomplete build
    assert not reg.exists(v)
    assert reg.publish(v, fake_build(0.5)) and reg.versions() == [v]


def test_gated_promotion_and_rollback(tmp_path):
    pub = Publisher(model_name="m", promotion_margin=0.01)
    reg = pub.registry(tmp_path)
    v1 = publish(reg, "1", 0.30)
    assert reg.promoted() is None
    assert pub.promote_if_better(tmp_path, v1).passed
    assert reg.promoted() == v1

    worse = publish(reg, "2", 0.25)
    result = pub.promote_if_better(tmp_path, worse)
    assert not result.passed and "does not beat" in result.reasons[0]
    assert reg.promoted() == v1
    within_margin = publish(reg, "3", 0.305)
    assert not pub.promote_if_better(tmp_path, within_margin).passed and reg.promoted() == v1

    for kw, why in [({"forgetting": True}, "forgetting"), ({"leakage": 2}, "leaked"), ({"verified": False}, "merge")]:
        bad = publish(reg, f"bad-{why}", 0.9, **kw)
        result = pub.promote_if_better(tmp_path, bad)
        assert not result.passed and any(why in r for r in result.reasons), result
        assert reg.promoted() == v1

    v2 = publish(reg, "4", 0.40)
    assert pub.promote_if_better(tmp_path, v2).passed and reg.promoted() == v2
    assert reg.rollback("bad answers in production") == v1 and reg.promoted() == v1
    with pytest.raises(RegistryError, match="no earlier"):
        reg.rollback()

    events = [e["event"] for e in reg.history()]
    assert events.count("publish") == 7 and events.count("gate") == 7
    assert [e for e in events if e in ("promote", "rollback")] == ["promote", "promote", "rollback"]
    assert reg.pointer()["reason"] == "bad answers in production" and reg.pointer()["previous"] == v2


def test_flagged_versions_are_never_promoted_or_rolled_back_to(tmp_path):
    reg = Registry(tmp_path, "m")
    a, b, c = (publish(reg, n, 0.1 * i) for i, n in enumerate("abc", 1))
    for v in (a, b, c):
        reg.promote(v, "test")
    reg.mark(b, "contains_erased_data", {"record": "reviewed_interactions/d1/7"})
    assert "contains_erased_data" in json.loads((reg.path(b) / "flags.json").read_text())
    with pytest.raises(RegistryError, match="contains_erased_data"):
        reg.promote(b, "again")
    assert reg.rollback() == a  # b is skipped
    # A flagged incumbent sets no bar: any safe candidate may replace it.
    reg.mark(a, "contains_erased_data", "erasure request 42")
    assert Publisher(model_name="m").promote_if_better(tmp_path, publish(reg, "d", 0.01)).passed


def test_first_version_must_beat_the_base_model_zero_shot(tmp_path):
    """Nothing promoted is no free pass: the first version still has to beat prompting the base model."""
    pub = Publisher(model_name="m")
    reg = pub.registry(tmp_path)
    worse = publish(reg, "worse-than-base", 0.20, zero_shot=0.25)
    result = pub.promote_if_better(tmp_path, worse)
    assert not result.passed and reg.promoted() is None
    assert any("does not beat the base model zero-shot 0.25" in r for r in result.reasons), result.reasons
    equal = publish(reg, "equal-to-base", 0.25, zero_shot=0.25)
    assert not pub.promote_if_better(tmp_path, equal).passed and reg.promoted() is None

    better = publish(reg, "better-than-base", 0.30, zero_shot=0.25)
    result = pub.promote_if_better(tmp_path, better)
    assert result.passed and reg.promoted() == better
    assert "rougeL 0.3 beats the base model zero-shot 0.25" in result.reasons
    assert result.compared["base_zero_shot"] == 0.25 and result.compared["incumbent"] is None


def test_gate_rules():
    ok = {"metric": "rougeL", "value": 0.5, "forgetting": False, "leakage": 0, "merge_verified": True,
          "baseline": 0.1}
    assert evaluate_gates(ok, None, 0.0).passed
    assert not evaluate_gates(ok, {**ok, "value": 0.5}, 0.0).passed  # equal is not better
    assert evaluate_gates(ok, {**ok, "value": 0.45}, 0.01).passed
    assert not evaluate_gates(ok, {**ok, "value": 0.45}, 0.1).passed
    lower = {**ok, "metric": "loss", "higher_is_better": False, "baseline": 3.0}
    assert evaluate_gates(lower, {**lower, "value": 0.6}).passed and not evaluate_gates(lower, {**lower, "value": 0.4}).passed
    assert not evaluate_gates({**ok, "leakage": None}, None).passed  # missing facts block
    assert not evaluate_gates({**ok, "value": float("nan")}, None).passed
    assert not evaluate_gates(ok, {**ok, "metric": "exact_match", "value": 0.1}).passed
    # the base model's zero-shot score is a bar for every candidate; a missing one blocks
    assert not evaluate_gates({**ok, "baseline": 0.5}, None).passed
    assert not evaluate_gates({**ok, "baseline": None}, None).passed
    assert evaluate_gates({**lower, "value": 1.0, "baseline": 2.0}, None).passed
    assert not evaluate_gates({**lower, "value": 2.5, "baseline": 2.0}, None).passed
    # numbers from different held-out sets are never compared
    new, old = {"data_version": "new", "settings": "s"}, {"data_version": "old", "settings": "s"}
    assert evaluate_gates({**ok, "held_out": new}, {**ok, "value": 0.4, "held_out": new}).passed
    assert not evaluate_gates({**ok, "held_out": new}, {**ok, "value": 0.4, "held_out": old}).passed
    assert not evaluate_gates({**ok, "held_out": new}, {**ok, "value": 0.4}).passed
    stale = evaluate_gates({**ok, "held_out": old}, None, held_out=new)
    assert not stale.passed and "evaluate it again" in stale.reasons[0]


def test_promote_cli(tmp_path, capsys):
    reg = Registry(tmp_path, "m")
    a, b = publish(reg, "a", 0.1), publish(reg, "b", 0.2)
    args = ["--registry", str(tmp_path), "--model", "m"]
    assert promote_cli(args + ["--version", a]) == 0
    assert promote_cli(args + ["--version", b, "--reason", "hotfix"]) == 0 and reg.promoted() == b
    assert promote_cli(args + ["--rollback"]) == 0 and reg.promoted() == a
    capsys.readouterr()
    assert promote_cli(args + ["--status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["promoted"]["version"] == a and [v["version"] for v in status["versions"]] == [a, b]
    assert promote_cli(args + ["--version", "v-000000000000"]) == 1
    assert "no version" in capsys.readouterr().err
    assert promote_cli(args + ["--rollback", "--version", a]) == 2  # mutually exclusive


@pytest.mark.slow
def test_publisher_publishes_a_real_merged_version(tmp_path):
    import importlib.util

    # Shared with the merge tests; loaded by path so it works under any pytest import mode.
    spec = importlib.util.spec_from_file_location("_publishing_merge_tests", Path(__file__).with_name(
        "test_publishing_merge.py"))
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    base, adapter = helpers.make_base_and_adapter(tmp_path / "in")
    pub = Publisher(model_name="m")
    info = {"evaluation": {"primary_metric": "rougeL", "chosen": "checkpoint-5",
                           "checkpoints": [{"checkpoint": "checkpoint-5", "metrics": {"rougeL": 0.2}}],
                           "baselines": {"zero_shot": {"rougeL": 0.1}}},
            "forgetting": {"flag": False}, "leakage": {"count": 0}}
    kw = dict(base_model_dir=base, adapter_dir=adapter, inputs=INPUTS, card_info=info,
              sample_prompts=["Where is my order?"])
    first = pub.publish_version(tmp_path / "registry", **kw)
    assert first.created and first.manifest["merge"]["verified"] and first.manifest["version"] == first.version
    assert sorted(p.name for p in first.path.iterdir()) == ["MODEL_CARD.md", "adapter", "manifest.json", "merged"]
    assert (first.path / "adapter" / "adapter_model.safetensors").exists()
    assert not (first.path / "adapter" / "optimizer.pt").exists() and not (first.path / "merged" / "adapter").exists()
    assert not pub.publish_version(tmp_path / "registry", **kw).created  # no merge the second time
    assert pub.promote_if_better(tmp_path / "registry", first.version).passed
