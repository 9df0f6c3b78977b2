"""Drop sensors and automation conditions, on a temporary instance (no model involved)."""

from __future__ import annotations

import json

import dagster as dg

from assets import on_changed_inputs
from pipelines.automation import build_drop_sensor
from resources.sources.catalog import SourceCatalog

ROW = {"messages": [{"role": "user", "content": "Where is order A-1?"}, {"role": "assistant", "content": "On its way."}],
       "task": "policy_qa", "verdict": "approved", "reviewer": "r1", "reviewed_at": "2026-11-20T10:00:00Z"}


def _watched(tmp_path):
    """An incoming folder for reviewed interactions, a catalog that sees only it, and its drop sensor."""
    incoming = tmp_path / "incoming" / "reviewed_interactions"
    incoming.mkdir(parents=True)
    catalog = SourceCatalog(sample_root=str(tmp_path / "none"), incoming_root=str(tmp_path / "incoming"))
    return incoming, catalog, build_drop_sensor("reviewed_interactions")


def _tick(sensor, instance, catalog, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"catalog": catalog})
    result = sensor(context)
    return result, result.cursor


def test_a_new_drop_is_requested_exactly_once(tmp_path):
    incoming, catalog, sensor = _watched(tmp_path)
    with dg.instance_for_test() as instance:
        drop = incoming / "2026-11-20.jsonl"
        drop.write_text(json.dumps(ROW) + "\n")
        first, cursor = _tick(sensor, instance, catalog, None)
        assert not first.run_requests, "a file seen for the first time may still be being written"
        second, cursor = _tick(sensor, instance, catalog, cursor)
        assert [r.partition_key for r in second.run_requests] == ["2026-11-20.jsonl"]
        assert second.dynamic_partitions_requests[0].partition_keys == ["2026-11-20.jsonl"]
        third, cursor = _tick(sensor, instance, catalog, cursor)
        assert not third.run_requests, "the same drop must not be requested twice"
        drop.touch()  # a touched file has the same content: nothing new
        fourth, cursor = _tick(sensor, instance, catalog, cursor)
        fifth, cursor = _tick(sensor, instance, catalog, cursor)
        assert not fourth.run_requests and not fifth.run_requests


def test_a_done_marker_makes_a_drop_ready_at_once_and_partial_files_wait(tmp_path):
    incoming, catalog, sensor = _watched(tmp_path)
    with dg.instance_for_test() as instance:
        (incoming / "2026-11-21.jsonl").write_text(json.dumps(ROW) + "\n")
        (incoming / "2026-11-21.jsonl.done").write_text("")
        (incoming / "2026-11-22.jsonl.part").write_text("{")
        result, cursor = _tick(sensor, instance, catalog, None)
        assert [r.partition_key for r in result.run_requests] == ["2026-11-21.jsonl"]
        # growing between ticks: not complete yet
        growing = incoming / "2026-11-23.jsonl"
        growing.write_text(json.dumps(ROW) + "\n")
        result, cursor = _tick(sensor, instance, catalog, cursor)
        growing.write_text(json.dumps(ROW) + "\n" + json.dumps(ROW) + "\n")
        result, cursor = _tick(sensor, instance, catalog, cursor)
        assert not result.run_requests
        result, cursor = _tick(sensor, instance, catalog, cursor)
        assert [r.partition_key for r in result.run_requests] == ["2026-11-23.jsonl"]


def test_a_daemon_restart_requests_nothing_twice(tmp_path):
    """Run keys carry the content hash: even with a lost cursor, Dagster drops a repeated request."""
    incoming, catalog, sensor = _watched(tmp_path)
    (incoming / "d.jsonl").write_text(json.dumps(ROW) + "\n")
    (incoming / "d.jsonl.done").write_text("")
    with dg.instance_for_test() as instance:
        a, _ = _tick(sensor, instance, catalog, None)
        b, _ = _tick(sensor, instance, catalog, None)
        assert a.run_requests[0].run_key == b.run_requests[0].run_key


def _graph(version: dict):
    @dg.asset
    def upstream():
        return dg.MaterializeResult(data_version=dg.DataVersion(version["v"]))

    @dg.asset(deps=[upstream], automation_condition=on_changed_inputs)
    def downstream():
        return None

    return upstream, downstream


def test_training_condition_fires_only_on_a_changed_data_version():
    version = {"v": "a"}
    upstream, downstream = _graph(version)
    with dg.instance_for_test() as instance:
        dg.materialize([upstream, downstream], instance=instance)
        result = dg.evaluate_automation_conditions(defs=[upstream, downstream], instance=instance)
        cursor = result.cursor
        dg.materialize([upstream], instance=instance)  # same content again
        result = dg.evaluate_automation_conditions(defs=[upstream, downstream], instance=instance, cursor=cursor)
        assert result.get_num_requested(downstream.key) == 0
        version["v"] = "b"
        dg.materialize([upstream], instance=instance)  # the data really changed
        result = dg.evaluate_automation_conditions(defs=[upstream, downstream], instance=instance,
                                                   cursor=result.cursor)
        assert result.get_num_requested(downstream.key) == 1


def test_training_and_evaluation_carry_their_conditions():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in ("qlora_adapter", "training_datasets"):
        assert graph.get(dg.AssetKey(key)).automation_condition.get_label() == "on_changed_inputs"
    assert graph.get(dg.AssetKey("model_version")).automation_condition.get_label() == "on_new_evaluation"
    assert graph.get(dg.AssetKey("checkpoint_evaluation")).automation_condition.get_label() == "on_new_checkpoint"
    assert (graph.get(dg.AssetKey("evaluation_summary")).automation_condition.get_label()
            == "on_all_checkpoints_evaluated")


def test_drops_ingested_before_the_sensor_ran_are_not_ingested_again(tmp_path):
    incoming, catalog, sensor = _watched(tmp_path)
    (incoming / "old.jsonl").write_text(json.dumps(ROW) + "\n")
    (incoming / "old.jsonl.done").write_text("")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("reviewed_interactions_drops", ["old.jsonl"])
        instance.report_runless_asset_event(dg.AssetMaterialization("reviewed_interactions", partition="old.jsonl"))
        result, cursor = _tick(sensor, instance, catalog, None)
        assert not result.run_requests
        (incoming / "new.jsonl").write_text(json.dumps(ROW) + "\n")
        (incoming / "new.jsonl.done").write_text("")
        result, cursor = _tick(sensor, instance, catalog, cursor)
        assert [r.partition_key for r in result.run_requests] == ["new.jsonl"]


def test_merge_waits_for_a_new_evaluation_not_for_new_training_data():
    from assets import on_new_evaluation

    versions = {"data": "a", "summary": "x"}

    @dg.asset(name="training_datasets")
    def data():
        return dg.MaterializeResult(data_version=dg.DataVersion(versions["data"]))

    @dg.asset(name="evaluation_summary")
    def summary():
        return dg.MaterializeResult(data_version=dg.DataVersion(versions["summary"]))

    @dg.asset(name="model_version", deps=[data, summary], automation_condition=on_new_evaluation)
    def merged():
        return None

    graph = [data, summary, merged]
    with dg.instance_for_test() as instance:
        dg.materialize(graph, instance=instance)
        cursor = dg.evaluate_automation_conditions(defs=graph, instance=instance).cursor
        versions["data"] = "b"
        dg.materialize([data], instance=instance)
        result = dg.evaluate_automation_conditions(defs=graph, instance=instance, cursor=cursor)
        assert result.get_num_requested(merged.key) == 0, "new data alone must not trigger a merge"
        versions["summary"] = "y"
        dg.materialize([summary], instance=instance)
        result = dg.evaluate_automation_conditions(defs=graph, instance=instance, cursor=result.cursor)
        assert result.get_num_requested(merged.key) == 1


def test_rating_sheet_waits_for_a_new_summary_not_a_new_baseline():
    """Seen live: the sheet re-ran mid-training, when the baselines changed, against the old summary."""
    from assets.ratings import rating_sheet as real_sheet

    condition = real_sheet.automation_conditions_by_key[real_sheet.key]
    versions = {"baselines": "a", "summary": "x"}

    @dg.asset(name="base_baselines")
    def baselines():
        return dg.MaterializeResult(data_version=dg.DataVersion(versions["baselines"]))

    @dg.asset(name="evaluation_summary", deps=[baselines])
    def summary():
        return dg.MaterializeResult(data_version=dg.DataVersion(versions["summary"]))

    @dg.asset(name="rating_sheet", deps=[summary, baselines], automation_condition=condition)
    def sheet():
        return None

    graph = [baselines, summary, sheet]
    with dg.instance_for_test() as instance:
        dg.materialize(graph, instance=instance)
        cursor = dg.evaluate_automation_conditions(defs=graph, instance=instance).cursor
        versions["baselines"] = "b"
        dg.materialize([baselines], instance=instance)
        result = dg.evaluate_automation_conditions(defs=graph, instance=instance, cursor=cursor)
        assert result.get_num_requested(sheet.key) == 0, "a new baseline alone must not make a new sheet"
        versions["summary"] = "y"
        dg.materialize([summary], instance=instance)
        result = dg.evaluate_automation_conditions(defs=graph, instance=instance, cursor=result.cursor)
        assert result.get_num_requested(sheet.key) == 1


def test_summary_waits_for_training_and_every_checkpoint_evaluation():
    """Seen live: a new baseline made the summary (and so a merge) run mid-training, on the old checkpoints."""
    import threading

    from assets import on_all_checkpoints_evaluated

    checkpoints = dg.DynamicPartitionsDefinition(name="test_checkpoints")
    versions = {"baselines": "a"}
    training, finish = threading.Event(), threading.Event()

    @dg.asset(name="qlora_adapter")
    def adapter():
        if not finish.is_set():
            training.set()
            assert finish.wait(120)

    @dg.asset(name="checkpoint_evaluation", deps=[adapter], partitions_def=checkpoints)
    def evaluation():
        return None

    @dg.asset(name="base_baselines")
    def baselines():
        return dg.MaterializeResult(data_version=dg.DataVersion(versions["baselines"]))

    @dg.asset(name="evaluation_summary", deps=[evaluation, baselines], automation_condition=on_all_checkpoints_evaluated)
    def summary():
        return None

    graph = [adapter, evaluation, baselines, summary]

    def requested(cursor):
        result = dg.evaluate_automation_conditions(defs=graph, instance=instance, cursor=cursor)
        return result.get_num_requested(summary.key), result.cursor

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("test_checkpoints", ["r1-10"])
        finish.set()
        dg.materialize([adapter, baselines], instance=instance)
        dg.materialize([evaluation], instance=instance, partition_key="r1-10")
        dg.materialize([summary], instance=instance)
        _, cursor = requested(None)

        # training of a new adapter is running (a real run, held mid-step); the baseline already changed
        finish.clear()
        run = threading.Thread(target=lambda: dg.materialize([adapter], instance=instance))
        run.start()
        assert training.wait(60)
        versions["baselines"] = "b"
        dg.materialize([baselines], instance=instance)
        n, cursor = requested(cursor)
        assert n == 0, "the summary must not run while training is in progress"

        # training is done, its checkpoints are registered but not evaluated yet
        finish.set()
        run.join(60)
        instance.add_dynamic_partitions("test_checkpoints", ["r2-10", "r2-20"])
        dg.materialize([evaluation], instance=instance, partition_key="r2-10")
        n, cursor = requested(cursor)
        assert n == 0, "the summary must wait for every checkpoint's evaluation"

        dg.materialize([evaluation], instance=instance, partition_key="r2-20")
        n, cursor = requested(cursor)
        assert n == 1
        dg.materialize([summary], instance=instance)
        n, cursor = requested(cursor)
        assert n == 0, "once handled, nothing more"
