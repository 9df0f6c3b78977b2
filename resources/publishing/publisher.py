"""The publishing engine the assets call: merge + card into a registry version, gate and promote, smoke test.

The ``privft promote`` command an operator uses to inspect the registry, promote by hand or roll back is
``promote_cli.py``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import dagster as dg

from resources.publishing.card import read_manifest, write_model_card
from resources.publishing.gates import GateResult, comparison, evaluate_gates, gate_facts
from resources.publishing.held_out import CurrentHeldOut
from resources.publishing.prompts import DEFAULT_PROMPTS, Prompt
from resources.publishing.registry import BLOCKING_FLAGS, Registry


@dataclass
class PublishedVersion:
    version: str
    path: Path
    created: bool  # False when the version already existed (publishing is then a no-op)
    manifest: dict[str, Any]


class Publisher(dg.ConfigurableResource):
    """How models are merged, verified and promoted."""

    model_name: str = "nordlicht-support"
    merge_dtype: str = "float32"   # "bfloat16" for real models on GPU
    merge_tolerance: float = 1e-3  # max |logit diff|; 0.15 with bfloat16 (see merge.DEFAULT_TOLERANCE)
    promotion_margin: float = 0.0
    max_shard_size: str = "2GB"

    def registry(self, registry_root: Path | str) -> Registry:
        return Registry(registry_root, self.model_name)

    def version_for(self, registry_root: Path | str, inputs: dict[str, Any]) -> str:
        return self.registry(registry_root).version_for(inputs)

    def publish_version(self, registry_root: Path | str, *, base_model_dir: Path | str, adapter_dir: Path | str,
                        inputs: dict[str, Any], card_info: dict[str, Any],
                        sample_prompts: Optional[Sequence[Prompt]] = None, trust_remote_code: bool = False,
                        allow_pickle: bool = False, held_out: Optional[CurrentHeldOut] = None) -> PublishedVersion:
        """Publish the version named by ``inputs`` (upstream data versions + code version) unless it exists.

        ``card_info`` carries the facts for the model card (see ``card.py``); the merge verification is added here,
        and, given the current ``held_out`` set, this version beside the promoted one measured on that same set.
        """
        from resources.publishing.merge import merge_adapter

        reg = self.registry(registry_root)
        version = reg.version_for(inputs)

        def build(folder: Path) -> None:
            result = merge_adapter(base_model_dir, adapter_dir, folder / "merged", adapter_out=folder / "adapter",
                                   dtype=self.merge_dtype, max_shard_size=self.max_shard_size,
                                   sample_prompts=sample_prompts, tolerance=self.merge_tolerance,
                                   trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
            merge = {**result.as_dict(), "out_dir": "merged", "adapter_dir": "adapter"}  # relative: versions move
            info = {**card_info, "model_name": self.model_name, "version": version, "inputs": inputs, "merge": merge}
            if held_out is not None:
                info["comparison"] = comparison(gate_facts(info), self._incumbent(reg, held_out))
            write_model_card(folder, info)

        created = reg.publish(version, build)
        return PublishedVersion(version, reg.path(version), created, read_manifest(reg.path(version)))

    def promote_if_better(self, registry_root: Path | str, version: str,
                          held_out: Optional[CurrentHeldOut] = None) -> GateResult:
        """Run the promotion gate for ``version`` against the promoted one; move the pointer only if it passes.

        Given the current ``held_out`` set, both are compared on it: the promoted version is re-evaluated there
        when it was measured on another set (once; cached), and a candidate measured on another set is refused.
        Without it, recorded numbers are compared only when they name the same held-out set.
        """
        reg = self.registry(registry_root)
        current = reg.promoted()
        candidate = {**gate_facts(read_manifest(reg.path(version))), "version": version}
        if current == version:
            return GateResult(True, [f"{version} is already promoted"], comparison(candidate, None))
        blocked = sorted(BLOCKING_FLAGS & set(reg.flags(version)))
        incumbent = self._incumbent(reg, held_out)
        result = evaluate_gates(candidate, incumbent, self.promotion_margin, held_out.key if held_out else None)
        if blocked:
            result = GateResult(False, [f"version is flagged {blocked}"] + (result.reasons if not result.passed else []))
        result.compared = comparison(candidate, incumbent)
        reg.log("gate", version=version, against=current, passed=result.passed, reasons=result.reasons,
                compared=result.compared)
        if result.passed:
            reg.promote(version, reason="gate passed: " + "; ".join(result.reasons))
        return result

    @staticmethod
    def _incumbent(reg: Registry, held_out: Optional[CurrentHeldOut]) -> Optional[dict[str, Any]]:
        """Gate facts of the promoted version, on the current held-out set when one is given; None when nothing
        is promoted or the promoted version is flagged (a flagged incumbent sets no bar to beat)."""
        current = reg.promoted()
        if not current or BLOCKING_FLAGS & set(reg.flags(current)):
            return None
        folder = reg.path(current)
        manifest = read_manifest(folder)
        facts = {**gate_facts(manifest), "version": current}
        return held_out.align(facts, folder, manifest) if held_out is not None else facts

    def smoke(self, registry_root: Path | str, version: str, base_model_dir: Path | str,
              prompts: Sequence[Prompt] = DEFAULT_PROMPTS, max_new_tokens: int = 32,
              trust_remote_code: bool = False, allow_pickle: bool = False) -> dict[str, Any]:
        """Smoke result of ``version``, computed once: a version's name is derived from its content (merged
        weights, adapter, base), so the same version with the same prompts always answers the same way."""
        from resources.publishing.smoke import smoke_inference
        from resources.storage import write_json

        folder = self.registry(registry_root).path(version)
        key = hashlib.sha256(json.dumps([list(map(str, prompts)), max_new_tokens]).encode()).hexdigest()[:12]
        cached = Path(registry_root) / ".smoke" / f"{version}-{key}.json"  # hidden: not part of any version
        if cached.is_file():
            return {**json.loads(cached.read_text()), "reused": True}
        result = smoke_inference(folder / "merged", base_model_dir, folder / "adapter", prompts, max_new_tokens,
                                 trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
        write_json(cached, result)
        return result

