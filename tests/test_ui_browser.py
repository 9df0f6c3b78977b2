"""The Dagster UI as the team's workbench, checked in a real browser (the system Chromium, via Playwright).

One populated instance per module (tests/ui_server.py): the pipeline's runs up to the evaluation summary
(and publishing too when refreshing the docs screenshots), then `dagster dev` on 127.0.0.1 reading it. The browser sees only that server: every other request is
aborted, so a UI that tried to fetch something from the internet would show up as a broken page here.
Screenshots go to test-artifacts/screenshots/ (and docs/screenshots/ with PRIVFT_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import re
import shutil
import time

import pytest

import ui_server

pytestmark = pytest.mark.slow

STAGES = ("sources", "prepare", "train", "evaluate", "publish")
PREPARE_ASSETS = ("normalised_examples", "deduplicated_examples", "training_datasets")
RUN_TIMEOUT_S = 480  # a run from the UI starts one process per step; slow on two busy cores
UI_TIMEOUT_MS = 90_000  # first page loads compile GraphQL queries against a busy code server


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    ui_server.require_chromium()
    ui_server.require_playwright()
    tmp = tmp_path_factory.mktemp("ui")
    settings = ui_server.fast_settings(tmp)
    home, config = ui_server.prepare_home(tmp, settings)
    started = time.monotonic()
    # the screenshots for the docs show the whole pipeline materialised; the test itself needs less
    populated = ui_server.populate(home, settings, log=print, publish=ui_server.updating_screenshots())
    print(f"instance populated in {time.monotonic() - started:.0f}s")

    import dagster as dg

    from pipelines.definitions import build_definitions

    graph = build_definitions(settings).resolve_asset_graph()
    groups: dict[str, list[str]] = {}
    for key in graph.get_all_asset_keys():
        groups.setdefault(graph.get(key).group_name, []).append(key.to_user_string())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        materialised = {key.to_user_string() for key in graph.get_all_asset_keys()
                        if instance.get_latest_materialization_event(key) is not None}
    started = time.monotonic()
    try:
        with ui_server.dagster_dev(home, config) as server:
            print(f"dagster dev ready in {time.monotonic() - started:.0f}s at {server.url}")
            yield {"server": server, "home": home, "groups": groups, "materialised": materialised,
                   "checkpoints": populated["checkpoints"]}
    finally:
        ui_server.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        if (home / "dagster_dev.log").exists():
            shutil.copyfile(home / "dagster_dev.log", ui_server.SCREENSHOTS.parent / "dagster_dev.log")


@pytest.fixture(scope="module")
def browser(ui):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(ui_server.CHROMIUM), args=ui_server.CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(ui, browser, request):
    """A fresh browser tab that may reach only the test's server; on failure its last view is saved."""
    base = ui["server"].url
    context = browser.new_context(viewport={"width": 1600, "height": 1100}, base_url=base)
    blocked: list[str] = []

    def only_local(route):
        if route.request.url.startswith(base) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    # No dismissal of Dagster's first-visit "join the community" dialog here: dagster.yaml turns it off
    # (test_no_first_visit_dialog_asks_for_an_e_mail_address).
    tab = context.new_page()
    tab.set_default_timeout(UI_TIMEOUT_MS)
    failed_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failed_before:
        ui_server.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ui_server.SCREENSHOTS / f"FAILED-{request.node.name}.png"))
    if blocked:
        print(f"blocked requests to outside the server: {sorted(set(blocked))}")
    context.close()


def test_asset_graph_shows_every_stage_with_its_assets(ui, page):
    from playwright.sync_api import expect

    groups = ui["groups"]
    assert set(STAGES) <= set(groups), f"a pipeline stage has no asset group: {sorted(groups)}"
    # Open the lineage with every group expanded (the UI's own setting), so the screenshot shows assets.
    expanded = ",".join(f"global@global:{g}" for g in sorted(groups))
    page.add_init_script("window.localStorage.setItem('asset-graph-open-graph-nodes-global-__GLOBAL__', "
                         f"JSON.stringify({{expanded: '{expanded}'}}))")
    page.goto("/asset-groups")
    for group in sorted(groups):
        # the group's box in the graph
        expect(page.locator(f'foreignObject [data-tooltip="{group}"]').first).to_be_visible()
        # and in the sidebar tree, unfolded to list its assets by full name
        row = page.locator("[data-index]").filter(has=page.locator(f'[title="{group}"]'))
        row.locator('[aria-label="arrow_drop_down"]').first.click()
    for group, assets in groups.items():
        for asset in assets:
            expect(page.locator(f'[title="{asset}"]').first, f"{asset} (group {group})").to_be_visible()
            # and its state: a green tick for what the pipeline materialised, none for the rest
            tick = page.locator("[data-index]").filter(has=page.locator(f'[title="{asset}"]')).locator(
                '[aria-label="run_success"]')
            if asset in ui["materialised"]:
                expect(tick, f"{asset} shows as materialised").to_be_visible()
            else:
                expect(tick, f"{asset} was never materialised").to_have_count(0)
    assert page.locator('foreignObject [aria-label="unfold_more"]').count() == 0, "a group is still collapsed"
    page.wait_for_timeout(1000)  # the graph draws its edges and colours after the same data arrives
    ui_server.save_screenshot(page, "asset-graph.png")


def _wait_for_run_outcome(page, server, timeout_s: float) -> str:
    """'Success', or a failure naming the state the run page shows and the server's log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for state in ("Success", "Failure", "Canceled"):
            if page.get_by_text(state, exact=True).first.is_visible():
                if state != "Success":
                    pytest.fail(f"the run shows {state} in the UI; server log:\n{server.log_tail()}")
                return state
        page.wait_for_timeout(2000)
    pytest.fail(f"the run did not finish within {timeout_s:.0f}s; server log:\n{server.log_tail()}")


def test_materialising_the_prepare_group_from_the_ui_succeeds(ui, page):
    import dagster as dg
    from playwright.sync_api import expect

    server = ui["server"]
    page.goto("/locations/privft/asset-groups/prepare")
    expect(page.get_by_role("button", name="Materialize all")).to_be_visible()
    for i, asset in enumerate(PREPARE_ASSETS):
        node = page.locator("foreignObject").filter(has_text="Latest event").filter(
            has=page.get_by_text(asset, exact=True))
        node.get_by_text(asset, exact=True).click(modifiers=["Shift"] if i else None)
    materialise = page.get_by_role("button", name=f"Materialize selected ({len(PREPARE_ASSETS)})")
    expect(materialise).to_be_enabled()
    materialise.click()

    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    expect(toast).to_be_visible()
    short_id = re.search(r"[0-9a-f]{8}", toast.inner_text()).group(0)
    # the toast's "View" opens the run page (the toast fades after a while: the asset node links there too)
    view = page.get_by_text("View", exact=True)
    if view.count():
        view.first.click()
    else:
        page.locator(f'a[href^="/runs/{short_id}"]').first.click()
    expect(page).to_have_url(re.compile(rf"/runs/{short_id}[0-9a-f-]*"))
    run_id = re.search(rf"/runs/({short_id}[0-9a-f-]+)", page.url).group(1)
    assert _wait_for_run_outcome(page, server, RUN_TIMEOUT_S) == "Success"
    expect(page.get_by_text("RUN_SUCCESS").first).to_be_visible()
    ui_server.save_screenshot(page, "prepare-run.png")

    # What the UI claims, checked in the instance: this run succeeded and produced the three materialisations.
    with dg.DagsterInstance.from_config(str(ui["home"])) as instance:
        run = instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert {k.to_user_string() for k in run.asset_selection} == set(PREPARE_ASSETS)
        for asset in PREPARE_ASSETS:
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            assert event is not None and event.run_id == run_id, asset


def test_no_first_visit_dialog_asks_for_an_e_mail_address(ui, page):
    """Dagster shows a newsletter sign-up dialog on a first visit to a local UI unless the instance turns it off."""
    from playwright.sync_api import expect

    page.goto("/")
    expect(page.get_by_text("Overview").first).to_be_visible()
    # the UI's own question, the one its dialog depends on
    asked = page.evaluate("""async () => {
        const r = await fetch('/graphql', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                           body: JSON.stringify({query: '{ shouldShowNux }'})});
        return (await r.json()).data.shouldShowNux;
    }""")
    assert asked is False
    page.wait_for_timeout(3000)  # the dialog opens one second after the page
    assert page.get_by_text(re.compile("newsletter", re.I)).count() == 0
    assert page.locator('input[type="email"]').count() == 0


def test_evaluation_report_markdown_and_plot_render_on_the_asset_page(ui, page):
    from playwright.sync_api import expect

    page.goto("/assets/evaluation_summary")
    comparison = page.locator("table").filter(has_text="token_f1").filter(has_text="base zero-shot")
    expect(comparison.first).to_be_visible()
    for checkpoint in ui["checkpoints"]:
        expect(comparison.first).to_contain_text(f"step {int(checkpoint.rsplit('-', 1)[1])}")
        expect(page.locator("table").filter(has_text="forgetting Δ").first).to_contain_text(checkpoint)
    comparison.first.scroll_into_view_if_needed()
    # every table fits its metadata cell at 1600 px, and the best checkpoint's mark is in view
    for name in ("comparison", "checkpoints", "vs_prompting"):
        row = page.locator("tr").filter(has=page.get_by_text(name, exact=True)).first
        table = row.locator("table").first
        table.scroll_into_view_if_needed()
        table_right, cell_right = table.evaluate(
            "t => [t.getBoundingClientRect().right, t.closest('td').getBoundingClientRect().right]")
        assert table_right <= cell_right + 1 <= 1601, f"{name}: table ends at {table_right}, its cell at {cell_right}"
    best = comparison.first.get_by_text("best", exact=True)
    expect(best).to_be_visible()
    box = best.bounding_box()
    assert box["x"] + box["width"] <= 1600, box
    # metric values are rounded for display: four significant digits, not a float's seventeen
    value = page.locator("tr").filter(has=page.get_by_text("best_value", exact=True)).first.locator("td").last
    digits = re.sub(r"[^0-9]", "", value.inner_text().split("e")[0]).lstrip("0")
    assert len(digits) <= 4, value.inner_text()
    comparison.first.scroll_into_view_if_needed()
    ui_server.save_screenshot(page, "evaluation-comparison.png")

    # The plots are long Markdown values: the UI offers them behind "[Show Markdown]" and renders the
    # embedded PNGs in a dialog.
    page.locator("tr").filter(has_text="metrics_vs_step").get_by_text("Show Markdown").first.click()
    dialog = page.get_by_role("dialog")
    plot = dialog.locator('img[src^="data:image/png"]')
    expect(plot.first).to_be_visible()
    expect(plot.first).to_have_attribute("alt", "Held-out metrics by checkpoint")
    assert plot.count() == 2
    for i in range(plot.count()):
        width, complete = plot.nth(i).evaluate("img => [img.naturalWidth, img.complete]")
        assert complete and width > 100, f"plot {i} did not decode ({width} px wide)"
    ui_server.save_screenshot(page, "evaluation-report.png")
