"""``privft promote`` as an operator types it: configured defaults, clear errors, nothing created by mistake."""

import json

from resources.publishing.promote_cli import main as promote_cli
from resources.publishing.registry import Registry
from test_publishing_registry import publish


def test_registry_and_model_default_to_the_configured_ones(tmp_path, capsys):
    reg = Registry(tmp_path, "m")
    version = publish(reg, "a", 0.1)
    reg.promote(version, "test")
    assert promote_cli(["--status"], default_registry=str(tmp_path), default_model="m") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["promoted"]["version"] == version and status["registry"] == str(tmp_path / "m")
    # without configured defaults both stay required (argparse's usage error, exit 2)
    assert promote_cli(["--status"]) == 2


def test_an_unknown_model_is_an_error_naming_the_models_there(tmp_path, capsys):
    publish(Registry(tmp_path, "nordlicht-support"), "a", 0.1)
    assert promote_cli(["--status", "--model", "nope"], default_registry=str(tmp_path), default_model="x") == 1
    err = capsys.readouterr().err
    assert "no model 'nope'" in err and "nordlicht-support" in err
    assert not (tmp_path / "nope").exists()


def test_a_missing_registry_is_an_error_and_nothing_is_created(tmp_path, capsys):
    missing = tmp_path / "nosuchdir"
    for action in (["--rollback"], ["--version", "v-000000000000"], ["--status"]):
        assert promote_cli([*action, "--registry", str(missing), "--model", "m"]) == 1, action
        assert "no registry at" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
