"""The ``privft`` command's own usage: a misspelt command gets a suggestion, promote finds the configured registry."""

import json

from pipelines.cli import main
from resources.publishing.registry import Registry
from test_publishing_registry import publish


def test_a_misspelt_command_suggests_the_right_one(capsys):
    assert main(["provenence"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'provenence'; did you mean 'provenance'?" in err
    assert main(["zzz"]) == 2
    assert "unknown command 'zzz'" in capsys.readouterr().err


def test_promote_status_as_the_readme_shows_it_reads_the_configured_registry(tmp_path, monkeypatch, capsys):
    artifacts = tmp_path / "artifacts"
    reg = Registry(artifacts / "registry", "nordlicht-support")  # the publisher's default model name
    reg.promote(publish(reg, "a", 0.1), "test")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRIVFT_CONFIG", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("PRIVFT_ARTIFACTS", str(artifacts))
    assert main(["promote", "--status"]) == 0
    assert json.loads(capsys.readouterr().out)["promoted"]["version"] == reg.promoted()
    assert main(["promote", "--status", "--model", "nope"]) == 1
    assert "no model 'nope'" in capsys.readouterr().err
