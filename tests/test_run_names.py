"""Runs named by what they materialised: ``privft runs`` and the sensor that tags anonymous asset runs."""

import dagster as dg

from pipelines.run_names import ASSETS_TAG, label_asset_runs, run_lines, shorten


@dg.asset
def training_datasets():
    return 1


@dg.asset(deps=[training_datasets])
def qlora_adapter():
    return 1


def test_an_asset_run_is_listed_and_tagged_with_its_assets():
    defs = dg.Definitions(assets=[training_datasets, qlora_adapter])
    with dg.instance_for_test() as instance:
        # what automation and the UI's Materialize launch: the implicit __ASSET_JOB with an asset selection
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[training_datasets.key, qlora_adapter.key])
        [line] = run_lines(instance)
        assert result.run_id[:8] in line and "SUCCESS" in line
        assert "qlora_adapter, training_datasets" in line and "__" not in line and "(launched by hand)" in line
        run = instance.get_run_by_id(result.run_id)
        context = dg.build_run_status_sensor_context(sensor_name="label_asset_runs", dagster_instance=instance,
                                                     dagster_run=run, dagster_event=result.get_run_success_event())
        label_asset_runs(context)
        assert instance.get_run_by_id(result.run_id).tags[ASSETS_TAG] == "qlora_adapter, training_datasets"


def test_automation_runs_say_so_and_named_jobs_keep_their_names():
    job = dg.define_asset_job("publish_job", selection=[training_datasets])
    defs = dg.Definitions(assets=[training_datasets], jobs=[job])
    with dg.instance_for_test() as instance:
        defs.resolve_job_def("publish_job").execute_in_process(
            instance=instance, tags={"dagster/from_automation_condition": "true"})
        [line] = run_lines(instance)
        assert "publish_job" in line and line.endswith("(automation)")


def test_long_selections_are_shortened_with_a_count():
    names = [f"asset_{i:02d}" for i in range(30)]
    text = shorten(names, 60)
    assert len(text) <= 60 and text.endswith("more") and text.startswith("asset_00, asset_01")
