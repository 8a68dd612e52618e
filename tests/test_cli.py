"""The command line's own details: several configs to validate, help and reference output."""

from __future__ import annotations

from pathlib import Path

from test_config_errors import BAD, run_cli

ROADVIEW = str(Path(__file__).parents[1] / "configs" / "roadview.yaml")
DECODE = str(Path(__file__).parents[1] / "configs" / "decode.yaml")


def test_validate_takes_several_configs_and_reports_each(monkeypatch, capsys):
    bad = next(p for p in BAD if p.stem == "13_bad_method")
    code, out, err = run_cli(monkeypatch, capsys, "validate", ROADVIEW, str(bad), DECODE)
    assert code == 2
    assert [line.split(":")[0] for line in out.splitlines()] == [ROADVIEW, DECODE]
    assert err.strip().splitlines() == [err.strip()] and err.startswith(f"vpipe: error: {bad}:")


def test_elements_shows_required_and_factory_defaults(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "elements")
    assert code in (0, None)
    assert "PydanticUndefined" not in out
    assert "    path: str (required)" in out
    assert "    options: dict[str, str] (default {})" in out


def test_help_shows_no_value_for_flags(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "run", "--help")
    assert code in (0, None)
    assert "--help" in out and "--quiet" in out
    assert "<bool>" not in out


def test_ray_alone_means_a_local_runtime_and_needs_a_folder(monkeypatch, capsys):
    from vpipe.pipeline.cli import _bare_ray

    assert _bare_ray(["run", "c.yaml", "-i", "in", "--ray"])[-1] == "--ray=local"
    assert _bare_ray(["run", "c.yaml", "--ray", "-q"])[2:] == ["--ray=local", "-q"]
    assert _bare_ray(["run", "c.yaml", "--ray", "auto"])[2:] == ["--ray", "auto"]
    code, _, err = run_cli(monkeypatch, capsys, "run", DECODE, "--ray")
    assert code == 2 and err.strip() == "vpipe: error: --ray runs a folder of videos: give -i FOLDER -o FOLDER"
